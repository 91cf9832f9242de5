package graph

import (
	"math"
	"slices"
	"testing"
)

func TestBuild(t *testing.T) {
	tests := []struct {
		name      string
		nu, ni    int
		edges     []Edge
		wantUser  [][]uint32
		wantItem  [][]uint32
		wantError bool
	}{
		{
			name: "small with duplicate", nu: 3, ni: 2,
			edges:    []Edge{{0, 1}, {0, 0}, {2, 1}, {0, 1}},
			wantUser: [][]uint32{{0, 1}, {}, {1}},
			wantItem: [][]uint32{{0}, {0, 2}},
		},
		{name: "user out of range", nu: 1, ni: 1, edges: []Edge{{1, 0}}, wantError: true},
		{name: "item out of range", nu: 1, ni: 1, edges: []Edge{{0, 1}}, wantError: true},
		{name: "empty", nu: 2, ni: 2, wantUser: [][]uint32{{}, {}}, wantItem: [][]uint32{{}, {}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := Build(tc.nu, tc.ni, tc.edges)
			if tc.wantError {
				if err == nil {
					t.Fatal("want error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for u, want := range tc.wantUser {
				if got := g.ItemsOf(uint32(u)); !slices.Equal(got, want) {
					t.Errorf("ItemsOf(%d) = %v, want %v", u, got, want)
				}
				if g.UserDegree(uint32(u)) != len(want) {
					t.Errorf("UserDegree(%d) = %d", u, g.UserDegree(uint32(u)))
				}
			}
			for i, want := range tc.wantItem {
				if got := g.UsersOf(uint32(i)); !slices.Equal(got, want) {
					t.Errorf("UsersOf(%d) = %v, want %v", i, got, want)
				}
			}
			if g.NumEdges() != len(g.ItemAdj) {
				t.Errorf("directions disagree: %d vs %d edges", g.NumEdges(), len(g.ItemAdj))
			}
		})
	}
}

func TestHasEdge(t *testing.T) {
	g, err := Build(2, 3, []Edge{{0, 2}, {1, 0}})
	if err != nil {
		t.Fatal(err)
	}
	if !g.HasEdge(0, 2) || g.HasEdge(0, 0) || !g.HasEdge(1, 0) || g.HasEdge(1, 2) {
		t.Fatal("HasEdge wrong")
	}
}

func TestNormalizedAdjacency(t *testing.T) {
	// users 0,1; items 0,1,2 (global 2,3,4); user 0 has items 0,1, user 1 item 1.
	g, err := Build(2, 3, []Edge{{User: 0, Item: 0}, {User: 0, Item: 1}, {User: 1, Item: 1}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := NormalizedAdjacency(g)
	if err != nil {
		t.Fatal(err)
	}
	// (row, col) → 1/sqrt(d_u d_i); item 2 has no edges.
	want := map[[2]int32]float64{
		{0, 2}: 1 / math.Sqrt(2*1), {0, 3}: 1 / math.Sqrt(2*2), {1, 3}: 1 / math.Sqrt(1*2),
		{2, 0}: 1 / math.Sqrt(1*2), {3, 0}: 1 / math.Sqrt(2*2), {3, 1}: 1 / math.Sqrt(2*1),
	}
	if len(a.Ptr) != 6 || int(a.Ptr[5]) != len(want) || len(a.Col) != len(want) || len(a.Val) != len(want) {
		t.Fatalf("shape: ptr %v, %d cols, %d vals", a.Ptr, len(a.Col), len(a.Val))
	}
	for r := int32(0); r < 5; r++ {
		for k := a.Ptr[r]; k < a.Ptr[r+1]; k++ {
			w, ok := want[[2]int32{r, a.Col[k]}]
			if !ok || math.Abs(float64(a.Val[k])-w) > 1e-7 {
				t.Errorf("entry (%d,%d) = %v, want %v (present %v)", r, a.Col[k], a.Val[k], w, ok)
			}
		}
	}
	if _, err := NormalizedAdjacency(nil); err == nil {
		t.Error("nil graph accepted")
	}
}
