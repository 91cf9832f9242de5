//go:build !purego

package consumer

import "golang.org/x/sys/cpu"

// hasConvAVX2 reports whether the conv network's AVX2 kernels may run.
func hasConvAVX2() bool { return cpu.X86.HasAVX2 }

// reluGradColSumAVX2 is reluGrad then colSum on rows×w matrices with w a
// multiple of 32: g[r][c] becomes +0 where y[r][c] has its sign bit set,
// and dst[c] the sum over rows, in row order from +0 (VANDNPS and VADDPS,
// bit-identical to the Go loops); gm is the gradient g. It checks nothing.
//
//go:noescape
func reluGradColSumAVX2(dst, gm, y *float32, rows, w int)

// addBiasAVX2 adds b (w values) to every row of the rows×w matrix x, w a
// multiple of 8, then, with act, applies relu's sign trick (a negative
// value becomes -0), bit-identical to addBias. It checks nothing.
//
//go:noescape
func addBiasAVX2(x, b *float32, rows, w int, act bool)
