//go:build cuda && cudadevice

package cuda

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/consumer"
	"github.com/trainerd/trainerd/cuda/probe"
	"github.com/trainerd/trainerd/cuda/sageref"
	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/internal/testfixture"
	"github.com/trainerd/trainerd/model"
	"github.com/trainerd/trainerd/modelspec"
)

// synthGraph makes a bipartite graph with skewed item popularity.
func synthGraph(tb testing.TB, users, items, edges int, seed uint64) *graph.Bipartite {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, 99))
	es := make([]graph.Edge, edges)
	for i := range es {
		u := uint32(rng.IntN(users))
		// squaring a uniform skews towards low item ids (popular items)
		f := rng.Float64()
		it := uint32(f * f * float64(items))
		es[i] = graph.Edge{User: u, Item: min(it, uint32(items-1))}
	}
	g, err := graph.Build(users, items, es)
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

// synthBatch draws B (user, item) edges, P shared negatives and H hard
// negatives per example, with the producer's user_item collision masks
// (addMasks).
func synthBatch(g *graph.Bipartite, rng *rand.Rand, B, P, H, index int) *batch.Batch {
	U := g.NumUsers
	b := &batch.Batch{Index: index, HardPer: H}
	for len(b.Query) < B {
		u := uint32(rng.IntN(U))
		its := g.ItemsOf(u)
		if len(its) == 0 {
			continue
		}
		b.Query = append(b.Query, u)
		b.Pos = append(b.Pos, batch.GlobalItem(U, its[rng.IntN(len(its))]))
	}
	for i := 0; i < P; i++ {
		b.Neg = append(b.Neg, batch.GlobalItem(U, uint32(rng.IntN(g.NumItems))))
	}
	for i := 0; i < B*H; i++ {
		b.Hard = append(b.Hard, batch.GlobalItem(U, uint32(rng.IntN(g.NumItems))))
	}
	sageref.AddMasks(g, b)
	return b
}

func tensor(tb testing.TB, st []model.Tensor, name string) []float32 {
	tb.Helper()
	for _, t := range st {
		if t.Name == name {
			return t.Data
		}
	}
	tb.Fatalf("state has no %s", name)
	return nil
}

func TestModelsMatchCPU(t *testing.T) {
	dev := testDevice(t)
	g := synthGraph(t, 300, 500, 4000, 1)
	info := model.Info{NumUsers: g.NumUsers, NumItems: g.NumItems, Graph: g}
	for _, tc := range []model.Config{
		{Model: "mf", Dim: 32, Loss: "bpr", Seed: 7, Threads: 1},
		{Model: "mf", Dim: 24, Loss: "softmax", Temperature: 0.2, L2: 1e-3, InBatch: true, Seed: 8, Threads: 1},
		{Model: "mf", Dim: 16, Loss: "margin", Normalize: true, Seed: 9, Threads: 1},
		{Model: "lightgcn", Dim: 32, Layers: 2, Loss: "bpr", L2: 1e-4, Seed: 10, Threads: 1},
		{Model: "lightgcn", Dim: 16, Layers: 3, Loss: "softmax", Temperature: 0.1, Seed: 11, Threads: 1},
	} {
		t.Run(fmt.Sprintf("%s-%s-l2=%v-inbatch=%v-cos=%v", tc.Model, tc.Loss, tc.L2, tc.InBatch, tc.Normalize), func(t *testing.T) {
			ctx := context.Background()
			cpu, err := consumer.New(tc, info)
			if err != nil {
				t.Fatal(err)
			}
			gm, err := New(dev, tc, info)
			if err != nil {
				t.Fatal(err)
			}
			defer gm.Close()
			// Same initial parameters by construction; assert it.
			assertClose(t, "initial table", tensor(t, gm.State(), "param/emb"), to64(tensor(t, cpu.State(), "param/emb")))
			rng := rand.New(rand.NewPCG(tc.Seed, 5))
			batches := make([]*batch.Batch, 6)
			var negMasked, inMasked int
			for i := range batches {
				batches[i] = synthBatch(g, rng, 64, 40, (i+1)%2, i) // hard negatives on even batches; the first is the largest, so every next one fits and is prefetched
				negMasked += len(batches[i].NegMask)
				inMasked += len(batches[i].InMask)
			}
			// The comparison only proves the GPU honours the masks if
			// there are some.
			if negMasked == 0 || inMasked == 0 {
				t.Fatalf("synthetic batches mask %d pool and %d in-batch negatives; want some of each", negMasked, inMasked)
			}
			for i, b := range batches {
				var next *batch.Batch
				if i+1 < len(batches) {
					next = batches[i+1]
				}
				cs, err := cpu.Step(ctx, b)
				if err != nil {
					t.Fatal(err)
				}
				gs, err := gm.StepNext(ctx, b, next)
				if err != nil {
					t.Fatal(err)
				}
				if gs.Examples != cs.Examples || math.Abs(gs.Loss-cs.Loss) > 1e-4*math.Max(1, math.Abs(cs.Loss)) {
					t.Fatalf("step %d: gpu %+v, cpu %+v", i, gs, cs)
				}
			}
			if tm := gm.Timing(); tm.Steps != len(batches) || tm.Prefetched != len(batches)-1 {
				t.Fatalf("timing %+v: want %d steps, %d prefetched", tm, len(batches), len(batches)-1)
			}
			gst, cst := gm.State(), cpu.State()
			for _, name := range []string{"param/emb", "opt/emb/adam_m", "opt/emb/adam_v", "opt/emb/adam_steps"} {
				assertClose(t, name, tensor(t, gst, name), to64(tensor(t, cst, name)))
			}
			ge, err := gm.Embed(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ce, err := cpu.Embed(ctx)
			if err != nil {
				t.Fatal(err)
			}
			assertClose(t, "user embeddings", ge.Users, to64(ce.Users))
			assertClose(t, "item embeddings", ge.Items, to64(ce.Items))
			// Load round trip: a second GPU model continues identically.
			g2, err := New(dev, tc, info)
			if err != nil {
				t.Fatal(err)
			}
			defer g2.Close()
			if err := g2.Load(gst); err != nil {
				t.Fatal(err)
			}
			b := synthBatch(g, rng, 64, 40, 0, 99)
			s1, err := gm.Step(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			s2, err := g2.Step(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(s1.Loss-s2.Loss) > 1e-6*math.Max(1, math.Abs(s1.Loss)) {
				t.Fatalf("after Load: loss %v vs %v", s2.Loss, s1.Loss)
			}
		})
	}
}

// New builds exactly the models probe.CUDAModels lists, the list the CPU
// trainerd uses to decide whether to hand a run over to trainerd-cuda.
func TestNewBuildsExactlyProbeModels(t *testing.T) {
	dev := testDevice(t)
	g := synthGraph(t, 20, 30, 100, 3)
	info := model.Info{NumUsers: 20, NumItems: 30, Graph: g}
	for _, name := range []string{"mf", "deepwalk", "lightgcn", "ngcf", "graphsage", "pinsage"} {
		t.Run(name, func(t *testing.T) {
			m, err := New(dev, model.Config{Model: name, Dim: 8, Layers: 1, Loss: "bpr", Seed: 1, Threads: 1}, info)
			if want := probe.HasCUDAConsumer(name); (err == nil) != want {
				t.Fatalf("New(%s): err %v, probe.HasCUDAConsumer %v", name, err, want)
			}
			if err == nil {
				if m.Name() != name {
					t.Errorf("built %q, want %q", m.Name(), name)
				}
				if err := m.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestModelRejectsBadBatch(t *testing.T) {
	dev := testDevice(t)
	g := synthGraph(t, 20, 30, 100, 2)
	m, err := NewMF(dev, model.Config{Model: "mf", Dim: 8}, model.Info{NumUsers: 20, NumItems: 30, Graph: g})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, b := range []*batch.Batch{
		{Query: []uint32{1}, Pos: []uint32{50}},             // id out of range
		{Query: []uint32{1, 2}, Pos: []uint32{25}},          // length mismatch
		{Query: []uint32{1}, Pos: []uint32{25}, HardPer: 1}, // missing hard
		// mask past the pool (it would index scores out of bounds)
		{Query: []uint32{1}, Pos: []uint32{25}, Neg: []uint32{22}, NegMask: []int32{1}, NegMaskPtr: []int32{0, 1}},
		// mask without offsets
		{Query: []uint32{1}, Pos: []uint32{25}, Neg: []uint32{22}, NegMask: []int32{0}},
	} {
		if _, err := m.Step(context.Background(), b); err == nil {
			t.Errorf("batch %+v accepted", b)
		}
	}
}

// gowallaShape is the LightGCN split of Gowalla.
const gowallaUsers, gowallaItems, gowallaEdges = 29858, 40981, 810128

// loadGowalla is the graph of gowalla/train.txt in the shared data
// directory (testfixture.DataDir), or nil when the file is absent.
func loadGowalla(tb testing.TB) *graph.Bipartite {
	p := filepath.Join(testfixture.DataDir(tb), "gowalla", "train.txt")
	sp, err := testfixture.ReadLightGCN(p)
	if errors.Is(err, fs.ErrNotExist) {
		tb.Logf("real Gowalla skipped: %v", err)
		return nil
	}
	if err != nil {
		tb.Fatal(err)
	}
	g, err := graph.Build(sp.Users, sp.Items, sp.Edges)
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

// BenchmarkStep measures examples/s of one training step, GPU (with and
// without prefetching the next batch) and the CPU consumer in the same
// process, on Gowalla-shaped synthetic data (and real Gowalla when
// TRAINERD_DATA points at the data dir).
func BenchmarkStep(b *testing.B) {
	dev := testDevice(b)
	type data struct {
		name string
		g    *graph.Bipartite
	}
	sets := []data{{"synthetic-gowalla", synthGraph(b, gowallaUsers, gowallaItems, gowallaEdges, 3)}}
	if g := loadGowalla(b); g != nil {
		sets = append(sets, data{"gowalla", g})
	}
	cpuOK := os.Getenv("TRAINERD_BENCH_CPU") != "0"
	for _, ds := range sets {
		info := model.Info{NumUsers: ds.g.NumUsers, NumItems: ds.g.NumItems, Graph: ds.g}
		for _, mname := range []string{"mf", "lightgcn"} {
			for _, B := range []int{512, 2048, 8192} {
				cfg := model.Config{Model: mname, Dim: 64, Layers: 3, Loss: "bpr", Seed: 1}
				rng := rand.New(rand.NewPCG(1, uint64(B)))
				batches := make([]*batch.Batch, 16)
				for i := range batches {
					batches[i] = synthBatch(ds.g, rng, B, 256, 0, i)
				}
				for _, mode := range []string{"gpu", "gpu-prefetch", "cpu"} {
					if mode == "cpu" && (!cpuOK || (mname == "lightgcn" && B > 2048)) {
						continue
					}
					b.Run(fmt.Sprintf("%s/%s/B=%d/%s", ds.name, mname, B, mode), func(b *testing.B) {
						ctx := context.Background()
						var m model.Model
						var gm Model
						var err error
						if mode == "cpu" {
							m, err = consumer.New(cfg, info)
						} else {
							gm, err = New(dev, cfg, info)
							m = gm
						}
						if err != nil {
							b.Fatal(err)
						}
						if gm != nil {
							defer gm.Close()
						}
						// warm up (module JIT, first allocation)
						if _, err := m.Step(ctx, batches[0]); err != nil {
							b.Fatal(err)
						}
						var t0 Timing
						if gm != nil {
							t0 = gm.Timing()
						}
						start := time.Now()
						b.ResetTimer()
						for i := 0; i < b.N; i++ {
							cur := batches[i%len(batches)]
							var err error
							if mode == "gpu-prefetch" {
								_, err = gm.StepNext(ctx, cur, batches[(i+1)%len(batches)])
							} else {
								_, err = m.Step(ctx, cur)
							}
							if err != nil {
								b.Fatal(err)
							}
						}
						b.StopTimer()
						el := time.Since(start).Seconds()
						b.ReportMetric(float64(b.N*B)/el, "examples/s")
						if gm != nil {
							t1 := gm.Timing()
							d := Timing{Steps: t1.Steps - t0.Steps, Step: t1.Step - t0.Step, CopyWait: t1.CopyWait - t0.CopyWait}
							b.ReportMetric(d.WaitFraction(), "copywait-frac")
							b.ReportMetric(float64(d.Step.Microseconds())/float64(max(d.Steps, 1)), "gpu-us/step")
						}
					})
				}
			}
		}
	}
}

// TestBuildersCoverCUDASpecs checks that the GPU constructors are exactly
// the models modelspec marks CUDA.
func TestBuildersCoverCUDASpecs(t *testing.T) {
	b := builders()
	for _, s := range modelspec.All() {
		if (b[s.Name] != nil) != s.CUDA {
			t.Errorf("model %s: GPU constructor %v, spec CUDA %v", s.Name, b[s.Name] != nil, s.CUDA)
		}
	}
}
