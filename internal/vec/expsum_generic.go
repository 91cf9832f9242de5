//go:build !amd64 || purego

package vec

// ExpSumAVX2 has no kernel off amd64 (or with the purego tag):
// HasExpSumAVX2 is false there and it panics if called.
func ExpSumAVX2(v []float32, m, it float32, acc *[8]float32) {
	panic("vec: ExpSumAVX2 without AVX2")
}
