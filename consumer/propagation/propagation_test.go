package propagation

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/consumer/embedcore"
	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/internal/parallel"
	"github.com/trainerd/trainerd/internal/testfixture"
	"github.com/trainerd/trainerd/internal/vec"
	"github.com/trainerd/trainerd/model"
)

// denseNormAdj builds D^-½ A D^-½ as a dense float64 matrix over global ids,
// independently of normAdj.
func denseNormAdj(g *graph.Bipartite) [][]float64 {
	n := g.NumUsers + g.NumItems
	a := make([][]float64, n)
	for i := range a {
		a[i] = make([]float64, n)
	}
	for u := 0; u < g.NumUsers; u++ {
		for _, it := range g.ItemsOf(uint32(u)) {
			w := 1 / math.Sqrt(float64(g.UserDegree(uint32(u))*g.ItemDegree(it)))
			a[u][g.NumUsers+int(it)] = w
			a[g.NumUsers+int(it)][u] = w
		}
	}
	return a
}

func matmulAdj(a [][]float64, x []float64, d int) []float64 {
	out := make([]float64, len(x))
	for r := range a {
		for c, w := range a[r] {
			if w != 0 {
				for i := 0; i < d; i++ {
					out[r*d+i] += w * x[c*d+i]
				}
			}
		}
	}
	return out
}

func smallGraph(t *testing.T) *graph.Bipartite {
	t.Helper()
	edges := []graph.Edge{{User: 0, Item: 0}, {User: 0, Item: 1}, {User: 1, Item: 1}, {User: 1, Item: 2}, {User: 2, Item: 0}, {User: 2, Item: 3}, {User: 3, Item: 3}, {User: 3, Item: 1}, {User: 0, Item: 3}}
	g, err := graph.Build(4, 4, edges)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func relErr(ana []float32, num []float64) float64 {
	var diff, norm float64
	for i := range num {
		diff += (num[i] - float64(ana[i])) * (num[i] - float64(ana[i]))
		norm += num[i]*num[i] + float64(ana[i])*float64(ana[i])
	}
	return math.Sqrt(diff / norm)
}

// TestLightGCNGradientNumeric checks the backward pass (propagating the
// output gradient) against finite differences of a float64 dense forward.
func TestLightGCNGradientNumeric(t *testing.T) {
	g := smallGraph(t)
	const d, K = 3, 3
	mm, err := NewLightGCN(model.Config{Dim: d, Layers: K, Threads: 2}, model.Info{NumUsers: 4, NumItems: 4, Graph: g})
	if err != nil {
		t.Fatal(err)
	}
	m := mm.(*lightGCN)
	A := denseNormAdj(g)
	rng := rand.New(rand.NewPCG(1, 2))
	n := 8
	C := make([]float64, n*d)
	c32 := make([]float32, n*d)
	x := make([]float64, n*d)
	for i := range C {
		c32[i] = float32(rng.NormFloat64())
		C[i] = float64(c32[i])
		x[i] = float64(m.base[i])
	}
	f := func(x []float64) float64 { // Σ C ⊙ mean_k A^k x
		cur := append([]float64(nil), x...)
		acc := append([]float64(nil), x...)
		for k := 0; k < K; k++ {
			cur = matmulAdj(A, cur, d)
			for i := range acc {
				acc[i] += cur[i]
			}
		}
		var s float64
		for i := range acc {
			s += C[i] * acc[i] / (K + 1)
		}
		return s
	}
	// forward agrees with the reference
	m.propagate(m.final, m.base, nil)
	var fwd float64
	for i := range C {
		fwd += C[i] * float64(m.final[i])
	}
	if math.Abs(fwd-f(x)) > 1e-5 {
		t.Fatalf("forward %v want %v", fwd, f(x))
	}
	grad := make([]float32, n*d)
	m.propagate(grad, c32, nil)
	num := make([]float64, n*d)
	const eps = 1e-6
	for i := range x {
		old := x[i]
		x[i] = old + eps
		fp := f(x)
		x[i] = old - eps
		fm := f(x)
		x[i] = old
		num[i] = (fp - fm) / (2 * eps)
	}
	if e := relErr(grad, num); e > 1e-5 {
		t.Fatalf("relative gradient error %.2e", e)
	}
}

// TestNGCFGradientNumeric checks NGCF's hand-written backward (embeddings,
// W1, W2, biases of every layer) against a float64 reference forward.
func TestNGCFGradientNumeric(t *testing.T) {
	g := smallGraph(t)
	const d, K = 3, 2
	mm, err := NewNGCF(model.Config{Dim: d, Layers: K, Threads: 2, InitStd: 0.5}, model.Info{NumUsers: 4, NumItems: 4, Graph: g})
	if err != nil {
		t.Fatal(err)
	}
	m := mm.(*ngcf)
	rng := rand.New(rand.NewPCG(3, 4))
	for l := 0; l < K; l++ { // non-zero biases
		for i := range m.bias(l) {
			m.bias(l)[i] = float32(rng.NormFloat64() * 0.3)
		}
	}
	A := denseNormAdj(g)
	n, w := 8, d*(K+1)
	C := make([]float64, n*w)
	for i := range C {
		C[i] = rng.NormFloat64()
		m.gF[i] = float32(C[i])
	}
	nb := n * d
	x := make([]float64, nb+len(m.w)) // base then weights
	for i, v := range m.base {
		x[i] = float64(v)
	}
	for i, v := range m.w {
		x[nb+i] = float64(v)
	}
	f := func(x []float64) float64 {
		E := append([]float64(nil), x[:nb]...)
		W := x[nb:]
		var s float64
		add := func(E []float64, l int) {
			for r := 0; r < n; r++ {
				for i := 0; i < d; i++ {
					s += C[r*w+l*d+i] * E[r*d+i]
				}
			}
		}
		add(E, 0)
		for l := 0; l < K; l++ {
			o := l * (2*d + 1) * d
			W1, W2, b := W[o:o+d*d], W[o+d*d:o+2*d*d], W[o+2*d*d:o+2*d*d+d]
			AE := matmulAdj(A, E, d)
			next := make([]float64, nb)
			for r := 0; r < n; r++ {
				for j := 0; j < d; j++ {
					z := b[j]
					for i := 0; i < d; i++ {
						z += (AE[r*d+i]+E[r*d+i])*W1[i*d+j] + AE[r*d+i]*E[r*d+i]*W2[i*d+j]
					}
					if z < 0 {
						z *= ngcfSlope
					}
					next[r*d+j] = z
				}
			}
			E = next
			add(E, l+1)
		}
		return s
	}
	m.forward()
	var fwd float64
	for i := range C {
		fwd += C[i] * float64(m.final[i])
	}
	if math.Abs(fwd-f(x)) > 1e-4*math.Max(1, math.Abs(fwd)) {
		t.Fatalf("forward %v want %v", fwd, f(x))
	}
	m.backward()
	ana := append(append([]float32(nil), m.gBase...), m.gW...)
	num := make([]float64, len(x))
	const eps = 1e-6
	for i := range x {
		old := x[i]
		x[i] = old + eps
		fp := f(x)
		x[i] = old - eps
		fm := f(x)
		x[i] = old
		num[i] = (fp - fm) / (2 * eps)
	}
	if e := relErr(ana, num); e > 1e-4 {
		t.Fatalf("relative gradient error %.2e\nana %v\nnum %v", e, ana, num)
	}
}

// baselineSpMM is the propagation as first written (plain Go, one
// multiply-add loop per edge into the output row), kept as the reference
// the tests and benchmarks compare against. The only change is the
// float32() around the product, which is a no-op under GOAMD64=v1 and
// keeps v3 builds from fusing it into an FMA.
func baselineSpMM(a *normAdj, dst, src []float32, d, threads int) {
	parallel.Chunks(len(a.chunks)-1, threads, 0, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			for r := a.chunks[c]; r < a.chunks[c+1]; r++ {
				o := dst[r*d : r*d+d : r*d+d]
				clear(o)
				for k := a.ptr[r]; k < a.ptr[r+1]; k++ {
					w := a.w[k]
					c := int(a.adj[k])
					x := src[c*d : c*d+d : c*d+d]
					for i := range o { // float32(): no FMA fusion under GOAMD64=v3
						o[i] += float32(w * x[i])
					}
				}
			}
		}
	})
}

// baselinePropagate is lightGCN.propagate as first written, over
// baselineSpMM, with its own scratch.
func baselinePropagate(a *normAdj, out, x []float32, d, K, threads int) {
	cur := append([]float32(nil), x...)
	nx := make([]float32, len(x))
	acc := append([]float32(nil), x...)
	for k := 0; k < K; k++ {
		baselineSpMM(a, nx, cur, d, threads)
		cur, nx = nx, cur
		parallel.Chunks(len(acc), threads, minParallel, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				acc[i] += cur[i]
			}
		})
	}
	s := float32(1 / float64(K+1))
	parallel.Chunks(len(out), threads, minParallel, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = acc[i] * s
		}
	})
}

// BenchmarkPropagation times one LightGCN propagation (3 layers, dim 64,
// mean of layers) on the Gowalla-size graph: the optimised SpMM against
// the baseline, in the same process. GFLOP/s counts 2 flops per nonzero
// per column per layer.
func BenchmarkPropagation(b *testing.B) {
	g := testfixture.GowallaSizeGraph(b)
	const d, K = 64, 3
	mi, err := NewLightGCN(model.Config{Dim: d, Layers: K, Seed: 1}, model.Info{NumUsers: g.NumUsers, NumItems: g.NumItems, Graph: g})
	if err != nil {
		b.Fatal(err)
	}
	m := mi.(*lightGCN)
	flops := float64(2*len(m.adj.adj)*d*K) * 1e-9
	out := make([]float32, len(m.base))
	b.Run("baseline", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			baselinePropagate(m.adj, out, m.base, d, K, m.Cfg.Threads)
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds(), "GFLOP/s")
	})
	b.Run("optimised", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			m.propagate(out, m.base, nil)
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds(), "GFLOP/s")
	})
}

// baselineStep is lightGCN.Step as first written: baselinePropagate
// forward and backward (dense seed), then the same loss, L2 and dense Adam.
func baselineStep(m *lightGCN, b *batch.Batch) error {
	d, K, th := m.Cfg.Dim, m.Cfg.Layers, m.Cfg.Threads
	baselinePropagate(m.adj, m.final, m.base, d, K, th)
	_, g, err := m.Loss.Compute(m.Gather(b, m.final))
	if err != nil {
		return err
	}
	clear(m.grad)
	m.ScatterDense(b, g, m.grad)
	baselinePropagate(m.adj, m.grad, m.grad, d, K, th)
	m.L2(m.base, d, m.DistinctRows(b), m.grad, false, b.Size())
	m.opt.Update(m.base, nil, m.grad, m.LR())
	m.Steps++
	return nil
}

// BenchmarkLightGCNStep times a full training step (forward propagation,
// BPR loss, backward propagation, L2, dense Adam) on the Gowalla-size
// graph, batch 8192, pool 512: the baseline step against the optimised one
// in the same process. GFLOP/s counts the two propagations' SpMM flops
// (dense) over the whole step's time.
func BenchmarkLightGCNStep(b *testing.B) {
	g := testfixture.GowallaSizeGraph(b)
	const d, K, B, P = 64, 3, 8192, 512
	r := rand.New(rand.NewPCG(1, 2))
	batches := []*batch.Batch{testfixture.GowallaSizeBatch(g, r, B, P), testfixture.GowallaSizeBatch(g, r, B, P)}
	for _, name := range []string{"baseline", "optimised"} {
		b.Run(name, func(b *testing.B) {
			mi, err := NewLightGCN(model.Config{Dim: d, Layers: K, Seed: 1, L2: 1e-4}, model.Info{NumUsers: g.NumUsers, NumItems: g.NumItems, Graph: g})
			if err != nil {
				b.Fatal(err)
			}
			m := mi.(*lightGCN)
			flops := float64(2*2*len(m.adj.adj)*d*K) * 1e-9
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				bt := batches[i%len(batches)]
				if name == "baseline" {
					err = baselineStep(m, bt)
				} else {
					_, err = m.Step(ctx, bt)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(B*b.N)/b.Elapsed().Seconds(), "examples/s")
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds(), "GFLOP/s")
		})
	}
}

// TestPropagationMatchesBaseline checks the optimised SpMM and propagation,
// with the pure-Go and the AVX kernel, against the plain baseline bit for
// bit, for several depths and widths (widths that are not multiples of 8
// take the remainder path, those not multiples of 64 the pure-Go kernel),
// with out aliasing x and not, and with a sparse seed.
func TestPropagationMatchesBaseline(t *testing.T) {
	g := testfixture.NewCommunities(t, 300, 200, 4, 12, 1, 5).Graph
	n := g.NumUsers + g.NumItems
	for _, tc := range []struct {
		d, K, threads int
		avx, sparse   bool // AVX kernel; x nonzero on a few rows only, marked by nz
	}{
		{64, 3, 2, false, false}, {64, 3, 2, true, false}, {64, 1, 1, true, false}, {128, 2, 2, true, false},
		{13, 2, 3, true, false}, {8, 4, 2, false, false}, {5, 0, 2, true, false}, {72, 3, 1, true, false},
		{64, 3, 2, true, true}, {64, 1, 2, false, true}, {13, 3, 1, true, true},
	} {
		t.Run(fmt.Sprintf("d%d_K%d_t%d_avx%v_sparse%v", tc.d, tc.K, tc.threads, tc.avx, tc.sparse), func(t *testing.T) {
			if tc.avx && !vec.HasGather64() {
				t.Skip("no AVX on this CPU (or purego build)")
			}
			a, err := newNormAdj(g, tc.threads)
			if err != nil {
				t.Fatal(err)
			}
			a.avx = tc.avx
			x := embedcore.InitNormal(n*tc.d, 1, uint64(tc.d), uint64(tc.K))
			var nz []bool
			if tc.sparse { // keep every 7th row, with a -0 in each
				nz = make([]bool, n)
				for r := 0; r < n; r++ {
					nz[r] = r%7 == 3
					if !nz[r] {
						clear(x[r*tc.d : (r+1)*tc.d])
					} else {
						x[r*tc.d] = float32(math.Copysign(0, -1))
					}
				}
			}
			scratch := func() []float32 { return make([]float32, len(x)) }
			want := scratch()
			baselinePropagate(a, want, x, tc.d, tc.K, tc.threads)
			got := scratch()
			a.meanPropagate(got, x, scratch(), scratch(), scratch(), nz, tc.d, tc.K, tc.threads)
			alias := append([]float32(nil), x...)
			a.meanPropagate(alias, alias, scratch(), scratch(), scratch(), nz, tc.d, tc.K, tc.threads)
			one, wantOne := scratch(), scratch()
			a.spmm(one, x, tc.d, tc.threads)
			baselineSpMM(a, wantOne, x, tc.d, tc.threads)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) || math.Float32bits(alias[i]) != math.Float32bits(want[i]) {
					t.Fatalf("element %d: got %v (aliased %v), baseline %v", i, got[i], alias[i], want[i])
				}
				if math.Float32bits(one[i]) != math.Float32bits(wantOne[i]) {
					t.Fatalf("spmm element %d: got %v, baseline %v", i, one[i], wantOne[i])
				}
			}
		})
	}
}
