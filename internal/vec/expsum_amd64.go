//go:build !purego

package vec

// ExpSumAVX2 overwrites each v[i] with e^((v[i]−m)·it), or +0 where
// (v[i]−m)·it is below −87 (or NaN), and adds lane i mod 8 of those values to
// acc[i mod 8], in order. e^x is consumer/loss's expRaw (a range reduction by
// ln 2 and a degree-5 polynomial) evaluated 8 lanes at a time with the same
// float32 operations in the same order (VMULPS then VADDPS, no FMA), so the
// values and acc are bit-identical to loss's expSumGo (unless GOAMD64=v3 lets
// the compiler fuse expRaw's a*b+c). It needs AVX2 (call it only when
// HasExpSumAVX2 is true) and len(v) must be a multiple of 8.
//
//go:noescape
func ExpSumAVX2(v []float32, m, it float32, acc *[8]float32)
