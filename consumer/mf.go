package consumer

import (
	"context"
	"fmt"

	"github.com/trainerd/trainerd/consumer/optim"
	"github.com/trainerd/trainerd/producer"
)

// tableModel is one id-embedding table over all global nodes (users
// 0..U-1, then items), scored by dot product or cosine, updated with sparse
// (lazy) row updates: matrix factorisation and DeepWalk share it.
type tableModel struct {
	*embedCore
	table []float32 // (U+I) × Dim
	opt   optim.Optimizer
}

// newMF builds matrix factorisation: user and item vectors (the user rows
// and item rows of one global table), default loss bpr.
func newMF(cfg Config, info Info) (Model, error) {
	return newTableModel("mf", embedDefaults(cfg, "bpr"), info)
}

func newTableModel(name string, cfg Config, info Info) (*tableModel, error) {
	core, err := newEmbedCore(name, cfg, info, cfg.Dim)
	if err != nil {
		return nil, err
	}
	m := &tableModel{embedCore: core}
	m.table = initNormal(core.n*cfg.Dim, cfg.InitStd, cfg.Seed, 1)
	if m.opt, err = core.newOptimizer(core.n, cfg.Dim); err != nil {
		return nil, err
	}
	return m, nil
}

// Name implements Model.
func (m *tableModel) Name() string { return m.name }

// Step implements Model: gather, loss, scatter per distinct row, sparse
// optimiser update of those rows only.
func (m *tableModel) Step(ctx context.Context, b *producer.Batch) (StepStats, error) {
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
	m.applyMargin(m.loss)
	l, g, err := m.loss.Compute(m.gather(b, m.table))
	if err != nil {
		return StepStats{}, fmt.Errorf("%s: batch %d/%d: %w", m.name, b.Epoch, b.Index, err)
	}
	m.scatterSparse(b, g)
	l += m.l2(m.table, m.outDim, m.rows, m.rowGrad, true, B)
	m.opt.Update(m.table, m.rows, m.rowGrad, m.lr())
	m.step++
	return StepStats{Loss: l, Examples: B}, nil
}

// Embed implements Model.
func (m *tableModel) Embed(ctx context.Context) (*Embeddings, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return m.embeddings(m.table), nil
}

// State implements Model.
func (m *tableModel) State() []Tensor {
	st := []Tensor{{Name: "param/emb", Shape: []int{m.n, m.outDim}, Data: m.table}, m.stepTensor()}
	st = append(st, optTensors(m.opt.State("opt/emb"))...)
	return cloneTensors(st)
}

// Load implements Model.
func (m *tableModel) Load(state []Tensor) error {
	if err := m.loadParams(state, map[string][]float32{"param/emb": m.table}); err != nil {
		return err
	}
	if err := m.opt.Load("opt/emb", optArrays(state)); err != nil {
		return fmt.Errorf("%s: load: %w", m.name, err)
	}
	return nil
}
