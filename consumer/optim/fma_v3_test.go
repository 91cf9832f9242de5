//go:build amd64.v3 || amd64.v4

package optim

// goFusesFMA is true: under GOAMD64=v3 the Go compiler may fuse a*b+c in
// adamRowGo (the spec allows it), so adamRowGo and vec.AdamRowAVX agree to rounding
// rather than bit for bit.
const goFusesFMA = true
