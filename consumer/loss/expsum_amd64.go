//go:build !purego

package loss

import "github.com/trainerd/trainerd/internal/cpufeat"

// hasExpSumAVX2 reports whether expSumAVX2 may run on this CPU.
func hasExpSumAVX2() bool { return cpufeat.Has(cpufeat.AVX2) }

// expSumAVX2 is expSumGo on 8 lanes of YMM registers: the same float32
// operations in the same order (VMULPS then VADDPS, no FMA), so its results
// are bit-identical to expSumGo's (unless GOAMD64=v3 lets the compiler fuse
// expRaw's a*b+c). len(v) must be a multiple of 8.
//
//go:noescape
func expSumAVX2(v []float32, m, it float32, acc *[8]float32)
