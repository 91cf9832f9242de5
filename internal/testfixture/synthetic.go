package testfixture

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/graph"
)

// Sampler makes batches the way the producer does: shuffled train edges,
// B examples per batch, a uniform shared pool of P items that are not
// positives of the batch, and H uniform hard negatives per example.
type Sampler struct {
	// U and I count the users and items.
	U, I int
	// Edges are the train edges (local ids).
	Edges []graph.Edge
	// B, P and H are the batch size, the pool size and the hard negatives
	// per example.
	B, P, H int
	// Rng draws the permutations and negatives.
	Rng *rand.Rand
}

// Epoch returns the batches of epoch ep, numbered from 0.
func (s *Sampler) Epoch(ep int) []*batch.Batch {
	perm := s.Rng.Perm(len(s.Edges))
	var out []*batch.Batch
	for lo, idx := 0, 0; lo < len(perm); lo, idx = lo+s.B, idx+1 {
		hi := min(lo+s.B, len(perm))
		b := &batch.Batch{Epoch: ep, Index: idx, HardPer: s.H}
		pos := map[uint32]bool{}
		for _, k := range perm[lo:hi] {
			e := s.Edges[k]
			b.Query = append(b.Query, e.User)
			it := batch.GlobalItem(s.U, e.Item)
			b.Pos = append(b.Pos, it)
			pos[it] = true
		}
		for len(b.Neg) < s.P {
			it := batch.GlobalItem(s.U, uint32(s.Rng.IntN(s.I)))
			if !pos[it] {
				b.Neg = append(b.Neg, it)
			}
		}
		for range len(b.Query) * s.H {
			b.Hard = append(b.Hard, batch.GlobalItem(s.U, uint32(s.Rng.IntN(s.I))))
		}
		out = append(out, b)
	}
	return out
}

// Planted builds U users and I items in C communities; each user engages
// deg items, 95% inside its community; 20% of each user's items are test.
// It returns the train edges and the train and test items per user (local
// ids).
func Planted(U, I, C, deg int, seed uint64) (train []graph.Edge, trainBy, testBy [][]uint32) {
	rng := rand.New(rand.NewPCG(seed, 7))
	trainBy = make([][]uint32, U)
	testBy = make([][]uint32, U)
	per := I / C
	for u := 0; u < U; u++ {
		c := u % C
		seen := map[uint32]bool{}
		var items []uint32
		for len(items) < deg {
			var it uint32
			if rng.Float64() < 0.95 {
				it = uint32(c*per + rng.IntN(per))
			} else {
				it = uint32(rng.IntN(I))
			}
			if !seen[it] {
				seen[it] = true
				items = append(items, it)
			}
		}
		nTest := deg / 5
		testBy[u] = items[:nTest]
		trainBy[u] = items[nTest:]
		for _, it := range trainBy[u] {
			train = append(train, graph.Edge{User: uint32(u), Item: it})
		}
	}
	return train, trainBy, testBy
}

// Communities is a bipartite graph with C communities: users of community
// c engage only items of community c. Train and test edges are disjoint.
type Communities struct {
	// U, I and C count the users, items and communities.
	U, I, C int
	// Train and Test are the items of each user (local ids).
	Train, Test [][]uint32
	// Graph is the train graph.
	Graph *graph.Bipartite
}

// NewCommunities draws trainPer train and testPer test items for each of U
// users among the I/C items of its community (user u is in community u%C).
func NewCommunities(tb testing.TB, U, I, C, trainPer, testPer int, seed uint64) *Communities {
	tb.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	p := &Communities{U: U, I: I, C: C, Train: make([][]uint32, U), Test: make([][]uint32, U)}
	per := I / C
	var edges []graph.Edge
	for u := 0; u < U; u++ {
		c := u % C
		perm := r.Perm(per)
		for k, j := range perm[:trainPer+testPer] {
			it := uint32(c*per + j)
			if k < trainPer {
				p.Train[u] = append(p.Train[u], it)
				edges = append(edges, graph.Edge{User: uint32(u), Item: it})
			} else {
				p.Test[u] = append(p.Test[u], it)
			}
		}
	}
	g, err := graph.Build(U, I, edges)
	if err != nil {
		tb.Fatal(err)
	}
	p.Graph = g
	return p
}

// GowallaSizeGraph is a random bipartite graph of Gowalla's size (29,858
// users, 40,981 items, ~810k distinct edges) whose endpoints are drawn from
// power laws, so degrees are skewed like the real data's.
func GowallaSizeGraph(tb testing.TB) *graph.Bipartite {
	tb.Helper()
	const U, I, E = 29858, 40981, 813000
	r := rand.New(rand.NewPCG(7, 8))
	pow := func(n int, a float64) uint32 { // P(rank k) ∝ ~k^-(1-1/a)
		return uint32(float64(n) * math.Pow(r.Float64(), a))
	}
	edges := make([]graph.Edge, E)
	for i := range edges {
		edges[i] = graph.Edge{User: pow(U, 1.6), Item: pow(I, 2.2)}
	}
	g, err := graph.Build(U, I, edges)
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

// GowallaSizeBatch samples B training edges (user_item examples) and a
// pool of P uniform negatives.
func GowallaSizeBatch(g *graph.Bipartite, r *rand.Rand, B, P int) *batch.Batch {
	b := &batch.Batch{Query: make([]uint32, B), Pos: make([]uint32, B), Neg: make([]uint32, P)}
	for j := 0; j < B; j++ {
		k := r.IntN(g.NumEdges())
		u := sort.Search(g.NumUsers, func(u int) bool { return int(g.UserPtr[u+1]) > k })
		b.Query[j] = uint32(u)
		b.Pos[j] = uint32(g.NumUsers) + g.UserAdj[k]
	}
	for j := range b.Neg {
		b.Neg[j] = uint32(g.NumUsers + r.IntN(g.NumItems))
	}
	return b
}
