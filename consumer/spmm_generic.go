//go:build !amd64 || purego

package consumer

// hasGatherAVX is false off amd64 (or with the purego tag): gatherRow runs.
func hasGatherAVX() bool { return false }

// gather64AVX is never called when hasGatherAVX is false.
func gather64AVX(o *float32, src *float32, stride int, cols []int32, ws []float32) {
	panic("consumer: gather64AVX without AVX")
}
