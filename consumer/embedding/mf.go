package embedding

import (
	"context"
	"fmt"
	"slices"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/consumer/embedcore"
	"github.com/trainerd/trainerd/consumer/optim"
	"github.com/trainerd/trainerd/model"
	"github.com/trainerd/trainerd/modelspec"
)

// tableModel is one id-embedding table over all global nodes (users
// 0..U-1, then items), scored by dot product or cosine, updated with sparse
// (lazy) row updates: matrix factorisation and DeepWalk share it.
type tableModel struct {
	*embedcore.Core
	table []float32 // (U+I) × Dim
	opt   optim.Optimizer
	// tower is SimpleX's behaviour aggregation and dropout on the user
	// side (MF only; nil for plain MF).
	tower *userTower
}

// NewMF builds matrix factorisation: user and item vectors (the user rows
// and item rows of one global table), default loss bpr.
func NewMF(cfg model.Config, info model.Info) (model.Model, error) {
	return newTableModel(modelspec.MF, embedcore.Defaults(cfg, modelspec.MF, model.Info{}), info)
}

func newTableModel(name string, cfg model.Config, info model.Info) (*tableModel, error) {
	core, err := embedcore.NewCore(name, cfg, info, cfg.Dim)
	if err != nil {
		return nil, err
	}
	m := &tableModel{Core: core}
	m.table = embedcore.InitNormal(core.N*cfg.Dim, cfg.InitStd, cfg.Seed, 1)
	if m.opt, err = core.NewOptimizer(core.N, cfg.Dim); err != nil {
		return nil, err
	}
	if spec, _ := modelspec.Lookup(name); spec.UserTower {
		if m.tower, err = newUserTower(cfg, info, core.NewOptimizer); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return m, nil
}

// Step implements Model: gather, loss, scatter per distinct row, sparse
// optimiser update of those rows only.
func (m *tableModel) Step(ctx context.Context, b *batch.Batch) (model.StepStats, error) {
	B, err := m.Begin(ctx, b)
	if err != nil || B == 0 {
		return model.StepStats{}, err
	}
	m.ApplyMargin(m.Loss)
	in := m.Gather(b, m.table)
	trainTower := m.tower != nil && m.tower.trains()
	if trainTower {
		if err := m.tower.forward(b.Query, m.table, in.Q, m.Steps); err != nil {
			return model.StepStats{}, fmt.Errorf("%s: batch %d/%d: %w", m.Name(), b.Epoch, b.Index, err)
		}
	}
	l, g, err := m.Loss.Compute(in)
	if err != nil {
		return model.StepStats{}, fmt.Errorf("%s: batch %d/%d: %w", m.Name(), b.Epoch, b.Index, err)
	}
	var hist embedcore.GroupedGrad
	if trainTower {
		hist = m.tower.backward(g.Q, B)
	}
	rows, rowGrad := m.ScatterSparse(b, g, hist)
	l += m.L2(m.table, m.OutDim, rows, rowGrad, true, B)
	lr := m.LR()
	m.opt.Update(m.table, rows, rowGrad, lr)
	if trainTower {
		m.tower.update(lr)
	}
	m.Steps++
	return model.StepStats{Loss: l, Examples: B}, nil
}

// Embed implements Model.
func (m *tableModel) Embed(ctx context.Context) (*model.Embeddings, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if m.tower == nil {
		return m.Embeddings(m.table), nil
	}
	F := slices.Clone(m.table)
	m.tower.users(F[:m.NumUsers*m.OutDim], m.table)
	return m.Embeddings(F), nil
}

// State implements Model.
func (m *tableModel) State() []model.Tensor {
	st := []model.Tensor{{Name: "param/emb", Shape: []int{m.N, m.OutDim}, Data: m.table}, m.StepTensor()}
	st = append(st, embedcore.OptTensors(m.opt.State("opt/emb"))...)
	if m.tower != nil && m.tower.M != nil {
		d := m.OutDim
		st = append(st, model.Tensor{Name: "param/hist_m", Shape: []int{d, d}, Data: m.tower.M})
		st = append(st, embedcore.OptTensors(m.tower.mOpt.State("opt/hist_m"))...)
	}
	return embedcore.CloneTensors(st)
}

// Load implements Model.
func (m *tableModel) Load(state []model.Tensor) error {
	params := map[string][]float32{"param/emb": m.table}
	if m.tower != nil && m.tower.M != nil {
		params["param/hist_m"] = m.tower.M
	}
	if err := m.LoadParams(state, params); err != nil {
		return err
	}
	if err := m.opt.Load("opt/emb", embedcore.OptArrays(state)); err != nil {
		return fmt.Errorf("%s: load: %w", m.Name(), err)
	}
	if m.tower != nil && m.tower.mOpt != nil {
		if err := m.tower.mOpt.Load("opt/hist_m", embedcore.OptArrays(state)); err != nil {
			return fmt.Errorf("%s: load: %w", m.Name(), err)
		}
	}
	return nil
}
