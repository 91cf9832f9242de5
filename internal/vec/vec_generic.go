//go:build !amd64 || purego

package vec

// hasAVX is false off amd64 (or with the purego tag): the Go loops run.
const hasAVX = false

func axpyAVX(y []float32, a float32, x []float32) { panic("vec: axpyAVX without AVX") }

// Gather64 is never called when HasGather64 is false.
func Gather64(o *float32, src *float32, stride int, cols []int32, ws []float32) {
	panic("vec: Gather64 without AVX")
}
