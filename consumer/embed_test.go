package consumer

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/internal/testfixture"
	"github.com/trainerd/trainerd/model"
)

// exactEval is a tiny full-ranking evaluator: recall@k and ndcg@k over users
// with test items, train items excluded.
func exactEval(e *model.Embeddings, train, test [][]uint32, k int) (recall, ndcg float64) {
	d := e.Dim
	nItems := len(e.Items) / d
	users := 0
	scores := make([]float64, nItems)
	idx := make([]int, nItems)
	for u, ts := range test {
		if len(ts) == 0 {
			continue
		}
		users++
		q := e.Users[u*d : u*d+d]
		for i := 0; i < nItems; i++ {
			var s float64
			for c := 0; c < d; c++ {
				s += float64(q[c]) * float64(e.Items[i*d+c])
			}
			scores[i] = s
			idx[i] = i
		}
		for _, it := range train[u] {
			scores[it] = math.Inf(-1)
		}
		sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
		hits, dcg, idcg := 0, 0.0, 0.0
		for r := 0; r < k; r++ {
			if slices.Contains(ts, uint32(idx[r])) {
				hits++
				dcg += 1 / math.Log2(float64(r+2))
			}
			if r < len(ts) {
				idcg += 1 / math.Log2(float64(r+2))
			}
		}
		recall += float64(hits) / float64(len(ts))
		ndcg += dcg / idcg
	}
	return recall / float64(users), ndcg / float64(users)
}

func TestPlantedCommunities(t *testing.T) {
	const U, I, C = 300, 300, 5
	edges, trainBy, testBy := testfixture.Planted(U, I, C, 20, 1)
	g, err := graph.Build(U, I, edges)
	if err != nil {
		t.Fatal(err)
	}
	info := model.Info{NumUsers: U, NumItems: I, Graph: g}
	cases := []struct {
		cfg    model.Config
		epochs int
		min    float64 // recall@20; random ranking gives ≈ 20/284 ≈ 0.07
	}{
		{model.Config{Model: "mf", LR: 0.01, Seed: 1}, 30, 0.3},
		{model.Config{Model: "mf", Loss: "softmax", Normalize: true, InBatch: true, Temperature: 0.2, LR: 0.01, Seed: 1}, 30, 0.3},
		{model.Config{Model: "mf", Loss: "ccl", Normalize: true, Margin: 0.5, NegWeight: 20, History: model.History{Weight: 0.5,
			Max: 8, Linear: true}, Dropout: 0.1, LR: 0.01, Seed: 1}, 30, 0.3},
		{model.Config{Model: "lightgcn", LR: 0.01, Seed: 1}, 30, 0.3},
		{model.Config{Model: "ngcf", LR: 0.005, Layers: 2, Dim: 16, Seed: 1}, 30, 0.25},
		{model.Config{Model: "deepwalk", LR: 0.01, Seed: 1}, 30, 0.25},
	}
	for _, tc := range cases {
		t.Run(tc.cfg.Model+"/"+tc.cfg.Loss, func(t *testing.T) {
			m, err := New(tc.cfg, info)
			if err != nil {
				t.Fatal(err)
			}
			s := &testfixture.Sampler{U: U, I: I, Edges: edges, B: 256, P: 64, Rng: rand.New(rand.NewPCG(3, 4))}
			start := time.Now()
			ctx := context.Background()
			var first, last float64
			for ep := 0; ep < tc.epochs; ep++ {
				var sum float64
				bs := s.Epoch(ep)
				for _, b := range bs {
					st, err := m.Step(ctx, b)
					if err != nil {
						t.Fatal(err)
					}
					sum += st.Loss
				}
				if ep == 0 {
					first = sum / float64(len(bs))
				}
				last = sum / float64(len(bs))
			}
			e, err := m.Embed(ctx)
			if err != nil {
				t.Fatal(err)
			}
			rec, nd := exactEval(e, trainBy, testBy, 20)
			t.Logf("%s loss %.4f -> %.4f, recall@20 %.3f ndcg@20 %.3f in %v", m.Name(), first, last, rec, nd, time.Since(start))
			if !(last < first) {
				t.Errorf("loss did not decrease: %v -> %v", first, last)
			}
			if rec < tc.min {
				t.Errorf("recall@20 %.3f below %.2f", rec, tc.min)
			}
		})
	}
}

// TestStateLoadResume trains, snapshots, trains on; a fresh model loaded
// from the snapshot must produce bit-identical parameters after the same
// batches.
func TestStateLoadResume(t *testing.T) {
	const U, I = 40, 50
	edges, _, _ := testfixture.Planted(U, I, 2, 8, 2)
	g, _ := graph.Build(U, I, edges)
	info := model.Info{NumUsers: U, NumItems: I, Graph: g}
	for _, cfg := range []model.Config{
		{Model: "mf"}, {Model: "mf", Optimizer: "adagrad", LRSchedule: "cosine", DecaySteps: 5},
		{Model: "deepwalk", Optimizer: "sgd"}, {Model: "lightgcn", Layers: 2},
		{Model: "ngcf", Layers: 2, Dim: 8, L2: 1e-3}, {Model: "mf", Loss: "softmax", InBatch: true, Normalize: true},
		{Model: "mf", Loss: "ccl", Normalize: true, History: model.History{Weight: 0.5, Max: 3, Linear: true}, Dropout: 0.2},
	} {
		t.Run(cfg.Model+"/"+cfg.Optimizer, func(t *testing.T) {
			cfg.Seed = 5
			s := &testfixture.Sampler{U: U, I: I, Edges: edges, B: 16, P: 10, H: 2, Rng: rand.New(rand.NewPCG(1, 1))}
			bs := s.Epoch(0)
			ctx := context.Background()
			a, err := New(cfg, info)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range bs[:3] {
				if _, err := a.Step(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			snap := a.State()
			cfg2 := cfg
			cfg2.Seed = 99 // different init: everything must come from the snapshot
			if cfg.Dropout > 0 || cfg.History.Max > 0 {
				// the tower's sample and dropout streams are keyed by
				// model.seed, which a resumed run shares (config hash)
				cfg2.Seed = cfg.Seed
			}
			c, _ := New(cfg2, info)
			if err := c.Load(snap); err != nil {
				t.Fatal(err)
			}
			for _, b := range bs[3:] {
				sa, _ := a.Step(ctx, b)
				sc, _ := c.Step(ctx, b)
				if sa.Loss != sc.Loss {
					t.Fatalf("resumed loss %v != %v", sc.Loss, sa.Loss)
				}
			}
			for i, ta := range a.State() {
				tc := c.State()[i]
				if ta.Name != tc.Name || !slices.Equal(ta.Data, tc.Data) {
					t.Fatalf("tensor %s differs after resume", ta.Name)
				}
			}
			if err := c.Load(snap[:1]); err == nil {
				t.Fatal("Load of partial state succeeded")
			}
		})
	}
}

func TestStepRejectsBadBatch(t *testing.T) {
	g, _ := graph.Build(2, 2, []graph.Edge{{User: 0, Item: 1}})
	m, err := New(model.Config{Model: "mf"}, model.Info{NumUsers: 2, NumItems: 2, Graph: g})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []*batch.Batch{
		{Query: []uint32{0}, Pos: []uint32{7}},
		{Query: []uint32{0}, Pos: []uint32{2, 3}},
		{Query: []uint32{0}, Pos: []uint32{2}, HardPer: 1},
	} {
		if _, err := m.Step(context.Background(), b); err == nil {
			t.Errorf("batch %+v accepted", b)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Step(ctx, &batch.Batch{}); err == nil {
		t.Error("cancelled context accepted")
	}
	if _, err := New(model.Config{Model: "lightgcn"}, model.Info{NumUsers: 2, NumItems: 2}); err == nil {
		t.Error("lightgcn without graph accepted")
	}
}
