//go:build !purego

package vec

// Gather64 sets o[0:64] = Σ_k ws[k]·src[cols[k]·stride/4 : +64] (stride in
// bytes): one 64-column strip of a sparse row times a dense matrix, in
// assembly (AVX). Each column sums its edges in order from +0 with a
// multiply then an add, never fused, so the result is bit-identical to the
// plain Go loop. It checks nothing: call it only when HasGather64 is true,
// with len(o) ≥ 64, len(ws) ≥ len(cols) and every row in range.
//
//go:noescape
func Gather64(o *float32, src *float32, stride int, cols []int32, ws []float32)
