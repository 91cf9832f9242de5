// Package sageref holds what checks the GPU PinSage (package cuda, build tag
// cuda) against the CPU one (consumer/sage). The two cannot live in one
// binary: consumer/sage's network is compiled out of -tags cuda builds (its
// package imports gorgonia, whose cuda files need cuDNN). So the command
// cuda/cmd/sageref, built without the tag, runs the CPU model on the cases
// of Cases and writes their batches, states, losses and embeddings to a
// file (Write); the device test of package cuda reads it (Read) and runs
// the GPU model on the same batches. Bench builds the batches both sides
// of the examples/s comparison time. This package imports neither.
package sageref

import (
	"encoding/gob"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/model"
)

// Case is one configuration with its data and, once the CPU model ran,
// the CPU's results.
type Case struct {
	Name   string
	Config model.Config
	// the data set: the graph's edges and the store's features
	NumUsers, NumItems         int
	Edges                      []graph.Edge
	UserFeatDim, ItemFeatDim   int
	UserFeatures, ItemFeatures []float32
	Batches                    []*batch.Batch

	// CPU results: the state before any step, after the first step (its
	// Adam first moments are 0.1 × the first gradients) and after the
	// last; the loss of every step; Embed after the last step.
	Initial, AfterFirst, Final []model.Tensor
	Losses                     []float64
	Users, Items               []float32
}

// File is what cuda/cmd/sageref writes.
type File struct {
	Cases []Case
}

// Info rebuilds the case's model.Info (graph and features).
func (c *Case) Info() (model.Info, error) {
	g, err := graph.Build(c.NumUsers, c.NumItems, c.Edges)
	if err != nil {
		return model.Info{}, fmt.Errorf("sageref: case %s: %w", c.Name, err)
	}
	return model.Info{NumUsers: c.NumUsers, NumItems: c.NumItems, Graph: g, UserFeatDim: c.UserFeatDim, ItemFeatDim: c.ItemFeatDim,
		UserFeatures: c.UserFeatures, ItemFeatures: c.ItemFeatures}, nil
}

// Write writes f to path (gob), through a temporary file renamed into
// place, so a failed write leaves no partial file.
func Write(path string, f *File) error {
	tmp := path + ".tmp"
	w, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("sageref: %w", err)
	}
	if err := gob.NewEncoder(w).Encode(f); err != nil {
		_ = w.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("sageref: encode %s: %w", path, err)
	}
	if err := w.Close(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("sageref: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("sageref: %w", err)
	}
	return nil
}

// Read reads what Write wrote.
func Read(path string) (*File, error) {
	r, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sageref: %w", err)
	}
	defer r.Close()
	var f File
	if err := gob.NewDecoder(r).Decode(&f); err != nil {
		return nil, fmt.Errorf("sageref: decode %s: %w", path, err)
	}
	if len(f.Cases) == 0 {
		return nil, fmt.Errorf("sageref: %s holds no cases", path)
	}
	return &f, nil
}

// Shape is the size of a generated batch: B examples, P pool negatives, H
// hard negatives per example, K hops of T slots.
type Shape struct{ B, P, H, K, T int }

// Cases are the comparison cases, without CPU results: small graphs, a few
// batches each, covering both aggregators, the three input kinds, every
// CUDA loss, in-batch negatives, L2 and cosine scoring.
func Cases() []Case {
	type spec struct {
		name  string
		cfg   model.Config
		shape Shape
		feat  bool
	}
	specs := []spec{
		{"importance-id-margin-l2", model.Config{Model: "pinsage", Dim: 16, Hidden: 32, Layers: 2, Aggregator: "importance", Inputs: "id",
			Loss: "margin", Margin: 0.1, L2: 1e-3, Normalize: true}, Shape{B: 32, P: 24, H: 1, K: 2, T: 5}, false},
		{"mean-both-softmax-inbatch", model.Config{Model: "pinsage", Dim: 8, Hidden: 16, Layers: 1, Aggregator: "mean", Inputs: "both",
			Loss: "softmax", Temperature: 0.2, InBatch: true, Normalize: true}, Shape{B: 24, P: 16, K: 1, T: 4}, true},
		{"importance-features-bpr", model.Config{Model: "pinsage", Dim: 16, Hidden: 16, Layers: 2, Aggregator: "importance", Inputs: "features",
			Loss: "bpr"}, Shape{B: 20, P: 12, H: 2, K: 2, T: 3}, true},
		{"importance-id-sgns-3layers", model.Config{Model: "pinsage", Dim: 8, Hidden: 24, Layers: 3, Aggregator: "importance", Inputs: "id",
			Loss: "sgns"}, Shape{B: 16, P: 10, K: 3, T: 3}, false},
	}
	var cs []Case
	for i, s := range specs {
		seed := uint64(11 + i)
		cfg := s.cfg
		cfg.Optimizer, cfg.LR, cfg.Seed, cfg.Threads, cfg.InitStd = "adam", 0.01, seed, 1, 0.1
		cfg.LRSchedule, cfg.DecayRate = "constant", 0.1
		U, I := 60, 80
		g, edges := Graph(U, I, 600, seed)
		c := Case{Name: s.name, Config: cfg, NumUsers: U, NumItems: I, Edges: edges}
		rng := rand.New(rand.NewPCG(seed, 17))
		if s.feat {
			c.UserFeatDim, c.ItemFeatDim = 6, 5
			c.UserFeatures = normals(rng, U*6)
			c.ItemFeatures = normals(rng, I*5)
		}
		for j := 0; j < 4; j++ {
			b := NewBatch(g, rng, s.shape, j)
			if s.feat {
				b.Feat, b.FeatDim = Features(&c, b.Layers[len(b.Layers)-1]), c.UserFeatDim+c.ItemFeatDim
			}
			c.Batches = append(c.Batches, b)
		}
		cs = append(cs, c)
	}
	return cs
}

func normals(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// Graph makes a bipartite graph with skewed item popularity and returns it
// with its edges.
func Graph(users, items, edges int, seed uint64) (*graph.Bipartite, []graph.Edge) {
	rng := rand.New(rand.NewPCG(seed, 99))
	es := make([]graph.Edge, edges)
	for i := range es {
		u := uint32(rng.IntN(users))
		f := rng.Float64()
		it := uint32(f * f * float64(items)) // squaring skews towards popular items
		es[i] = graph.Edge{User: u, Item: min(it, uint32(items-1))}
	}
	g, err := graph.Build(users, items, es)
	if err != nil {
		panic(fmt.Sprintf("sageref: generated graph: %v", err)) // the generator's own bug, not input
	}
	return g, es
}

// Features assembles the feature rows of nodes as the producer does (user
// columns then item columns, zeros on the other side).
func Features(c *Case, nodes []uint32) []float32 {
	du, di := c.UserFeatDim, c.ItemFeatDim
	fd := du + di
	f := make([]float32, len(nodes)*fd)
	U := uint32(c.NumUsers)
	for r, id := range nodes {
		row := f[r*fd : (r+1)*fd]
		if id < U {
			copy(row[:du], c.UserFeatures[int(id)*du:int(id+1)*du])
		} else {
			i := int(id - U)
			copy(row[du:], c.ItemFeatures[i*di:(i+1)*di])
		}
	}
	return f
}

// NewBatch draws a user_item batch the way the producer lays it out: B
// train edges, P distinct pool items, H hard items per example, the
// collision masks, and K hops of T slots whose neighbours are random
// graph neighbours with random importance weights summing to 1 (a node
// with fewer than T neighbours leaves slots empty: weight 0, pointing at
// itself).
func NewBatch(g *graph.Bipartite, rng *rand.Rand, s Shape, index int) *batch.Batch {
	U := g.NumUsers
	b := &batch.Batch{Index: index, HardPer: s.H, T: s.T}
	for len(b.Query) < s.B {
		u := uint32(rng.IntN(U))
		its := g.ItemsOf(u)
		if len(its) == 0 {
			continue
		}
		b.Query = append(b.Query, u)
		b.Pos = append(b.Pos, batch.GlobalItem(U, its[rng.IntN(len(its))]))
	}
	for _, it := range rng.Perm(g.NumItems)[:min(s.P, g.NumItems)] {
		b.Neg = append(b.Neg, batch.GlobalItem(U, uint32(it)))
	}
	for i := 0; i < s.B*s.H; i++ {
		b.Hard = append(b.Hard, batch.GlobalItem(U, uint32(rng.IntN(g.NumItems))))
	}
	AddMasks(g, b)
	targets, idx := model.Targets(b.Query, b.Pos, b.Neg, b.Hard)
	b.QueryIdx, b.PosIdx, b.NegIdx, b.HardIdx = idx[0], idx[1], idx[2], idx[3]
	nbrs := func(node uint32, nbr []uint32, w []float32) int {
		var adj []uint32
		off := uint32(0)
		if int(node) < U {
			adj, off = g.ItemsOf(node), uint32(U)
		} else {
			adj = g.UsersOf(node - uint32(U))
		}
		n := min(len(adj), len(nbr))
		var sum float32
		for s := 0; s < n; s++ {
			nbr[s] = adj[rng.IntN(len(adj))] + off
			w[s] = 0.1 + rng.Float32()
			sum += w[s]
		}
		for s := 0; s < n; s++ {
			w[s] /= sum
		}
		return n
	}
	b.Layers, b.NbrIdx, b.NbrW = model.Hops(targets, s.K, s.T, nbrs)
	return b
}

// AddMasks sets b's NegMask and InMask by brute force as batch.Batch
// defines them for user_item batches: example j masks every pool slot and
// every other example whose item is a train item of Query[j] (its own
// positive included, wherever it occurs in the pool); InMask segments are
// sorted and distinct.
func AddMasks(g *graph.Bipartite, b *batch.Batch) {
	U := g.NumUsers
	slots := map[uint32][]int32{}
	for s, v := range b.Neg {
		slots[v] = append(slots[v], int32(s))
	}
	holders := map[uint32][]int32{}
	for k, v := range b.Pos {
		holders[v] = append(holders[v], int32(k))
	}
	b.NegMask, b.NegMaskPtr = nil, []int32{0}
	b.InMask, b.InMaskPtr = nil, []int32{0}
	for j, u := range b.Query {
		start := len(b.InMask)
		for _, it := range g.ItemsOf(u) {
			v := batch.GlobalItem(U, it)
			b.NegMask = append(b.NegMask, slots[v]...)
			for _, k := range holders[v] {
				if int(k) != j {
					b.InMask = append(b.InMask, k)
				}
			}
		}
		// distinct, as batch.Batch requires (a user may hold an item twice)
		slices.Sort(b.InMask[start:])
		seg := slices.Compact(b.InMask[start:])
		b.InMask = b.InMask[:start+len(seg)]
		b.NegMaskPtr = append(b.NegMaskPtr, int32(len(b.NegMask)))
		b.InMaskPtr = append(b.InMaskPtr, int32(len(b.InMask)))
	}
	// NegMask rows must be distinct too: dedupe each example's slots
	out := b.NegMask[:0:0]
	ptr := []int32{0}
	for j := 0; j+1 < len(b.NegMaskPtr); j++ {
		seg := slices.Clone(b.NegMask[b.NegMaskPtr[j]:b.NegMaskPtr[j+1]])
		slices.Sort(seg)
		out = append(out, slices.Compact(seg)...)
		ptr = append(ptr, int32(len(out)))
	}
	b.NegMask, b.NegMaskPtr = out, ptr
}

// Bench is the Gowalla-shaped workload of the PinSage examples/s
// comparison (29858 users, 40981 items, 810128 edges; 2 layers, T=10,
// dim 64, hidden 128, batches of 512 with a pool of 500, max-margin loss):
// its config, info and n batches.
func Bench(n int) (model.Config, model.Info, []*batch.Batch) {
	const users, items, edges = 29858, 40981, 810128
	g, _ := Graph(users, items, edges, 3)
	cfg := model.Config{Model: "pinsage", Dim: 64, Hidden: 128, Layers: 2, Aggregator: "importance", Inputs: "id",
		Loss: "margin", Margin: 0.1, Normalize: true, Optimizer: "adam", LR: 0.001, Seed: 1, InitStd: 0.1,
		LRSchedule: "constant", DecayRate: 0.1}
	rng := rand.New(rand.NewPCG(5, 512))
	bs := make([]*batch.Batch, n)
	for i := range bs {
		bs[i] = NewBatch(g, rng, Shape{B: 512, P: 500, K: 2, T: 10}, i)
	}
	return cfg, model.Info{NumUsers: users, NumItems: items, Graph: g}, bs
}
