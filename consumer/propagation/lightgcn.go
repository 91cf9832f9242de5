package propagation

import (
	"context"
	"fmt"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/consumer/embedcore"
	"github.com/trainerd/trainerd/consumer/optim"
	"github.com/trainerd/trainerd/model"
	"github.com/trainerd/trainerd/modelspec"
)

// lightGCN is LightGCN: e^(k+1) = Â e^(k) over the whole bipartite training
// graph, final embedding = mean of layers 0..K; no weights, no activation.
// Since Â is symmetric, the backward pass is the same propagation applied
// to the output gradient. Every step propagates the full graph forward and
// backward (its cost: 2·K SpMMs over 2|E| entries, see spmm.go; the first
// backward layer reads only the edges of the batch's rows, where the seed
// gradient is nonzero), so big batches amortise it; the base table then
// receives a dense gradient (nonzero on nearly every row after K hops) and
// a dense optimiser update.
type lightGCN struct {
	*embedcore.Core
	adj     *normAdj
	base    []float32 // E^(0), n × Dim
	final   []float32 // mean of layers
	grad    []float32 // dLoss/dfinal, then dLoss/dE^(0)
	cur, nx []float32 // propagation scratch
	acc     []float32
	nz      []bool // rows of the batch, set only during the backward pass
	opt     optim.Optimizer
}

// NewLightGCN builds LightGCN over info.Graph.
func NewLightGCN(cfg model.Config, info model.Info) (model.Model, error) {
	cfg = embedcore.Defaults(cfg, modelspec.LightGCN, model.Info{})
	core, err := embedcore.NewCore(modelspec.LightGCN, cfg, info, cfg.Dim)
	if err != nil {
		return nil, err
	}
	adj, err := newNormAdj(info.Graph, cfg.Threads)
	if err != nil {
		return nil, fmt.Errorf("lightgcn: %w", err)
	}
	if adj.n != core.N {
		return nil, fmt.Errorf("lightgcn: graph has %d nodes, info says %d", adj.n, core.N)
	}
	sz := core.N * cfg.Dim
	m := &lightGCN{Core: core, adj: adj, base: embedcore.InitNormal(sz, cfg.InitStd, cfg.Seed, 1),
		final: make([]float32, sz), grad: make([]float32, sz), cur: make([]float32, sz),
		nx: make([]float32, sz), acc: make([]float32, sz), nz: make([]bool, core.N)}
	if m.opt, err = core.NewOptimizer(core.N, cfg.Dim); err != nil {
		return nil, err
	}
	return m, nil
}

// propagate sets out = (1/(K+1)) Σ_{k=0..K} Â^k x. out may alias x. nz,
// when not nil, marks the only rows where x may be nonzero (see
// normAdj.meanPropagate).
func (m *lightGCN) propagate(out, x []float32, nz []bool) {
	m.adj.meanPropagate(out, x, m.cur, m.nx, m.acc, nz, m.Cfg.Dim, m.Cfg.Layers, m.Cfg.Threads)
}

// Step implements Model.
func (m *lightGCN) Step(ctx context.Context, b *batch.Batch) (model.StepStats, error) {
	B, err := m.Begin(ctx, b)
	if err != nil || B == 0 {
		return model.StepStats{}, err
	}
	m.propagate(m.final, m.base, nil)
	m.ApplyMargin(m.Loss)
	l, g, err := m.Loss.Compute(m.Gather(b, m.final))
	if err != nil {
		return model.StepStats{}, fmt.Errorf("lightgcn: batch %d/%d: %w", b.Epoch, b.Index, err)
	}
	clear(m.grad)
	m.ScatterDense(b, g, m.grad)
	// The seed gradient is nonzero only on the batch's rows; the first
	// backward layer reads only their edges.
	rows := m.DistinctRows(b)
	for _, r := range rows {
		m.nz[r] = true
	}
	m.propagate(m.grad, m.grad, m.nz)
	for _, r := range rows {
		m.nz[r] = false
	}
	l += m.L2(m.base, m.Cfg.Dim, rows, m.grad, false, B)
	m.opt.Update(m.base, nil, m.grad, m.LR())
	m.Steps++
	return model.StepStats{Loss: l, Examples: B}, nil
}

// Embed implements Model.
func (m *lightGCN) Embed(ctx context.Context) (*model.Embeddings, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.propagate(m.final, m.base, nil)
	return m.Embeddings(m.final), nil
}

// State implements Model.
func (m *lightGCN) State() []model.Tensor {
	st := []model.Tensor{{Name: "param/emb", Shape: []int{m.N, m.Cfg.Dim}, Data: m.base}, m.StepTensor()}
	st = append(st, embedcore.OptTensors(m.opt.State("opt/emb"))...)
	return embedcore.CloneTensors(st)
}

// Load implements Model.
func (m *lightGCN) Load(state []model.Tensor) error {
	if err := m.LoadParams(state, map[string][]float32{"param/emb": m.base}); err != nil {
		return err
	}
	if err := m.opt.Load("opt/emb", embedcore.OptArrays(state)); err != nil {
		return fmt.Errorf("lightgcn: load: %w", err)
	}
	return nil
}
