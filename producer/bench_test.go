package producer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/dataset"
	"github.com/trainerd/trainerd/featurestore"
	"github.com/trainerd/trainerd/graph"
)

// benchGraph is a graph a benchmark runs on, built on first use.
type benchGraph struct {
	name string
	get  func(b *testing.B) *graph.Bipartite
}

// lazyGraph returns a benchGraph that builds g with build once and then
// keeps it.
func lazyGraph(name string, build func(b *testing.B) *graph.Bipartite) benchGraph {
	var g *graph.Bipartite
	return benchGraph{name, func(b *testing.B) *graph.Bipartite {
		if g == nil {
			g = build(b)
		}
		return g
	}}
}

// benchGraphs returns the graphs the benchmarks run on, each built on first
// use and kept for the sub-benchmarks of the calling benchmark only.
func benchGraphs() []benchGraph {
	return []benchGraph{
		lazyGraph("gen-gowalla", func(b *testing.B) *graph.Bipartite { return genGraph(b, 29858, 40981, 810000, 0.9, 1) }),
		lazyGraph("gen-20M", func(b *testing.B) *graph.Bipartite { return genGraph(b, 1_000_000, 500_000, 20_000_000, 0.9, 2) }),
		lazyGraph("gowalla", func(b *testing.B) *graph.Bipartite { return loadGowalla(b) }),
	}
}

// BenchmarkWalk measures single-core Pixie steps (item→user→item, two CSR
// row reads each) with the default α=0.5, 200 steps per query, one walk at a
// time (lanes=1) and in lockstep with 4, 8 and 16 lanes (the producers'
// default).
//
// "gen-2k" is a 2,000-edge graph whose CSR fits in L1: the walk's compute
// limit, against which the other graphs show what memory costs.
func BenchmarkWalk(b *testing.B) {
	graphs := append(benchGraphs(),
		lazyGraph("gen-2k", func(b *testing.B) *graph.Bipartite { return genGraph(b, 200, 200, 2000, 0.9, 1) }))
	for _, bg := range graphs {
		for _, lanes := range []int{1, 4, 8, maxLanes} {
			b.Run(fmt.Sprintf("%s/lanes=%d", bg.name, lanes), func(b *testing.B) {
				g := bg.get(b)
				b.Logf("%d users, %d items, %d edges", g.NumUsers, g.NumItems, g.NumEdges())
				w := newWalker(g)
				w.lanes = lanes
				r := newRNG(1)
				alphaT := restartThreshold(0.5)
				b.ResetTimer()
				t0 := time.Now()
				for i := 0; i < b.N; i++ {
					q := r.intn(uint32(g.NumItems))
					w.pixie(dataset.Item, q, false, alphaT, 200, 1<<30, -1, &r)
					w.reset()
				}
				el := time.Since(t0).Seconds()
				b.ReportMetric(float64(w.steps)/el, "steps/s")
				b.ReportMetric(2*float64(w.steps)/el, "hops/s")
				b.ReportMetric(float64(b.N)/el, "queries/s")
				b.ReportMetric(float64(w.steps)/float64(b.N), "steps/query")
			})
		}
	}
}

// BenchmarkRandomRowRead gives the two memory limits of a walk on this
// machine. "dependent" reads a uniformly random item row's offsets and one
// entry of it, each read's row depending on the previous entry like a walk
// hop does (the latency limit: one read in flight). "independent" reads rows
// the way a walk's hops reach them (an item row, then a user row, each drawn
// in proportion to its degree from a precomputed sample) and a random entry
// of each, but nothing depends on an earlier read, so the core keeps as many
// in flight as it can (the throughput limit). A walk step reads one row of
// each side, so no walker that reads a row per hop passes half the
// independent rate in steps/s.
func BenchmarkRandomRowRead(b *testing.B) {
	for _, bg := range benchGraphs() {
		for _, mode := range []string{"dependent", "independent"} {
			b.Run(bg.name+"/"+mode, func(b *testing.B) {
				g := bg.get(b)
				r := newRNG(2)
				const rows = 1000
				acc := uint32(0)
				var t0 time.Time
				if mode == "dependent" {
					ptr, adj := g.ItemPtr, g.ItemAdj
					n := uint32(g.NumItems)
					b.ResetTimer()
					t0 = time.Now()
					for i := 0; i < b.N; i++ {
						for k := 0; k < rows; k++ {
							row := (r.intn(n) + acc) % n
							s, e := ptr[row], ptr[row+1]
							if e > s {
								acc = adj[s+(e-s)/2] & 1
							}
						}
					}
				} else {
					// Rows in proportion to degree: the endpoints of random edges.
					const sample = 1 << 16
					items, users := make([]uint32, sample), make([]uint32, sample)
					for k := range items {
						items[k] = g.UserAdj[r.intn(uint32(len(g.UserAdj)))]
						users[k] = g.ItemAdj[r.intn(uint32(len(g.ItemAdj)))]
					}
					b.ResetTimer()
					t0 = time.Now()
					for i := 0; i < b.N; i++ {
						for k := 0; k < rows; k += 2 {
							x := r.next()
							j := (i*rows + k) & (sample - 1)
							it, us := items[j], users[j]
							s, e := g.ItemPtr[it], g.ItemPtr[it+1]
							acc += g.ItemAdj[s+uint32((x&0xffffffff)*uint64(e-s)>>32)]
							s, e = g.UserPtr[us], g.UserPtr[us+1]
							acc += g.UserAdj[s+uint32((x>>32)*uint64(e-s)>>32)]
						}
					}
				}
				el := time.Since(t0).Seconds()
				b.ReportMetric(float64(b.N)*rows/el, "rows/s")
				if acc == 7 {
					b.Log(acc)
				}
			})
		}
	}
}

// benchFeatures is a committed featurestore, opened as training opens it
// (feature cache on), holding dim-wide random item features for g's items.
func benchFeatures(b *testing.B, g *graph.Bipartite, dim int) *featurestore.Store {
	b.Helper()
	ds := &dataset.Dataset{Name: "bench", UserIDs: make([]string, g.NumUsers), ItemIDs: make([]string, g.NumItems)}
	for i := range ds.UserIDs {
		ds.UserIDs[i] = "u" + strconv.Itoa(i)
	}
	for i := range ds.ItemIDs {
		ds.ItemIDs[i] = "i" + strconv.Itoa(i)
	}
	ds.Train = []dataset.Interaction{{User: 0, Item: 0}}
	data := make([]float32, g.NumItems*dim)
	r := newRNG(7)
	for i := range data {
		data[i] = float32(r.intn(1000)) / 1000
	}
	ds.ItemFeatures = &dataset.Features{Schema: dataset.Schema{{Name: "x", Dim: dim, Derivation: "generated"}}, Data: data}
	dir := b.TempDir()
	if _, err := featurestore.Commit(context.Background(), dir, ds); err != nil {
		b.Fatal(err)
	}
	fs, err := featurestore.Open(dir, featurestore.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { fs.Close() })
	return fs
}

// BenchmarkMinibatch builds 2-layer, T=10, batch-512 PinSage minibatches
// with 500 shared negatives and 64-dim item features read from a
// committed featurestore (its feature cache on, as in training), without and with the
// per-epoch neighborhood cache, on one goroutine; "warm" has every
// neighborhood cached (the steady state of an epoch with the cache), and
// "warm-P2" runs the same through a Pipeline of two producers (the figure
// for a 2-core machine; batches/s counts delivered batches).
func BenchmarkMinibatch(b *testing.B) {
	for _, bg := range benchGraphs() {
		for _, mode := range []string{"nocache", "cache", "warm", "warm-P2"} {
			cache := mode != "nocache"
			name := bg.name + "/" + mode
			b.Run(name, func(b *testing.B) {
				g := bg.get(b)
				fs := benchFeatures(b, g, 64)
				cfg := Config{Seed: 1, BatchSize: 512, Layers: 2}
				cfg.Neighbors.T = 10
				cfg.Neighbors.Cache = cache
				cfg.Walk.Steps = 100
				cfg.Negatives.PoolSize = 500
				s, err := New(g, fs, cfg)
				if err != nil {
					b.Fatal(err)
				}
				if mode == "warm" || mode == "warm-P2" { // steady state: every neighborhood cached
					sc := s.getScratch()
					s.cache.acquire(0)
					ids, wts := make([]uint32, 10), make([]float32, 10)
					for v := 0; v < g.NumUsers+g.NumItems; v++ {
						s.neighborhood(sc, 0, 0, uint32(v), ids, wts)
					}
					s.cache.release()
					s.putScratch(sc)
				}
				if mode == "warm-P2" {
					benchPipeline(b, s, 2)
					return
				}
				var dst batch.Batch
				// Warm the scratch (and, with the cache, the epoch's
				// neighborhoods of the first batches) outside the timer.
				if err := s.Batch(0, 0, EpochParams{}, &dst); err != nil {
					b.Fatal(err)
				}
				nodes := 0
				st0 := s.Stats()
				b.ReportAllocs()
				b.ResetTimer()
				t0 := time.Now()
				for i := 0; i < b.N; i++ {
					if err := s.Batch(0, (i+1)%s.BatchesPerEpoch(), EpochParams{}, &dst); err != nil {
						b.Fatal(err)
					}
					nodes += len(dst.Layers[2])
				}
				el := time.Since(t0).Seconds()
				st := s.Stats()
				b.ReportMetric(float64(b.N)/el, "batches/s")
				b.ReportMetric(float64(nodes)/float64(b.N), "nodes/batch")
				b.ReportMetric(float64(st.Steps-st0.Steps)/float64(b.N), "steps/batch")
			})
		}
	}
}

// benchPipeline reports batches/s delivered by a Pipeline of P producers
// over epoch 0, restarting it at its end so the warm cache stays valid.
func benchPipeline(b *testing.B, s *Sampler, P int) {
	ctx := context.Background()
	pl := NewPipeline(ctx, s, P, 2*P, 0, 0, EpochParams{})
	defer func() { pl.Close() }()
	next := func() {
		bt, err := pl.Next(ctx)
		if errors.Is(err, io.EOF) {
			pl.Close()
			pl = NewPipeline(ctx, s, P, 2*P, 0, 0, EpochParams{})
			bt, err = pl.Next(ctx)
		}
		if err != nil {
			b.Fatal(err)
		}
		pl.Release(bt)
	}
	for i := 0; i < 2*P; i++ { // warm the scratch sets
		next()
	}
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		next()
	}
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "batches/s")
}
