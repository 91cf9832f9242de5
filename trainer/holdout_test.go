package trainer

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/trainerd/trainerd/graph"
)

// randomGraphs makes a train graph and a test graph that shares some of its
// edges (a store may hold a pair in both splits).
func randomGraphs(t *testing.T, users, items, edges int, seed uint64) (train, test *graph.Bipartite) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	var tr, te []graph.Edge
	for range edges {
		e := graph.Edge{User: uint32(r.IntN(users)), Item: uint32(r.IntN(items))}
		tr = append(tr, e)
		switch r.IntN(5) {
		case 0:
			te = append(te, e) // the same pair in test
		case 1:
			te = append(te, graph.Edge{User: e.User, Item: uint32(r.IntN(items))})
		}
	}
	var err error
	if train, err = graph.Build(users, items, tr); err != nil {
		t.Fatal(err)
	}
	if test, err = graph.Build(users, items, te); err != nil {
		t.Fatal(err)
	}
	return train, test
}

func TestHoldout(t *testing.T) {
	train, test := randomGraphs(t, 300, 200, 6000, 1)
	tests := []struct {
		name     string
		fraction float64
		seed     uint64
	}{
		{"tenth", 0.1, 1},
		{"tenth other seed", 0.1, 2},
		{"half", 0.5, 1},
		{"none", 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rest, val, err := Holdout(train, test, tc.fraction, tc.seed)
			if err != nil {
				t.Fatal(err)
			}
			// Deterministic: a second call gives the same split.
			rest2, val2, err := Holdout(train, test, tc.fraction, tc.seed)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(rest, rest2) || !reflect.DeepEqual(val, val2) {
				t.Fatal("two calls with the same seed split differently")
			}
			if rest.NumEdges()+val.NumEdges() != train.NumEdges() {
				t.Fatalf("rest %d + val %d edges != train %d", rest.NumEdges(), val.NumEdges(), train.NumEdges())
			}
			candidates := 0
			for u := range uint32(train.NumUsers) {
				for _, it := range train.ItemsOf(u) {
					inRest, inVal := rest.HasEdge(u, it), val.HasEdge(u, it)
					if inRest == inVal {
						t.Fatalf("train edge (%d,%d): in rest %v, in validation %v; want exactly one", u, it, inRest, inVal)
					}
					if inVal && test.HasEdge(u, it) {
						t.Fatalf("validation holds (%d,%d), a test edge", u, it)
					}
					if !test.HasEdge(u, it) {
						candidates++
					}
				}
				if train.UserDegree(u) > 0 && rest.UserDegree(u) == 0 {
					t.Fatalf("user %d lost every train edge", u)
				}
			}
			for u := range uint32(val.NumUsers) {
				for _, it := range val.ItemsOf(u) {
					if !train.HasEdge(u, it) {
						t.Fatalf("validation edge (%d,%d) is not a train edge", u, it)
					}
				}
			}
			got := float64(val.NumEdges()) / float64(train.NumEdges())
			if tc.fraction == 0 && val.NumEdges() != 0 {
				t.Fatalf("fraction 0 held out %d edges", val.NumEdges())
			}
			// Capped by candidates and by each user's last edge, the share
			// stays within a few points of the fraction.
			if tc.fraction > 0 && (got < tc.fraction-0.05 || got > tc.fraction+0.02) {
				t.Fatalf("held out %.3f of the train edges, want about %.2f", got, tc.fraction)
			}
			t.Logf("fraction %.2f seed %d: held out %d of %d edges (%.3f; %d not in test)", tc.fraction, tc.seed, val.NumEdges(), train.NumEdges(), got, candidates)
		})
	}
	a, _, _ := Holdout(train, test, 0.1, 1)
	b, _, _ := Holdout(train, test, 0.1, 2)
	if reflect.DeepEqual(a, b) {
		t.Error("seeds 1 and 2 hold out the same edges")
	}
}

// TestHoldoutAllTest: a user whose every train edge is also a test edge
// keeps them all.
func TestHoldoutAllTest(t *testing.T) {
	es := []graph.Edge{{User: 0, Item: 0}, {User: 0, Item: 1}, {User: 0, Item: 2}, {User: 0, Item: 3}}
	train, _ := graph.Build(1, 4, es)
	test, _ := graph.Build(1, 4, es)
	rest, val, err := Holdout(train, test, 0.5, 1)
	if err != nil {
		t.Fatal(err)
	}
	if val.NumEdges() != 0 || rest.NumEdges() != 4 {
		t.Fatalf("held out %d edges of a user whose train edges are all test edges", val.NumEdges())
	}
	if _, _, err := Holdout(train, test, 1, 1); err == nil {
		t.Error("fraction 1 accepted")
	}
}
