//go:build !(amd64.v3 || amd64.v4)

package vec

// goFusesFMA is false: without GOAMD64=v3 the Go compiler never fuses
// a*x+y into an FMA, so the Go loops round exactly like the kernels.
const goFusesFMA = false
