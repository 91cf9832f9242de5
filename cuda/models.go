//go:build cuda

package cuda

import (
	"context"
	"fmt"
	"strings"

	"gorgonia.org/cu"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/consumer/embedcore"
	"github.com/trainerd/trainerd/cuda/probe"
	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/model"
	"github.com/trainerd/trainerd/modelspec"
)

// Model is a model.Model trained on the GPU.
type Model interface {
	model.Model
	// StepNext is Step(b) that also stages next (the batch the caller will
	// pass to its following Step/StepNext) into the other upload buffer
	// while the GPU works on b. next may be nil.
	StepNext(ctx context.Context, b, next *batch.Batch) (model.StepStats, error)
	// Timing returns the device timings accumulated so far.
	Timing() Timing
	// Close frees the model's device memory (not the Device).
	Close() error
}

// builders maps each CUDA model of modelspec (Spec.CUDA) to its GPU
// constructor; TestBuildersCoverCUDASpecs checks the two agree.
func builders() map[string]func(*Device, model.Config, model.Info) (Model, error) {
	return map[string]func(*Device, model.Config, model.Info) (Model, error){
		modelspec.MF:       func(d *Device, c model.Config, i model.Info) (Model, error) { return NewMF(d, c, i) },
		modelspec.LightGCN: func(d *Device, c model.Config, i model.Info) (Model, error) { return NewLightGCN(d, c, i) },
		modelspec.PinSage:  func(d *Device, c model.Config, i model.Info) (Model, error) { return NewPinSage(d, c, i) },
	}
}

// New builds the GPU model cfg.Model names on dev: one of
// probe.CUDAModels() (the modelspec specs with CUDA set). Every other model
// trains on CPU only.
func New(dev *Device, cfg model.Config, info model.Info) (Model, error) {
	if !probe.HasCUDAConsumer(cfg.Model) {
		return nil, fmt.Errorf("model.name: %q has no CUDA implementation (want one of %s); it trains on CPU with the default trainerd binary",
			cfg.Model, strings.Join(probe.CUDAModels(), ", "))
	}
	if build, ok := builders()[cfg.Model]; ok {
		return build(dev, cfg, info)
	}
	return nil, fmt.Errorf("model.name: %q is listed by probe.CUDAModels but cuda.New does not build it", cfg.Model)
}

// MF is matrix factorisation on the GPU, the same model as consumer's mf:
// one global (users then items) table, sparse Adam on the rows a batch
// touches.
type MF struct {
	*embedGPU
}

// NewMF builds MF on dev.
func NewMF(dev *Device, cfg model.Config, info model.Info) (*MF, error) {
	e, err := newEmbedGPU(dev, modelspec.MF, embedcore.Defaults(cfg, modelspec.MF, model.Info{}), info)
	if err != nil {
		return nil, err
	}
	return &MF{e}, nil
}

// Name implements model.Model.
func (m *MF) Name() string { return m.name }

// Step implements model.Model.
func (m *MF) Step(ctx context.Context, b *batch.Batch) (model.StepStats, error) {
	return m.StepNext(ctx, b, nil)
}

// StepNext implements Model.
func (m *MF) StepNext(ctx context.Context, b, next *batch.Batch) (model.StepStats, error) {
	return m.run(ctx, b, next, func(sl *slot, st cu.Stream) (int, error) {
		k, s, d := m.dev.Kernels, sl.shape, m.d
		R := s.Rows()
		if err := k.GatherRows(st, m.x, m.table, sl.ids, R, d); err != nil {
			return 0, err
		}
		if err := m.loss.Enqueue(st, m.x, m.g, s, sl.masks); err != nil {
			return 0, err
		}
		if err := cu.MemsetD32Async(m.rowGrad.Ptr, 0, int64(sl.nRows*d), st); err != nil {
			return 0, fmt.Errorf("cuda: zero row gradients: %w", err)
		}
		if err := k.ScatterAddRows(st, m.rowGrad, m.g, sl.pos, R, d, 1); err != nil {
			return 0, err
		}
		n, err := m.l2(sl, st, m.rowGrad, true)
		if err != nil {
			return 0, err
		}
		p := m.adam
		p.LR = m.lr()
		return n, k.SparseAdam(st, m.table, m.m, m.v, m.steps, sl.rows, m.rowGrad, sl.nRows, d, p)
	})
}

// Embed implements model.Model.
func (m *MF) Embed(ctx context.Context) (*model.Embeddings, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	F, err := m.download(m.table)
	if err != nil {
		return nil, fmt.Errorf("mf (cuda): embed: %w", err)
	}
	return m.embeddings(F), nil
}

// State implements model.Model.
func (m *MF) State() []model.Tensor {
	st, err := m.state()
	if err != nil {
		return nil
	}
	return st
}

// Load implements model.Model.
func (m *MF) Load(state []model.Tensor) error { return m.load(state) }

// Close implements Model.
func (m *MF) Close() error { return m.close() }

// LightGCN is consumer's lightgcn on the GPU: every step propagates the
// whole graph (K CSR SpMMs), takes the loss on the mean of the layers,
// propagates the gradient back (Â is symmetric) and applies a dense Adam
// update to the base table.
type LightGCN struct {
	*embedGPU
	adj                       CSR
	graphMem                  *Arena
	final, grad, cur, nx, acc F32
}

// NewLightGCN builds LightGCN on dev.
func NewLightGCN(dev *Device, cfg model.Config, info model.Info) (*LightGCN, error) {
	cfg = embedcore.Defaults(cfg, modelspec.LightGCN, model.Info{})
	na, err := graph.NormalizedAdjacency(info.Graph)
	if err != nil {
		return nil, fmt.Errorf("lightgcn (cuda): %w", err)
	}
	ptr, col, val := na.Ptr, na.Col, na.Val
	if len(ptr)-1 != info.NumUsers+info.NumItems {
		return nil, fmt.Errorf("lightgcn (cuda): graph has %d nodes, info says %d", len(ptr)-1, info.NumUsers+info.NumItems)
	}
	e, err := newEmbedGPU(dev, modelspec.LightGCN, cfg, info)
	if err != nil {
		return nil, err
	}
	m := &LightGCN{embedGPU: e}
	n, d := e.n, e.d
	err = dev.Do(func() error {
		var err error
		bytes := int64(4*(len(ptr)+2*len(col)) + 4*5*n*d + 16*arenaAlign)
		if m.graphMem, err = NewArena(bytes); err != nil {
			return err
		}
		a := m.graphMem
		m.adj.N = n
		if m.adj.Ptr, err = a.I32(len(ptr)); err != nil {
			return err
		}
		if m.adj.Col, err = a.I32(len(col)); err != nil {
			return err
		}
		if m.adj.Val, err = a.F32(len(val)); err != nil {
			return err
		}
		for _, b := range []*F32{&m.final, &m.grad, &m.cur, &m.nx, &m.acc} {
			if *b, err = a.F32(n * d); err != nil {
				return err
			}
		}
		if err := UploadI32(m.adj.Ptr, ptr); err != nil {
			return err
		}
		if err := UploadI32(m.adj.Col, col); err != nil {
			return err
		}
		return UploadF32(m.adj.Val, val)
	})
	if err != nil {
		_ = m.Close()
		return nil, fmt.Errorf("lightgcn (cuda): %w", err)
	}
	return m, nil
}

// propagate enqueues out = (1/(K+1)) Σ_{k=0..K} Â^k x; out may alias x.
func (m *LightGCN) propagate(st cu.Stream, out, x F32) error {
	k, n := m.dev.Kernels, m.n*m.d
	if err := k.Axpby(st, m.cur, x, n, 1, 0); err != nil {
		return err
	}
	if err := k.Axpby(st, m.acc, x, n, 1, 0); err != nil {
		return err
	}
	cur, nx := m.cur, m.nx
	for l := 0; l < m.cfg.Layers; l++ {
		if err := k.SpMM(st, nx, m.adj, cur, m.d, 1, 0); err != nil {
			return err
		}
		cur, nx = nx, cur
		if err := k.Axpby(st, m.acc, cur, n, 1, 1); err != nil {
			return err
		}
	}
	return k.Axpby(st, out, m.acc, n, float32(1/float64(m.cfg.Layers+1)), 0)
}

// Name implements model.Model.
func (m *LightGCN) Name() string { return m.name }

// Step implements model.Model.
func (m *LightGCN) Step(ctx context.Context, b *batch.Batch) (model.StepStats, error) {
	return m.StepNext(ctx, b, nil)
}

// StepNext implements Model.
func (m *LightGCN) StepNext(ctx context.Context, b, next *batch.Batch) (model.StepStats, error) {
	return m.run(ctx, b, next, func(sl *slot, st cu.Stream) (int, error) {
		k, s, d := m.dev.Kernels, sl.shape, m.d
		R := s.Rows()
		if err := m.propagate(st, m.final, m.table); err != nil {
			return 0, err
		}
		if err := k.GatherRows(st, m.x, m.final, sl.ids, R, d); err != nil {
			return 0, err
		}
		if err := m.loss.Enqueue(st, m.x, m.g, s, sl.masks); err != nil {
			return 0, err
		}
		if err := cu.MemsetD32Async(m.grad.Ptr, 0, int64(m.grad.N), st); err != nil {
			return 0, fmt.Errorf("cuda: zero gradient: %w", err)
		}
		if err := k.ScatterAddRows(st, m.grad, m.g, sl.ids, R, d, 1); err != nil {
			return 0, err
		}
		if err := m.propagate(st, m.grad, m.grad); err != nil {
			return 0, err
		}
		n, err := m.l2(sl, st, m.grad, false)
		if err != nil {
			return 0, err
		}
		p := m.adam
		p.LR = m.lr()
		return n, k.SparseAdam(st, m.table, m.m, m.v, m.steps, I32{}, m.grad, m.n, d, p)
	})
}

// Embed implements model.Model.
func (m *LightGCN) Embed(ctx context.Context) (*model.Embeddings, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := m.dev.Do(func() error { return m.propagate(m.dev.Compute, m.final, m.table) }); err != nil {
		return nil, fmt.Errorf("lightgcn (cuda): embed: %w", err)
	}
	F, err := m.download(m.final)
	if err != nil {
		return nil, fmt.Errorf("lightgcn (cuda): embed: %w", err)
	}
	return m.embeddings(F), nil
}

// State implements model.Model.
func (m *LightGCN) State() []model.Tensor {
	st, err := m.state()
	if err != nil {
		return nil
	}
	return st
}

// Load implements model.Model.
func (m *LightGCN) Load(state []model.Tensor) error { return m.load(state) }

// Close implements Model.
func (m *LightGCN) Close() error {
	err := m.dev.Do(func() error {
		if m.graphMem != nil {
			err := m.graphMem.Free()
			m.graphMem = nil
			return err
		}
		return nil
	})
	if cerr := m.close(); err == nil {
		err = cerr
	}
	return err
}
