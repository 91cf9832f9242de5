package optim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/trainerd/trainerd/internal/vec"
)

// randRow returns n float32s: normal values scaled by scale, with some
// exact zeros (v = 0 and g = 0 are the kernel's edge cases).
func randRow(rng *rand.Rand, n int, scale float64, nonneg bool) []float32 {
	x := make([]float32, n)
	for i := range x {
		if rng.IntN(10) == 0 {
			continue
		}
		v := rng.NormFloat64() * scale
		if nonneg {
			v = math.Abs(v)
		}
		x[i] = float32(v)
	}
	return x
}

func TestAdamRowAVXMatchesGo(t *testing.T) {
	if !vec.HasAdamAVX() {
		t.Skip("no AVX kernel on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 8, 16, 64, 120, 192, 256} {
		for _, scale := range []float64{1e-6, 1, 1e3} {
			p, m := randRow(rng, n, 1, false), randRow(rng, n, scale, false)
			v, g := randRow(rng, n, scale*scale, true), randRow(rng, n, scale, false)
			c := vec.AdamConsts{B1: 0.9, OneMinusB1: 1 - float32(0.9), B2: 0.999, OneMinusB2: 1 - float32(0.999), Step: 0.0123, Eps: 1e-8}
			pg, mg, vg := slices.Clone(p), slices.Clone(m), slices.Clone(v)
			adamRowGo(pg, mg, vg, g, &c)
			vec.AdamRowAVX(p, m, v, g, &c)
			for i := range n {
				for _, x := range [][2]float32{{p[i], pg[i]}, {m[i], mg[i]}, {v[i], vg[i]}} {
					if x[0] == x[1] {
						continue
					}
					if !goFusesFMA || math.Abs(float64(x[0]-x[1])) > 1e-5*math.Abs(float64(x[1]))+1e-30 {
						t.Fatalf("n %d scale %g element %d: avx %v, go %v", n, scale, i, x[0], x[1])
					}
				}
			}
		}
	}
}

// TestAdamKernelsAgree runs whole sparse and dense updates with the AVX
// kernel and without it: every parameter and moment must be identical, for
// widths with and without a tail past the last block of 8.
func TestAdamKernelsAgree(t *testing.T) {
	for _, dim := range []int{3, 8, 64, 67} {
		for _, sparse := range []bool{false, true} {
			const rows = 1500 // > 1024 so the dense update splits across goroutines
			mk := func(asm bool) *Adam {
				o, err := New(Params{Threads: 2}, rows, dim)
				if err != nil {
					t.Fatal(err)
				}
				a := o.(*Adam)
				a.asm = asm && vec.HasAdamAVX()
				return a
			}
			a, b := mk(true), mk(false)
			rng := rand.New(rand.NewPCG(uint64(dim), 9))
			pa := randRow(rng, rows*dim, 1, false)
			pb := slices.Clone(pa)
			for step := range 30 {
				var ids []int32
				n := rows
				if sparse {
					ids = []int32{int32(step % rows), 7, 1499, int32(3 * step)}
					n = len(ids)
				}
				g := randRow(rng, n*dim, 0.1, false)
				a.Update(pa, ids, g, 0.01)
				b.Update(pb, ids, g, 0.01)
			}
			for _, x := range [][2][]float32{{pa, pb}, {a.M, b.M}, {a.V, b.V}} {
				for i := range x[0] {
					if x[0][i] != x[1][i] && (!goFusesFMA || math.Abs(float64(x[0][i]-x[1][i])) > 1e-5) {
						t.Fatalf("dim %d sparse %v element %d: %v vs %v", dim, sparse, i, x[0][i], x[1][i])
					}
				}
			}
		}
	}
}

// TestPowTable checks the bias-correction table against math.Pow on both
// sides of its end, bit for bit.
func TestPowTable(t *testing.T) {
	o, err := New(Params{Beta1: 0.8, Beta2: 0.99}, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	a := o.(*Adam)
	for _, st := range []float32{0, 1, 2, 17, 349, powTable - 1, powTable, powTable + 5, 1 << 20} {
		for _, c := range []struct {
			table []float64
			b     float32
		}{{a.pow1, a.Beta1}, {a.pow2, a.Beta2}} {
			got, want := pow(c.table, float64(c.b), st), math.Pow(float64(c.b), float64(st))
			if math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("%g^%g: table %v, math.Pow %v", c.b, st, got, want)
			}
		}
	}
}

// BenchmarkAdamSparse updates 2048 random rows of a 70k-row table (Gowalla's
// node count) per op, with the AVX kernel and with the Go loop, on one
// goroutine: the ratio is the kernel's gain.
func BenchmarkAdamSparse(b *testing.B) {
	const rows = 70839
	for _, dim := range []int{64, 192} {
		for _, asm := range []bool{true, false} {
			name := map[bool]string{true: "avx", false: "go"}[asm]
			b.Run(fmt.Sprintf("%s/dim%d", name, dim), func(b *testing.B) {
				if asm && !vec.HasAdamAVX() {
					b.Skip("no AVX")
				}
				o, err := New(Params{Threads: 1}, rows, dim)
				if err != nil {
					b.Fatal(err)
				}
				a := o.(*Adam)
				a.asm = asm
				rng := rand.New(rand.NewPCG(1, 1))
				param := randRow(rng, rows*dim, 1, false)
				ids := make([]int32, 2048)
				seen := map[int32]bool{}
				for i := range ids {
					for {
						r := int32(rng.IntN(rows))
						if !seen[r] {
							seen[r], ids[i] = true, r
							break
						}
					}
				}
				g := randRow(rng, len(ids)*dim, 0.1, false)
				b.ResetTimer()
				for b.Loop() {
					a.Update(param, ids, g, 0.001)
				}
				b.ReportMetric(float64(b.N)*float64(len(ids))/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}

// TestSparseAdamOrderAndThreads: a sparse update that walks the table in
// row order (many rows), one in the batch's order (few rows), one with a
// repeated row (the batch's order, so the row is updated twice), and
// teams of 1..3 threads all give the bits of a serial row-by-row
// reference, over several steps.
func TestSparseAdamOrderAndThreads(t *testing.T) {
	const rows, dim = 3000, 24
	rng := rand.New(rand.NewPCG(5, 6))
	var batches [][]int32
	for _, n := range []int{2000, 100, 1500} {
		var b []int32
		for _, r := range rng.Perm(rows)[:n] {
			b = append(b, int32(r))
		}
		batches = append(batches, b)
	}
	// repeated rows fall back to the given order: a few rows, and a
	// many-row batch with a repeat late in it
	batches = append(batches, []int32{7, 3, 7, 9}, append(slices.Clone(batches[0][:500]), batches[0][10]))
	grads := make([][]float32, len(batches))
	for i, b := range batches {
		grads[i] = randRow(rng, len(b)*dim, 1, false)
	}
	init := randRow(rng, rows*dim, 1, false)
	// reference: Adam's rule row by row in the batch's order
	ref, err := New(Params{Threads: 1}, rows, dim)
	if err != nil {
		t.Fatal(err)
	}
	ra := ref.(*Adam)
	refP := slices.Clone(init)
	for step, b := range batches {
		u := &update{rows: b, param: refP, grads: grads[step], lr: 0.01}
		for k := range b {
			ra.rowK(u, int(b[k]), k)
		}
	}
	for _, threads := range []int{1, 2, 3} {
		o, err := New(Params{Threads: threads}, rows, dim)
		if err != nil {
			t.Fatal(err)
		}
		p := slices.Clone(init)
		for step, b := range batches {
			o.Update(p, b, grads[step], 0.01)
		}
		a := o.(*Adam)
		for i, pair := range [][2][]float32{{refP, p}, {ra.M, a.M}, {ra.V, a.V}, {ra.Steps, a.Steps}} {
			if !slices.Equal(pair[0], pair[1]) {
				t.Fatalf("threads=%d: array %d differs from the row-by-row reference", threads, i)
			}
		}
		for r, k := range a.pos {
			if k != -1 {
				t.Fatalf("threads=%d: pos[%d] = %d left set", threads, r, k)
			}
		}
	}
}
