package consumer

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/trainerd/trainerd/graph"
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
	mm, err := newLightGCN(Config{Dim: d, Layers: K, Threads: 2}, Info{NumUsers: 4, NumItems: 4, Graph: g})
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
	m.propagate(m.final, m.base)
	var fwd float64
	for i := range C {
		fwd += C[i] * float64(m.final[i])
	}
	if math.Abs(fwd-f(x)) > 1e-5 {
		t.Fatalf("forward %v want %v", fwd, f(x))
	}
	grad := make([]float32, n*d)
	m.propagate(grad, c32)
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
	mm, err := newNGCF(Config{Dim: d, Layers: K, Threads: 2, InitStd: 0.5}, Info{NumUsers: 4, NumItems: 4, Graph: g})
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
