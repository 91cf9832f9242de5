//go:build !purego

package optim

import "github.com/trainerd/trainerd/internal/cpufeat"

// hasAdamAVX reports whether adamRowAVX may run on this CPU (AVX with OS
// support for the YMM state).
func hasAdamAVX() bool { return cpufeat.Has(cpufeat.AVX) }

// adamRowAVX is adamRowGo on the first len(p)/8·8 elements, 8 lanes at a
// time: the same float32 operations in the same order (VMULPS, VADDPS,
// VSQRTPS, VDIVPS, VSUBPS; never FMA), so its results are bit-identical to
// adamRowGo's unless GOAMD64=v3 lets the compiler fuse the Go loop. A
// correctly rounded float32 square root equals float32(math.Sqrt(float64)),
// since double rounding through float64 is exact for sqrt. It checks
// nothing: m, v and g must be at least as long as p.
//
//go:noescape
func adamRowAVX(p, m, v, g []float32, c *adamConsts)

// prefetchRow asks the CPU to bring the n floats at p into the cache; it
// reads nothing and never faults.
//
//go:noescape
func prefetchRow(p *float32, n int)
