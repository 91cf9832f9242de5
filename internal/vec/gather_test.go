package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGather64 checks the assembly strip against the plain Go loop bit for
// bit, over rows with no edge, one edge and many, on strips that are not
// the first of their row.
func TestGather64(t *testing.T) {
	if !HasGather64() {
		t.Skip("no AVX: Gather64 does not run here")
	}
	const rows, d = 50, 192
	rng := rand.New(rand.NewPCG(7, 8))
	src := make([]float32, rows*d)
	for i := range src {
		src[i] = float32(rng.NormFloat64())
	}
	for _, edges := range []int{0, 1, 3, 40} {
		cols := make([]int32, edges)
		ws := make([]float32, edges)
		for k := range cols {
			cols[k] = int32(rng.IntN(rows))
			ws[k] = float32(rng.NormFloat64())
		}
		for j := 0; j < d; j += 64 {
			got := make([]float32, 64)
			for i := range got {
				got[i] = float32(math.NaN()) // must be overwritten
			}
			Gather64(&got[0], &src[j], 4*d, cols, ws)
			for i := range got {
				var want float32
				for k, c := range cols {
					want += float32(ws[k] * src[int(c)*d+j+i])
				}
				if math.Float32bits(got[i]) != math.Float32bits(want) {
					t.Fatalf("%d edges, column %d: got %v, want %v", edges, j+i, got[i], want)
				}
			}
		}
	}
}
