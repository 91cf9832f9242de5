//go:build !purego

package vec

import "github.com/trainerd/trainerd/internal/cpufeat"

// hasAVX is whether the assembly kernels may run (AVX with OS support for
// the YMM state). It is read-only after package initialisation.
var hasAVX = cpufeat.Has(cpufeat.AVX)

// axpyAVX sets y += a·x over len(y) elements, a multiple of 8; x is as long.
//
//go:noescape
func axpyAVX(y []float32, a float32, x []float32)
