//go:build !amd64 || purego

package optim

// hasAdamAVX is false off amd64 (or with the purego tag): adamRowGo runs.
func hasAdamAVX() bool { return false }

// adamRowAVX is never called when hasAdamAVX is false.
func adamRowAVX(p, m, v, g []float32, c *adamConsts) {
	panic("optim: adamRowAVX without AVX")
}

// prefetchRow does nothing without the assembly.
func prefetchRow(p *float32, n int) {}
