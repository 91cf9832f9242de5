package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGatherIDRows64: the id-row kernel copies exactly the listed rows, in
// order, repeats and the table's last row included, every bit of them
// (-0, the smallest subnormal and NaN payloads too).
func TestGatherIDRows64(t *testing.T) {
	if !HasGatherIDRows64() {
		t.Skip("no AVX on this CPU or build")
	}
	r := rand.New(rand.NewPCG(15, 16))
	const rows, d = 100, 64
	table := make([]float32, rows*d)
	for i := range table {
		switch r.IntN(6) {
		case 0:
			table[i] = float32(math.Copysign(0, -1))
		case 1:
			table[i] = -math.SmallestNonzeroFloat32
		case 2:
			table[i] = math.Float32frombits(0x7fc00000 | r.Uint32()&0x3fffff)
		default:
			table[i] = float32(r.NormFloat64())
		}
	}
	for _, n := range []int{1, 7, 8, 9, 300} {
		ids := make([]uint32, n)
		for i := range ids {
			ids[i] = uint32(r.IntN(rows))
		}
		ids[n-1] = rows - 1
		if n > 2 {
			ids[1] = ids[0] // a repeated row
		}
		got := make([]float32, n*d)
		for i := range got {
			got[i] = float32(r.NormFloat64()) // must be overwritten
		}
		GatherIDRows64(&got[0], &table[0], ids)
		for i, id := range ids {
			for c := range d {
				if g, w := math.Float32bits(got[i*d+c]), math.Float32bits(table[int(id)*d+c]); g != w {
					t.Fatalf("n=%d: row %d (id %d) column %d has bits %#x, want %#x", n, i, id, c, g, w)
				}
			}
		}
	}
}
