package testfixture

import (
	"math/rand/v2"
	"testing"
)

func TestCommunitiesDisjointAndInCommunity(t *testing.T) {
	c := NewCommunities(t, 12, 40, 4, 5, 2, 3)
	per := c.I / c.C
	for u := range c.U {
		seen := map[uint32]bool{}
		for _, set := range [][]uint32{c.Train[u], c.Test[u]} {
			for _, it := range set {
				if int(it)/per != u%c.C {
					t.Fatalf("user %d (community %d) has item %d of community %d", u, u%c.C, it, int(it)/per)
				}
				if seen[it] {
					t.Fatalf("user %d has item %d twice (train and test overlap)", u, it)
				}
				seen[it] = true
			}
		}
		if c.Graph.UserDegree(uint32(u)) != 5 {
			t.Fatalf("user %d has degree %d in the train graph, want 5", u, c.Graph.UserDegree(uint32(u)))
		}
	}
}

func TestSamplerPoolAvoidsPositives(t *testing.T) {
	const U, I = 30, 50
	edges, trainBy, testBy := Planted(U, I, 3, 10, 1)
	for u := range U {
		if len(trainBy[u]) != 8 || len(testBy[u]) != 2 {
			t.Fatalf("user %d: %d train, %d test items, want 8 and 2", u, len(trainBy[u]), len(testBy[u]))
		}
	}
	s := &Sampler{U: U, I: I, Edges: edges, B: 32, P: 7, H: 2, Rng: rand.New(rand.NewPCG(1, 2))}
	total := 0
	for i, b := range s.Epoch(3) {
		if b.Epoch != 3 || b.Index != i || len(b.Neg) != 7 || len(b.Hard) != 2*len(b.Query) {
			t.Fatalf("batch %d: epoch %d index %d, %d negatives, %d hard for %d examples", i, b.Epoch, b.Index, len(b.Neg), len(b.Hard), len(b.Query))
		}
		pos := map[uint32]bool{}
		for _, p := range b.Pos {
			pos[p] = true
		}
		for _, n := range b.Neg {
			if pos[n] || n < U {
				t.Fatalf("batch %d: pool row %d is a positive or not an item", i, n)
			}
		}
		total += len(b.Query)
	}
	if total != len(edges) {
		t.Fatalf("an epoch covers %d examples, want %d", total, len(edges))
	}
}
