package producer

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/trainerd/trainerd/dataset"
	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/internal/testfixture"
)

// memFS is an in-memory FeatureSource whose row of node v holds
// v*1000 + column (users and items by their dense id), so tests can check
// that every row landed in the right place.
type memFS struct {
	ud, id int
	fail   bool
}

func (m *memFS) Schema(t dataset.NodeType) dataset.Schema {
	d := m.ud
	if t == dataset.Item {
		d = m.id
	}
	if d == 0 {
		return nil
	}
	return dataset.Schema{{Name: "x", Dim: d, Derivation: "generated"}}
}

func (m *memFS) FetchFeatures(t dataset.NodeType, ids []uint32, dst []float32) error {
	if m.fail {
		return errors.New("memFS: injected failure")
	}
	d := m.Schema(t).Dim()
	if len(dst) != len(ids)*d {
		return fmt.Errorf("memFS: dst has %d values, want %d", len(dst), len(ids)*d)
	}
	for k, v := range ids {
		for c := 0; c < d; c++ {
			dst[k*d+c] = featValue(t, v, c)
		}
	}
	return nil
}

// rowFS is memFS through the RowFeatureSource path (direct row writes).
type rowFS struct{ memFS }

func (m *rowFS) FetchFeatureRows(t dataset.NodeType, ids []uint32, dst []float32, rows []int32, stride, off int) error {
	if m.fail {
		return errors.New("rowFS: injected failure")
	}
	d := m.Schema(t).Dim()
	for k, v := range ids {
		for c := 0; c < d; c++ {
			dst[int(rows[k])*stride+off+c] = featValue(t, v, c)
		}
	}
	return nil
}

func featValue(t dataset.NodeType, v uint32, c int) float32 {
	return float32(int(v)*1000+c) + float32(t)*0.5
}

// genGraph builds a random bipartite graph with power-law degrees on both
// sides (Zipf-like weights (rank+1)^-a, ids shuffled), target edges before
// de-duplication.
func genGraph(tb testing.TB, nu, ni, edges int, a float64, seed uint64) *graph.Bipartite {
	tb.Helper()
	zipf := func(n int, salt uint64) (*alias, []uint32) {
		w := make([]float64, n)
		for i := range w {
			w[i] = math.Pow(float64(i+1), -a)
		}
		perm := make([]uint32, n)
		p := newPermutation(uint64(n), seed^salt)
		for i := range perm {
			perm[i] = uint32(p.at(uint64(i)))
		}
		return newAlias(w), perm
	}
	ua, up := zipf(nu, 1)
	ia, ip := zipf(ni, 2)
	r := newRNG(seed)
	es := make([]graph.Edge, 0, edges)
	// Every node gets at least one edge so no one is isolated.
	for u := 0; u < nu; u++ {
		es = append(es, graph.Edge{User: uint32(u), Item: ip[ia.sample(&r)]})
	}
	for i := 0; i < ni; i++ {
		es = append(es, graph.Edge{User: up[ua.sample(&r)], Item: uint32(i)})
	}
	// Top up until the de-duplicated graph has the target edge count.
	for {
		for len(es) < cap(es) {
			es = append(es, graph.Edge{User: up[ua.sample(&r)], Item: ip[ia.sample(&r)]})
		}
		g, err := graph.Build(nu, ni, es)
		if err != nil {
			tb.Fatal(err)
		}
		if g.NumEdges() >= edges || len(es) > 4*edges {
			return g
		}
		es = slices.Grow(es, (edges-g.NumEdges())*3/2)
	}
}

// tinyGraph is a small connected irregular graph: 4 users, 5 items.
func tinyGraph(tb testing.TB) *graph.Bipartite {
	tb.Helper()
	g, err := graph.Build(4, 5, []graph.Edge{
		{User: 0, Item: 0}, {User: 0, Item: 1}, {User: 0, Item: 2},
		{User: 1, Item: 1}, {User: 1, Item: 3},
		{User: 2, Item: 2}, {User: 2, Item: 3}, {User: 2, Item: 4},
		{User: 3, Item: 0}, {User: 3, Item: 4},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

// transition returns the row-stochastic one-hop matrix from side `from` to
// the other side, dense.
func transition(g *graph.Bipartite, from dataset.NodeType) [][]float64 {
	n, m := g.NumUsers, g.NumItems
	row := g.ItemsOf
	if from == dataset.Item {
		n, m = m, n
		row = g.UsersOf
	}
	P := make([][]float64, n)
	for i := range P {
		P[i] = make([]float64, m)
		nb := row(uint32(i))
		for _, j := range nb {
			P[i][j] += 1 / float64(len(nb))
		}
	}
	return P
}

func vecMat(x []float64, M [][]float64) []float64 {
	out := make([]float64, len(M[0]))
	for i, xi := range x {
		if xi == 0 {
			continue
		}
		for j, mij := range M[i] {
			out[j] += xi * mij
		}
	}
	return out
}

// exactVisits returns the exact expected fraction of Pixie visits landing
// on each node of the counted side, from query q of side qs with restart
// probability alpha: Σ_l (1-α)^(l-1) P(X_l=v) normalised, by dynamic
// programming over the walk's position distribution.
func exactVisits(g *graph.Bipartite, qs dataset.NodeType, q uint32, opposite bool, alpha float64) []float64 {
	H := transition(g, qs)   // q side → other
	B := transition(g, 1-qs) // other → q side
	x := make([]float64, len(H))
	x[q] = 1
	var acc []float64
	surv := 1.0
	for l := 1; l <= 400 && surv > 1e-15; l++ {
		mid := vecMat(x, H)
		x = vecMat(mid, B)
		c := x
		if opposite {
			c = mid
		}
		if acc == nil {
			acc = make([]float64, len(c))
		}
		for v, p := range c {
			acc[v] += surv * p
		}
		surv *= 1 - alpha
	}
	sum := 0.0
	for _, a := range acc {
		sum += a
	}
	for v := range acc {
		acc[v] /= sum
	}
	return acc
}

// loadGowalla is the graph of gowalla/train.txt, skipping the test when
// the file is absent.
func loadGowalla(tb testing.TB) *graph.Bipartite {
	tb.Helper()
	return testfixture.Graph(tb, "gowalla", "train.txt")
}
