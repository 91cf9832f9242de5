package consumer

import (
	"math/rand/v2"
	"testing"

	"github.com/trainerd/trainerd/graph"
)

// gnnPlanted is a bipartite graph with C communities: users of community c
// engage only items of community c. Train and test edges are disjoint.
type gnnPlanted struct {
	U, I, C     int
	train, test [][]uint32 // per user, local item ids
	g           *graph.Bipartite
}

func newGNNPlanted(t testing.TB, U, I, C, trainPer, testPer int, seed uint64) *gnnPlanted {
	r := rand.New(rand.NewPCG(seed, 1))
	p := &gnnPlanted{U: U, I: I, C: C, train: make([][]uint32, U), test: make([][]uint32, U)}
	per := I / C
	var edges []graph.Edge
	for u := 0; u < U; u++ {
		c := u % C
		perm := r.Perm(per)
		for k, j := range perm[:trainPer+testPer] {
			it := uint32(c*per + j)
			if k < trainPer {
				p.train[u] = append(p.train[u], it)
				edges = append(edges, graph.Edge{User: uint32(u), Item: it})
			} else {
				p.test[u] = append(p.test[u], it)
			}
		}
	}
	g, err := graph.Build(U, I, edges)
	if err != nil {
		t.Fatal(err)
	}
	p.g = g
	return p
}
