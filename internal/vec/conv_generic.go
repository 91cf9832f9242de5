//go:build !amd64 || purego

package vec

// ReluGradColSumAVX2 has no kernel off amd64 (or with the purego tag):
// HasConvAVX2 is false there and it panics if called.
func ReluGradColSumAVX2(dst, gm, y *float32, rows, w int, acc bool) {
	panic("vec: ReluGradColSumAVX2 without AVX2")
}

// AddBiasAVX2 has no kernel off amd64 (or with the purego tag): HasConvAVX2
// is false there and it panics if called.
func AddBiasAVX2(x, b *float32, rows, w int, act bool) { panic("vec: AddBiasAVX2 without AVX2") }

// Gather128AVX512 has no kernel off amd64 (or with the purego tag):
// HasGather128AVX512 is false there and it panics if called.
func Gather128AVX512(o *float32, src *float32, stride int, cols []int32, ws []float32) {
	panic("vec: Gather128AVX512 without AVX-512")
}

// NormRowsAVX2 has no kernel off amd64 (or with the purego tag):
// HasConvAVX2 is false there and it panics if called.
func NormRowsAVX2(x, nrm *float32, rows, w int) { panic("vec: NormRowsAVX2 without AVX2") }

// NormBackAVX2 has no kernel off amd64 (or with the purego tag):
// HasConvAVX2 is false there and it panics if called.
func NormBackAVX2(gm, y, nrm *float32, rows, w int) { panic("vec: NormBackAVX2 without AVX2") }

// ReluMaskAVX512 has no kernel off amd64 (or with the purego tag):
// HasReluMaskAVX512 is false there and it panics if called.
func ReluMaskAVX512(x *float32, mask *uint16, n int) {
	panic("vec: ReluMaskAVX512 without AVX-512")
}

// ReluGradColSumMaskAVX512 has no kernel off amd64 (or with the purego tag):
// HasReluMaskAVX512 is false there and it panics if called.
func ReluGradColSumMaskAVX512(dst, gm *float32, mask *uint16, rows int, acc bool) {
	panic("vec: ReluGradColSumMaskAVX512 without AVX-512")
}

// GatherIDRows64 has no kernel off amd64 (or with the purego tag):
// HasGatherIDRows64 is false there and it panics if called.
func GatherIDRows64(dst, table *float32, ids []uint32) {
	panic("vec: GatherIDRows64 without AVX")
}
