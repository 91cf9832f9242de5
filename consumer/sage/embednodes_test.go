//go:build !cuda

package sage

import (
	"context"
	"github.com/trainerd/trainerd/model"
	"math"
	"math/rand/v2"
	"testing"
)

// TestEmbedNodesMatchesEmbed: EmbedNodes of runs of whole Embed chunks
// gives Embed's rows bit for bit, and of any other id set (shuffled, split
// off-chunk) the same rows to float32 rounding, for the hand-written network
// and the gorgonia aggregators, with and without features and
// normalisation, over more nodes than one chunk.
func TestEmbedNodesMatchesEmbed(t *testing.T) {
	p := newGNNPlanted(t, 1100, 1200, 4, 5, 1, 11) // 2300 nodes: three chunks, the last partial
	ufd, ifd := 3, 4
	fr := rand.New(rand.NewPCG(1, 2))
	uf, itf := make([]float32, p.U*ufd), make([]float32, p.I*ifd)
	for i := range uf {
		uf[i] = fr.Float32()
	}
	for i := range itf {
		itf[i] = fr.Float32()
	}
	cases := []struct {
		model, agg, inputs string
		normalize          bool
	}{
		{"pinsage", "importance", "id", false},
		{"pinsage", "importance", "both", true},
		{"pinsage", "max", "features", false},
		{"graphsage", "mean", "id", true},
		{"graphsage", "gcn", "id", false},
	}
	for _, tc := range cases {
		t.Run(tc.model+"/"+tc.agg+"/"+tc.inputs, func(t *testing.T) {
			info := model.Info{NumUsers: p.U, NumItems: p.I, Graph: p.g}
			if tc.inputs != "id" {
				info.UserFeatDim, info.ItemFeatDim, info.UserFeatures, info.ItemFeatures = ufd, ifd, uf, itf
			}
			mi, err := newModel(model.Config{Model: tc.model, Dim: 8, Hidden: 16, Aggregator: tc.agg, Inputs: tc.inputs,
				Normalize: tc.normalize, LR: 0.01, Loss: "bpr", Seed: 5, Layers: 2}, info)
			if err != nil {
				t.Fatal(err)
			}
			m := mi.(*convModel)
			ctx := context.Background()
			e, err := m.Embed(ctx)
			if err != nil {
				t.Fatal(err)
			}
			all := append(append([]float32(nil), e.Users...), e.Items...)
			n := p.U + p.I
			c := m.EmbedChunk()
			ids := make([]uint32, n)
			for id := range ids {
				ids[id] = uint32(id)
			}
			shuffled := append([]uint32(nil), ids...)
			rand.New(rand.NewPCG(7, 7)).Shuffle(n, func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			sets := []struct {
				name  string
				ids   []uint32
				exact bool
			}{
				{"all", ids, true},
				{"second chunk on", ids[c:], true},
				{"last chunk", ids[2*c:], true},
				{"empty", []uint32{}, true},
				{"shuffled", shuffled, false},
				{"off-chunk slice", ids[333:1377], false},
			}
			for _, set := range sets {
				got, d, err := m.EmbedNodes(ctx, set.ids)
				if err != nil {
					t.Fatalf("%s: %v", set.name, err)
				}
				if d != e.Dim || len(got) != len(set.ids)*d {
					t.Fatalf("%s: dim %d, %d values for %d nodes; Embed's dim %d", set.name, d, len(got), len(set.ids), e.Dim)
				}
			rows:
				for row, id := range set.ids {
					for col := 0; col < d; col++ {
						a, b := got[row*d+col], all[int(id)*d+col]
						same := math.Float32bits(a) == math.Float32bits(b)
						close := math.Abs(float64(a-b)) <= 1e-5*(1+math.Abs(float64(b)))
						if (set.exact && !same) || !close {
							t.Errorf("%s: node %d col %d: EmbedNodes %v, Embed %v (bit-exact expected: %v)", set.name, id, col, a, b, set.exact)
							break rows
						}
					}
				}
			}
			if _, _, err := m.EmbedNodes(ctx, []uint32{0, uint32(n)}); err == nil {
				t.Fatalf("node %d of %d: want an out-of-range error", n, n)
			}
		})
	}
}
