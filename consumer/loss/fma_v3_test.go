//go:build amd64.v3 || amd64.v4

package loss

// goFusesFMA is true: under GOAMD64=v3 the Go compiler may fuse a*b+c in
// expRaw (the spec allows it), so expSumGo and vec.ExpSumAVX2 agree to rounding
// rather than bit for bit.
const goFusesFMA = true
