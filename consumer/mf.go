package consumer

import (
	"context"
	"fmt"
	"slices"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/consumer/optim"
	"github.com/trainerd/trainerd/model"
	"github.com/trainerd/trainerd/modelspec"
)

// tableModel is one id-embedding table over all global nodes (users
// 0..U-1, then items), scored by dot product or cosine, updated with sparse
// (lazy) row updates: matrix factorisation and DeepWalk share it.
type tableModel struct {
	*embedCore
	table []float32 // (U+I) × Dim
	opt   optim.Optimizer
	// tower is SimpleX's behaviour aggregation and dropout on the user
	// side (MF only; nil for plain MF).
	tower *userTower
}

// newMF builds matrix factorisation: user and item vectors (the user rows
// and item rows of one global table), default loss bpr.
func newMF(cfg model.Config, info model.Info) (model.Model, error) {
	return newTableModel(modelspec.MF, embedDefaults(cfg, modelspec.MF), info)
}

func newTableModel(name string, cfg model.Config, info model.Info) (*tableModel, error) {
	core, err := newEmbedCore(name, cfg, info, cfg.Dim)
	if err != nil {
		return nil, err
	}
	m := &tableModel{embedCore: core}
	m.table = initNormal(core.n*cfg.Dim, cfg.InitStd, cfg.Seed, 1)
	if m.opt, err = core.newOptimizer(core.n, cfg.Dim); err != nil {
		return nil, err
	}
	if spec, _ := modelspec.Lookup(name); spec.UserTower {
		if m.tower, err = newUserTower(cfg, info, core.newOptimizer); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return m, nil
}

// Name implements Model.
func (m *tableModel) Name() string { return m.name }

// Step implements Model: gather, loss, scatter per distinct row, sparse
// optimiser update of those rows only.
func (m *tableModel) Step(ctx context.Context, b *batch.Batch) (model.StepStats, error) {
	if err := ctx.Err(); err != nil {
		return model.StepStats{}, err
	}
	if err := m.check(b); err != nil {
		return model.StepStats{}, err
	}
	B := b.Size()
	if B == 0 {
		return model.StepStats{}, nil
	}
	m.applyMargin(m.loss)
	in := m.gather(b, m.table)
	trainTower := m.tower != nil && m.tower.trains()
	if trainTower {
		if err := m.tower.forward(b.Query, m.table, in.Q, m.step); err != nil {
			return model.StepStats{}, fmt.Errorf("%s: batch %d/%d: %w", m.name, b.Epoch, b.Index, err)
		}
	}
	l, g, err := m.loss.Compute(in)
	if err != nil {
		return model.StepStats{}, fmt.Errorf("%s: batch %d/%d: %w", m.name, b.Epoch, b.Index, err)
	}
	var hist groupedGrad
	if trainTower {
		hist = m.tower.backward(g.Q, B)
	}
	m.scatterSparse(b, g, hist)
	l += m.l2(m.table, m.outDim, m.rows, m.rowGrad, true, B)
	lr := m.lr()
	m.opt.Update(m.table, m.rows, m.rowGrad, lr)
	if trainTower {
		m.tower.update(lr)
	}
	m.step++
	return model.StepStats{Loss: l, Examples: B}, nil
}

// Embed implements Model.
func (m *tableModel) Embed(ctx context.Context) (*model.Embeddings, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if m.tower == nil {
		return m.embeddings(m.table), nil
	}
	F := slices.Clone(m.table)
	m.tower.users(F[:m.numUsers*m.outDim], m.table)
	return m.embeddings(F), nil
}

// State implements Model.
func (m *tableModel) State() []model.Tensor {
	st := []model.Tensor{{Name: "param/emb", Shape: []int{m.n, m.outDim}, Data: m.table}, m.stepTensor()}
	st = append(st, optTensors(m.opt.State("opt/emb"))...)
	if m.tower != nil && m.tower.M != nil {
		d := m.outDim
		st = append(st, model.Tensor{Name: "param/hist_m", Shape: []int{d, d}, Data: m.tower.M})
		st = append(st, optTensors(m.tower.mOpt.State("opt/hist_m"))...)
	}
	return cloneTensors(st)
}

// Load implements Model.
func (m *tableModel) Load(state []model.Tensor) error {
	params := map[string][]float32{"param/emb": m.table}
	if m.tower != nil && m.tower.M != nil {
		params["param/hist_m"] = m.tower.M
	}
	if err := m.loadParams(state, params); err != nil {
		return err
	}
	if err := m.opt.Load("opt/emb", optArrays(state)); err != nil {
		return fmt.Errorf("%s: load: %w", m.name, err)
	}
	if m.tower != nil && m.tower.mOpt != nil {
		if err := m.tower.mOpt.Load("opt/hist_m", optArrays(state)); err != nil {
			return fmt.Errorf("%s: load: %w", m.name, err)
		}
	}
	return nil
}
