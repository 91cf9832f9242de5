package consumer

import (
	"context"
	"fmt"
	"math"

	"github.com/trainerd/trainerd/consumer/optim"
	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/producer"
)

// normAdj is the symmetric normalised adjacency D^-½ A D^-½ of the
// bipartite training graph over global node ids, in CSR form. Rows are split
// into chunks of roughly equal edge counts once, so the parallel SpMM is
// balanced and its result independent of scheduling (each output row is
// written by exactly one goroutine, summing its edges in CSR order).
type normAdj struct {
	n      int
	ptr    []int32
	adj    []int32
	w      []float32
	chunks []int // row boundaries, len = parts+1
}

func newNormAdj(g *graph.Bipartite, threads int) (*normAdj, error) {
	if g == nil {
		return nil, fmt.Errorf("model needs the training graph (Info.Graph is nil)")
	}
	U, I := g.NumUsers, g.NumItems
	n := U + I
	e := g.NumEdges()
	if 2*e >= math.MaxInt32 {
		return nil, fmt.Errorf("graph: %d edges too many for int32 offsets", e)
	}
	a := &normAdj{n: n, ptr: make([]int32, n+1), adj: make([]int32, 0, 2*e), w: make([]float32, 0, 2*e)}
	inv := func(d int) float64 {
		if d == 0 {
			return 0
		}
		return 1 / math.Sqrt(float64(d))
	}
	for u := 0; u < U; u++ {
		du := inv(g.UserDegree(uint32(u)))
		for _, it := range g.ItemsOf(uint32(u)) {
			a.adj = append(a.adj, int32(U+int(it)))
			a.w = append(a.w, float32(du*inv(g.ItemDegree(it))))
		}
		a.ptr[u+1] = int32(len(a.adj))
	}
	for i := 0; i < I; i++ {
		di := inv(g.ItemDegree(uint32(i)))
		for _, u := range g.UsersOf(uint32(i)) {
			a.adj = append(a.adj, int32(u))
			a.w = append(a.w, float32(di*inv(g.UserDegree(u))))
		}
		a.ptr[U+i+1] = int32(len(a.adj))
	}
	// Balance chunks by edges + rows.
	parts := max(threads, 1) * 4
	total := len(a.adj) + n
	a.chunks = []int{0}
	next := total / parts
	for r := 0; r < n; r++ {
		if int(a.ptr[r+1])+r+1 >= next && len(a.chunks) < parts {
			a.chunks = append(a.chunks, r+1)
			next = total * len(a.chunks) / parts
		}
	}
	if a.chunks[len(a.chunks)-1] != n {
		a.chunks = append(a.chunks, n)
	}
	return a, nil
}

// spmm sets dst = Â·src for n×d row-major matrices (dst ≠ src).
func (a *normAdj) spmm(dst, src []float32, d, threads int) {
	parallelChunks(len(a.chunks)-1, threads, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			for r := a.chunks[c]; r < a.chunks[c+1]; r++ {
				o := dst[r*d : r*d+d : r*d+d]
				clear(o)
				for k := a.ptr[r]; k < a.ptr[r+1]; k++ {
					w := a.w[k]
					c := int(a.adj[k])
					x := src[c*d : c*d+d : c*d+d]
					// Plain loop: ~1 GFLOP/s per core here; memory bound.
					for i := range o {
						o[i] += w * x[i]
					}
				}
			}
		}
	})
}

// lightGCN is LightGCN: e^(k+1) = Â e^(k) over the whole bipartite training
// graph, final embedding = mean of layers 0..K; no weights, no activation.
// Since Â is symmetric, the backward pass is the same propagation applied
// to the output gradient. Every step propagates the full graph forward and
// backward (its cost: 2·K SpMMs over 2|E| entries), so big batches amortise
// it; the base table then receives a dense gradient (nonzero on nearly every
// row after K hops) and a dense optimiser update.
type lightGCN struct {
	*embedCore
	adj     *normAdj
	base    []float32 // E^(0), n × Dim
	final   []float32 // mean of layers
	grad    []float32 // dLoss/dfinal, then dLoss/dE^(0)
	cur, nx []float32 // propagation scratch
	acc     []float32
	opt     optim.Optimizer
}

func newLightGCN(cfg Config, info Info) (Model, error) {
	cfg = embedDefaults(cfg, "bpr")
	core, err := newEmbedCore("lightgcn", cfg, info, cfg.Dim)
	if err != nil {
		return nil, err
	}
	adj, err := newNormAdj(info.Graph, cfg.Threads)
	if err != nil {
		return nil, fmt.Errorf("lightgcn: %w", err)
	}
	if adj.n != core.n {
		return nil, fmt.Errorf("lightgcn: graph has %d nodes, info says %d", adj.n, core.n)
	}
	sz := core.n * cfg.Dim
	m := &lightGCN{embedCore: core, adj: adj, base: initNormal(sz, cfg.InitStd, cfg.Seed, 1),
		final: make([]float32, sz), grad: make([]float32, sz), cur: make([]float32, sz),
		nx: make([]float32, sz), acc: make([]float32, sz)}
	if m.opt, err = core.newOptimizer(core.n, cfg.Dim); err != nil {
		return nil, err
	}
	return m, nil
}

// propagate sets out = (1/(K+1)) Σ_{k=0..K} Â^k x. out may alias x.
func (m *lightGCN) propagate(out, x []float32) {
	d, K := m.cfg.Dim, m.cfg.Layers
	copy(m.cur, x)
	copy(m.acc, x)
	for k := 0; k < K; k++ {
		m.adj.spmm(m.nx, m.cur, d, m.cfg.Threads)
		m.cur, m.nx = m.nx, m.cur
		acc, cur := m.acc, m.cur
		parallelFor(len(acc), m.cfg.Threads, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				acc[i] += cur[i]
			}
		})
	}
	s := float32(1 / float64(K+1))
	acc := m.acc
	parallelFor(len(out), m.cfg.Threads, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = acc[i] * s
		}
	})
}

// Name implements Model.
func (m *lightGCN) Name() string { return m.name }

// Step implements Model.
func (m *lightGCN) Step(ctx context.Context, b *producer.Batch) (StepStats, error) {
	if err := ctx.Err(); err != nil {
		return StepStats{}, err
	}
	if err := m.check(b); err != nil {
		return StepStats{}, err
	}
	B := b.Size()
	if B == 0 {
		return StepStats{}, nil
	}
	m.propagate(m.final, m.base)
	l, g, err := m.loss.Compute(m.gather(b, m.final))
	if err != nil {
		return StepStats{}, fmt.Errorf("lightgcn: batch %d/%d: %w", b.Epoch, b.Index, err)
	}
	clear(m.grad)
	m.scatterDense(b, g, m.grad)
	m.propagate(m.grad, m.grad)
	l += m.l2(m.base, m.cfg.Dim, m.distinctRows(b), m.grad, false, B)
	m.opt.Update(m.base, nil, m.grad, m.lr())
	m.step++
	return StepStats{Loss: l, Examples: B}, nil
}

// Embed implements Model.
func (m *lightGCN) Embed(ctx context.Context) (*Embeddings, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.propagate(m.final, m.base)
	return m.embeddings(m.final), nil
}

// State implements Model.
func (m *lightGCN) State() []Tensor {
	st := []Tensor{{Name: "param/emb", Shape: []int{m.n, m.cfg.Dim}, Data: m.base}, m.stepTensor()}
	st = append(st, optTensors(m.opt.State("opt/emb"))...)
	return cloneTensors(st)
}

// Load implements Model.
func (m *lightGCN) Load(state []Tensor) error {
	if err := m.loadParams(state, map[string][]float32{"param/emb": m.base}); err != nil {
		return err
	}
	if err := m.opt.Load("opt/emb", optArrays(state)); err != nil {
		return fmt.Errorf("lightgcn: load: %w", err)
	}
	return nil
}
