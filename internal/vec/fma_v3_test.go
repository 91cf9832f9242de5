//go:build amd64.v3 || amd64.v4

package vec

// goFusesFMA is true: under GOAMD64=v3 the Go compiler may fuse Axpy's
// a*x+y, so the Go loop and the kernel agree to rounding, not bit for bit.
const goFusesFMA = true
