//go:build !purego

package vec

// AdamRowAVX updates one Adam row 8 lanes at a time over the first
// len(p)/8·8 elements: m = B1·m + OneMinusB1·g, v = B2·v + (OneMinusB2·g)·g,
// p −= (Step·m)/(√v + Eps), each one float32 operation (VMULPS, VADDPS,
// VSQRTPS, VDIVPS, VSUBPS; never FMA) in that order, so the results are
// bit-identical to the plain Go loop (consumer/optim's adamRowGo) unless
// GOAMD64=v3 lets the compiler fuse the Go loop. A correctly rounded float32
// square root equals float32(math.Sqrt(float64)), since double rounding
// through float64 is exact for sqrt. It needs AVX (call it only when
// HasAdamAVX is true) and checks nothing: m, v and g must be at least as long
// as p.
//
//go:noescape
func AdamRowAVX(p, m, v, g []float32, c *AdamConsts)

// PrefetchRow asks the CPU to bring the n floats at p into the cache
// (PREFETCHT0, which any amd64 CPU has); it reads nothing and never faults,
// so it may be called on any CPU and with any n ≥ 0.
//
//go:noescape
func PrefetchRow(p *float32, n int)
