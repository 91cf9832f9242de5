//go:build !purego

package sage

import "github.com/trainerd/trainerd/internal/cpufeat"

// hasConvAVX2 reports whether the conv network's AVX2 kernels may run.
func hasConvAVX2() bool { return cpufeat.Has(cpufeat.AVX2) }

// reluGradColSumAVX2 is reluGrad then colSum on rows×w matrices with w a
// multiple of 32: g[r][c] becomes +0 where y[r][c] has its sign bit set,
// and dst[c] the sum over rows, in row order from +0, or with acc from
// dst[c] (VANDNPS and VADDPS, bit-identical to the Go loops); gm is the
// gradient g. It checks nothing.
//
//go:noescape
func reluGradColSumAVX2(dst, gm, y *float32, rows, w int, acc bool)

// addBiasAVX2 adds b (w values) to every row of the rows×w matrix x, w a
// multiple of 8, then, with act, applies relu's sign trick (a negative
// value becomes -0), bit-identical to addBias. It checks nothing.
//
//go:noescape
func addBiasAVX2(x, b *float32, rows, w int, act bool)

// hasGatherAVX512 reports whether gather128AVX512 may run (AVX-512F with OS
// support for the ZMM state).
func hasGatherAVX512() bool { return cpufeat.Has(cpufeat.AVX512F) }

// gather128AVX512 is vec.Gather64 over 128 columns in one pass: the same
// sums, bit-identical to gatherInto's Go loop. It checks nothing: len(o) ≥
// 128, len(ws) ≥ len(cols), every row in range.
//
//go:noescape
func gather128AVX512(o *float32, src *float32, stride int, cols []int32, ws []float32)

// normRowsAVX2 is normRows32's loop on rows×w, w a multiple of 8: the
// same float32 operations (VMULPS, VADDPS, VSQRTSS, VDIVSS), bit-identical.
// It checks nothing.
//
//go:noescape
func normRowsAVX2(x, nrm *float32, rows, w int)

// normBackAVX2 is normBack32's loop on rows×w, w a multiple of 8,
// bit-identical; gm is the gradient g. It checks nothing.
//
//go:noescape
func normBackAVX2(gm, y, nrm *float32, rows, w int)

// hasReluMaskAVX512 reports whether the ReLU mask kernels may run
// (AVX-512F and DQ with OS support for the ZMM and mask state).
func hasReluMaskAVX512() bool { return cpufeat.Has(cpufeat.AVX512F, cpufeat.AVX512DQ) }

// reluMaskAVX512 stores one bit per value of x (n a multiple of 16), set
// where the sign bit is clear: the ReLU gradient passes there. It checks
// nothing.
//
//go:noescape
func reluMaskAVX512(x *float32, mask *uint16, n int)

// reluGradColSumMaskAVX512 is reluGradColSum on rows×128 matrices with
// the signs of y taken from reluMaskAVX512(y)'s bits: the same bits as
// the AVX2 kernel and the Go loops. It checks nothing.
//
//go:noescape
func reluGradColSumMaskAVX512(dst, gm *float32, mask *uint16, rows int, acc bool)

// gatherIDRows64 copies the 64-wide rows ids of table into dst, in order,
// prefetching a few rows ahead (AVX). It checks nothing: every id must be
// a row of table and dst must hold len(ids) rows.
//
//go:noescape
func gatherIDRows64(dst, table *float32, ids []uint32)
