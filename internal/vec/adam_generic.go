//go:build !amd64 || purego

package vec

// AdamRowAVX has no kernel off amd64 (or with the purego tag): HasAdamAVX
// is false there and it panics if called.
func AdamRowAVX(p, m, v, g []float32, c *AdamConsts) {
	panic("vec: AdamRowAVX without AVX")
}

// PrefetchRow does nothing without the assembly.
func PrefetchRow(p *float32, n int) {}
