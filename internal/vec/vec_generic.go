//go:build !amd64 || purego

package vec

// hasAVX is false off amd64 (or with the purego tag): the Go loops run.
const hasAVX = false

func axpyAVX(y []float32, a float32, x []float32) { panic("vec: axpyAVX without AVX") }
