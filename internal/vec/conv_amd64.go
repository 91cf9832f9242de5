//go:build !purego

package vec

// ReluGradColSumAVX2 is a ReLU backward then a column sum on rows×w
// matrices, w a multiple of 32: gm[r][c] becomes +0 where y[r][c] has its
// sign bit set, and dst[c] the sum over rows of the new gm[r][c], in row
// order from +0, or with acc from dst[c] (VANDNPS and VADDPS, bit-identical
// to the plain Go loops, consumer/sage's reluGrad then colSum). It needs
// AVX2 (call it only when HasConvAVX2 is true) and checks nothing: dst holds
// w values, gm and y rows·w.
//
//go:noescape
func ReluGradColSumAVX2(dst, gm, y *float32, rows, w int, acc bool)

// AddBiasAVX2 adds b (w values) to every row of the rows×w matrix x, w a
// multiple of 8, then, with act, applies ReLU's sign trick (a negative value
// becomes -0), bit-identical to the plain Go loop (consumer/sage's addBias).
// It needs AVX2 (call it only when HasConvAVX2 is true) and checks nothing:
// x holds rows·w values.
//
//go:noescape
func AddBiasAVX2(x, b *float32, rows, w int, act bool)

// Gather128AVX512 is Gather64 over 128 columns in one pass: o[0:128] =
// Σ_k ws[k]·src[cols[k]·stride/4 : +128] (stride in bytes), each column
// summing its edges in order from +0 with a multiply then an add, never
// fused, so the result is bit-identical to the plain Go loop (consumer/sage's
// gatherInto). It needs AVX-512F (call it only when HasGather128AVX512 is
// true) and checks nothing: len(o) ≥ 128, len(ws) ≥ len(cols) and every row
// in range.
//
//go:noescape
func Gather128AVX512(o *float32, src *float32, stride int, cols []int32, ws []float32)

// NormRowsAVX2 divides each row of the rows×w matrix x, w a multiple of 8,
// by s = √(Σ v² + 1e-12) and stores s in nrm[r]. The squares are summed in 8
// lanes (element c in lane c mod 8, in order) reduced as
// ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)), and each value is multiplied by 1/s:
// the same float32 operations (VMULPS, VADDPS, VSQRTSS, VDIVSS) as
// consumer/sage's normRowsGo, bit-identical. It needs AVX2 (call it only
// when HasConvAVX2 is true) and checks nothing: nrm holds rows values.
//
//go:noescape
func NormRowsAVX2(x, nrm *float32, rows, w int)

// NormBackAVX2 maps the gradient gm of NormRowsAVX2's output rows y (norms
// nrm) to the gradient of its input, in place: per row s = Σ y·gm (summed in
// lanes as NormRowsAVX2 sums), then gm = (gm − y·s)·(1/nrm[r]), bit-identical
// to consumer/sage's normBackGo. w must be a multiple of 8. It needs AVX2
// (call it only when HasConvAVX2 is true) and checks nothing.
//
//go:noescape
func NormBackAVX2(gm, y, nrm *float32, rows, w int)

// ReluMaskAVX512 stores one bit per value of x (n a multiple of 16; bit i of
// mask word k for x[16k+i]), set where the sign bit is clear: the ReLU
// gradient passes there. It needs AVX-512F and AVX-512DQ (call it only when
// HasReluMaskAVX512 is true) and checks nothing: mask holds n/16 words.
//
//go:noescape
func ReluMaskAVX512(x *float32, mask *uint16, n int)

// ReluGradColSumMaskAVX512 is ReluGradColSumAVX2 on rows×128 matrices with
// the signs of y taken from ReluMaskAVX512(y)'s bits: the same bits as the
// AVX2 kernel and the Go loops. It needs AVX-512F and AVX-512DQ (call it only
// when HasReluMaskAVX512 is true) and checks nothing: dst holds 128 values,
// gm rows·128 and mask rows·8 words.
//
//go:noescape
func ReluGradColSumMaskAVX512(dst, gm *float32, mask *uint16, rows int, acc bool)

// GatherIDRows64 copies the 64-wide rows ids of table into dst, in order,
// prefetching the rows of the id 8 ahead while each is copied. It needs AVX
// (call it only when HasGatherIDRows64 is true) and checks nothing: every id
// must be a row of table and dst must hold len(ids) rows.
//
//go:noescape
func GatherIDRows64(dst, table *float32, ids []uint32)
