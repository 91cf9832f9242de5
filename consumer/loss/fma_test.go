//go:build !(amd64.v3 || amd64.v4)

package loss

// goFusesFMA is false: without GOAMD64=v3 the Go compiler never fuses a*b+c
// into an FMA, so expSumGo rounds exactly like vec.ExpSumAVX2.
const goFusesFMA = false
