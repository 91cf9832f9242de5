package model

import (
	"slices"
	"testing"

	"github.com/trainerd/trainerd/graph"
)

// TestHopsLayout: each layer starts with the one above, every valid slot
// points at its neighbour's row in the next layer, empty slots point at the
// node itself with weight 0, and GraphNeighbors spreads its T picks evenly
// with uniform weights.
func TestHopsLayout(t *testing.T) {
	// users 0,1; items 2,3,4 (global ids). user 0: items 0,1,2; user 1: item 2.
	g, err := graph.Build(2, 3, []graph.Edge{{User: 0, Item: 0}, {User: 0, Item: 1}, {User: 0, Item: 2}, {User: 1, Item: 2}})
	if err != nil {
		t.Fatal(err)
	}
	fn := GraphNeighbors(g, 2)
	tests := []struct {
		name    string
		targets []uint32
		k, t    int
		want    [][]uint32
	}{
		{"user, one hop, T 2", []uint32{0}, 1, 2, [][]uint32{{0}, {0, 2, 3}}},
		{"item, two hops, T 3", []uint32{4}, 2, 3, [][]uint32{{4}, {4, 0, 1}, {4, 0, 1, 2, 3}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			layers, idx, w := Hops(tc.targets, tc.k, tc.t, fn)
			for h := range tc.want {
				if !slices.Equal(layers[h], tc.want[h]) {
					t.Fatalf("layer %d = %v, want %v", h, layers[h], tc.want[h])
				}
			}
			nb, nw := make([]uint32, tc.t), make([]float32, tc.t)
			for h := 0; h < tc.k; h++ {
				for i, id := range layers[h] {
					n := fn(id, nb, nw)
					for s := 0; s < tc.t; s++ {
						j := i*tc.t + s
						switch {
						case s >= n:
							if idx[h][j] != int32(i) || w[h][j] != 0 {
								t.Fatalf("hop %d node %d slot %d: empty slot = (%d, %v), want (%d, 0)", h, id, s, idx[h][j], w[h][j], i)
							}
						case layers[h+1][idx[h][j]] != nb[s] || w[h][j] != 1/float32(n):
							t.Fatalf("hop %d node %d slot %d: (%d, %v), want node %d weight %v", h, id, s, layers[h+1][idx[h][j]], w[h][j], nb[s], 1/float32(n))
						}
					}
				}
			}
		})
	}
	if n := GraphNeighbors(nil, 2)(0, make([]uint32, 2), make([]float32, 2)); n != 0 {
		t.Errorf("nil graph gave %d neighbours", n)
	}
}

// TestTargets: distinct ids in order of first appearance across the lists,
// and each list's indices into them.
func TestTargets(t *testing.T) {
	targets, idx := Targets([]uint32{7, 3}, []uint32{3, 9, 9}, nil)
	if want := []uint32{7, 3, 9}; !slices.Equal(targets, want) {
		t.Fatalf("targets %v, want %v", targets, want)
	}
	for i, want := range [][]int32{{0, 1}, {1, 2, 2}, {}} {
		if !slices.Equal(idx[i], want) {
			t.Errorf("list %d: indices %v, want %v", i, idx[i], want)
		}
	}
}
