//go:build !amd64 || purego

package sage

// hasConvAVX2 is false off amd64 (or with the purego tag): the Go loops run.
func hasConvAVX2() bool { return false }

func reluGradColSumAVX2(dst, gm, y *float32, rows, w int, acc bool) {
	panic("sage: reluGradColSumAVX2 without AVX2")
}

func addBiasAVX2(x, b *float32, rows, w int, act bool) { panic("sage: addBiasAVX2 without AVX2") }

// hasGatherAVX512 is false off amd64 (or with the purego tag).
func hasGatherAVX512() bool { return false }

func gather128AVX512(o *float32, src *float32, stride int, cols []int32, ws []float32) {
	panic("sage: gather128AVX512 without AVX-512")
}

func normRowsAVX2(x, nrm *float32, rows, w int) { panic("sage: normRowsAVX2 without AVX2") }

func normBackAVX2(gm, y, nrm *float32, rows, w int) { panic("sage: normBackAVX2 without AVX2") }

// hasReluMaskAVX512 is false off amd64 (or with the purego tag).
func hasReluMaskAVX512() bool { return false }

func reluMaskAVX512(x *float32, mask *uint16, n int) {
	panic("sage: reluMaskAVX512 without AVX-512")
}

func reluGradColSumMaskAVX512(dst, gm *float32, mask *uint16, rows int, acc bool) {
	panic("sage: reluGradColSumMaskAVX512 without AVX-512")
}

func gatherIDRows64(dst, table *float32, ids []uint32) { panic("sage: gatherIDRows64 without AVX") }
