//go:build !purego

package consumer

import "github.com/trainerd/trainerd/internal/cpufeat"

// hasGatherAVX reports whether gather64AVX may run on this CPU (AVX with OS
// support for the YMM state).
func hasGatherAVX() bool { return cpufeat.Has(cpufeat.AVX) }

// gather64AVX sets o[0:64] = Σ_k ws[k]·src[cols[k]·stride/4 : +64] (stride
// in bytes), bit-identical to gatherRow. It checks nothing: the caller
// guarantees len(o) ≥ 64, len(ws) ≥ len(cols) and every row in range.
//
//go:noescape
func gather64AVX(o *float32, src *float32, stride int, cols []int32, ws []float32)
