//go:build !cuda

package sage

import (
	"context"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/model"
)

// batch builds a batch.Batch by hand: B random train edges, P shared
// random item negatives, K hops of T direct-neighbour slots.
func (p *gnnPlanted) batch(r *rand.Rand, m *convModel, B, P, T int) *batch.Batch {
	b := &batch.Batch{T: T}
	for j := 0; j < B; j++ {
		u := r.IntN(p.U)
		it := p.train[u][r.IntN(len(p.train[u]))]
		b.Query = append(b.Query, uint32(u))
		b.Pos = append(b.Pos, batch.GlobalItem(p.U, it))
	}
	for j := 0; j < P; j++ {
		b.Neg = append(b.Neg, batch.GlobalItem(p.U, uint32(r.IntN(p.I))))
	}
	targets, idx := model.Targets(b.Query, b.Pos, b.Neg)
	b.QueryIdx, b.PosIdx, b.NegIdx = idx[0], idx[1], idx[2]
	b.Layers, b.NbrIdx, b.NbrW = model.Hops(targets, m.k, T, model.GraphNeighbors(m.info.Graph, m.info.NumUsers))
	return b
}

func gnnRecallAt(p *gnnPlanted, e *model.Embeddings, k int) float64 {
	d := e.Dim
	var sum float64
	var n int
	for u := 0; u < p.U; u++ {
		if len(p.test[u]) == 0 {
			continue
		}
		seen := map[uint32]bool{}
		for _, it := range p.train[u] {
			seen[it] = true
		}
		type sc struct {
			it uint32
			s  float32
		}
		var cand []sc
		uv := e.Users[u*d : u*d+d]
		for i := 0; i < p.I; i++ {
			if seen[uint32(i)] {
				continue
			}
			var s float32
			for c, v := range e.Items[i*d : i*d+d] {
				s += v * uv[c]
			}
			cand = append(cand, sc{uint32(i), s})
		}
		sort.Slice(cand, func(a, b int) bool { return cand[a].s > cand[b].s })
		hit := 0
		for _, c := range cand[:k] {
			if slices.Contains(p.test[u], c.it) {
				hit++
			}
		}
		sum += float64(hit) / float64(len(p.test[u]))
		n++
	}
	return sum / float64(n)
}

func TestPinSagePlantedCommunities(t *testing.T) {
	start := time.Now()
	p := newGNNPlanted(t, 200, 400, 4, 12, 4, 7)
	mi, err := NewPinSage(model.Config{Dim: 16, Hidden: 32, LR: 0.01, Loss: "softmax", Temperature: 0.2, Normalize: true, Seed: 3},
		model.Info{NumUsers: p.U, NumItems: p.I, Graph: p.g})
	if err != nil {
		t.Fatal(err)
	}
	m := mi.(*convModel)
	r := rand.New(rand.NewPCG(9, 9))
	ctx := context.Background()
	var first, last float64
	for s := 0; s < 60; s++ {
		st, err := m.Step(ctx, p.batch(r, m, 128, 64, 5))
		if err != nil {
			t.Fatal(err)
		}
		if s == 0 {
			first = st.Loss
		}
		last = st.Loss
	}
	e, err := m.Embed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rec := gnnRecallAt(p, e, 20)
	random := 20.0 / float64(p.I-12)
	t.Logf("loss %.3f -> %.3f, recall@20 %.3f, random %.3f, %v", first, last, rec, random, time.Since(start))
	if last >= first {
		t.Errorf("loss did not fall: %v -> %v", first, last)
	}
	if rec < 3*random {
		t.Errorf("recall@20 %.3f not 3x random %.3f", rec, random)
	}
}

// TestConvModelsStep runs every aggregator and input kind for a few steps:
// finite, falling loss and no error.
func TestConvModelsStep(t *testing.T) {
	p := newGNNPlanted(t, 60, 80, 2, 6, 2, 5)
	ufd, ifd := 3, 4
	fr := rand.New(rand.NewPCG(1, 1))
	uf, itf := make([]float32, p.U*ufd), make([]float32, p.I*ifd)
	for i := range uf {
		uf[i] = fr.Float32()
	}
	for i := range itf {
		itf[i] = fr.Float32()
	}
	cases := []struct{ model, agg, inputs string }{
		{"pinsage", "importance", "id"}, {"pinsage", "mean", "id"}, {"pinsage", "max", "id"},
		{"pinsage", "importance", "features"}, {"pinsage", "importance", "both"},
		{"graphsage", "mean", "id"}, {"graphsage", "pool", "id"}, {"graphsage", "gcn", "id"}, {"graphsage", "gat", "id"}, {"graphsage", "gat", "both"},
	}
	for _, tc := range cases {
		t.Run(tc.model+"/"+tc.agg+"/"+tc.inputs, func(t *testing.T) {
			info := model.Info{NumUsers: p.U, NumItems: p.I, Graph: p.g}
			if tc.inputs != "id" {
				info.UserFeatDim, info.ItemFeatDim, info.UserFeatures, info.ItemFeatures = ufd, ifd, uf, itf
			}
			mi, err := newModel(model.Config{Model: tc.model, Dim: 8, Hidden: 16, Aggregator: tc.agg, Inputs: tc.inputs, LR: 0.01, Loss: "bpr", Seed: 1}, info)
			if err != nil {
				t.Fatal(err)
			}
			m := mi.(*convModel)
			r := rand.New(rand.NewPCG(2, 2))
			b := p.batch(r, m, 32, 16, 4)
			if m.useFeat {
				b.Feat, b.FeatDim = model.NodeFeatures(m.info, b.Layers[m.k]), ufd+ifd
			}
			var first, last float64
			for s := 0; s < 15; s++ {
				st, err := m.Step(context.Background(), b)
				if err != nil {
					t.Fatal(err)
				}
				if s == 0 {
					first = st.Loss
				}
				last = st.Loss
			}
			if !(last < first) {
				t.Errorf("loss on a repeated batch did not fall: %v -> %v", first, last)
			}
			e, err := m.Embed(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(e.Users) != p.U*8 || len(e.Items) != p.I*8 {
				t.Fatalf("embeddings %d/%d values", len(e.Users), len(e.Items))
			}
		})
	}
}

// TestConvStateLoad: a model restored from State continues bit-identically.
func TestConvStateLoad(t *testing.T) {
	p := newGNNPlanted(t, 50, 70, 2, 6, 2, 4)
	info := model.Info{NumUsers: p.U, NumItems: p.I, Graph: p.g}
	for _, name := range []string{"pinsage", "graphsage"} {
		t.Run(name, func(t *testing.T) {
			cfg := model.Config{Model: name, Dim: 8, Hidden: 8, Seed: 1, LR: 0.01}
			a, err := newModel(cfg, info)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(3, 3))
			var batches []*batch.Batch
			for i := 0; i < 6; i++ {
				batches = append(batches, p.batch(r, a.(*convModel), 24, 10, 3))
			}
			ctx := context.Background()
			for _, b := range batches[:3] {
				if _, err := a.Step(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			st := a.State()
			cfg.Seed = 99
			b, err := newModel(cfg, info)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Load(st); err != nil {
				t.Fatal(err)
			}
			for _, bt := range batches[3:] {
				sa, err := a.Step(ctx, bt)
				if err != nil {
					t.Fatal(err)
				}
				sb, err := b.Step(ctx, bt)
				if err != nil {
					t.Fatal(err)
				}
				if sa.Loss != sb.Loss {
					t.Fatalf("loss after restore %v, original %v", sb.Loss, sa.Loss)
				}
			}
			x, y := a.State(), b.State()
			if len(x) != len(y) {
				t.Fatalf("%d vs %d tensors", len(x), len(y))
			}
			for i := range x {
				if x[i].Name != y[i].Name || !slices.Equal(x[i].Data, y[i].Data) {
					t.Fatalf("tensor %s differs after restore", x[i].Name)
				}
			}
			if err := b.Load(st[1:]); err == nil {
				t.Fatal("Load with a missing tensor: want error")
			}
		})
	}
}
