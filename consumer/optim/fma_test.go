//go:build !(amd64.v3 || amd64.v4)

package optim

// goFusesFMA is false: without GOAMD64=v3 the Go compiler never fuses a*b+c
// into an FMA, so adamRowGo rounds exactly like vec.AdamRowAVX.
const goFusesFMA = false
