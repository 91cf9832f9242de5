//go:build !amd64 || purego

package loss

// hasExpSumAVX2 is false off amd64 (or with the purego tag): expSumGo runs.
func hasExpSumAVX2() bool { return false }

// expSumAVX2 is never called when hasExpSumAVX2 is false.
func expSumAVX2(v []float32, m, it float32, acc *[8]float32) {
	panic("loss: expSumAVX2 without AVX2")
}
