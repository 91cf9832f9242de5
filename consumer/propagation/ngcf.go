package propagation

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/consumer/embedcore"
	"github.com/trainerd/trainerd/consumer/optim"
	"github.com/trainerd/trainerd/internal/parallel"
	"github.com/trainerd/trainerd/linalg"
	"github.com/trainerd/trainerd/model"
	"github.com/trainerd/trainerd/modelspec"
)

// ngcfSlope is the LeakyReLU negative slope of NGCF (as in the paper's code).
const ngcfSlope = 0.2

// ngcf is Neural Graph Collaborative Filtering over the whole training
// graph:
//
//	E^(l+1) = LeakyReLU( (Â E^(l) + E^(l)) W1_l + (Â E^(l) ⊙ E^(l)) W2_l + b_l )
//
// with Â = D^-½ A D^-½ ((L+I)E = ÂE + E), and the final embedding the
// concatenation [E^(0) … E^(K)] of width Dim·(K+1). Gradients are written by
// hand (TestNGCFGradientNumeric checks them against float64 finite differences).
// Message dropout and the per-layer L2 normalisation of the reference code
// are not implemented. Weights of layer l are stored as rows of one
// K·(2·Dim+1) × Dim matrix: W1_l (Dim rows), W2_l (Dim rows), b_l (1 row).
type ngcf struct {
	*embedcore.Core
	adj   *normAdj
	d, K  int
	base  []float32 // E^(0), n×d
	w     []float32 // K·(2d+1) × d
	E     [][]float32
	A     [][]float32
	Z     [][]float32
	final []float32 // n × d(K+1)
	gF    []float32
	// backward scratch, n×d each
	dE, dZ, s, t, p, r []float32
	gBase, gW          []float32
	optE, optW         optim.Optimizer
}

// NewNGCF builds NGCF over info.Graph.
func NewNGCF(cfg model.Config, info model.Info) (model.Model, error) {
	cfg = embedcore.Defaults(cfg, modelspec.NGCF, model.Info{})
	d, K := cfg.Dim, cfg.Layers
	core, err := embedcore.NewCore(modelspec.NGCF, cfg, info, d*(K+1))
	if err != nil {
		return nil, err
	}
	adj, err := newNormAdj(info.Graph, cfg.Threads)
	if err != nil {
		return nil, fmt.Errorf("ngcf: %w", err)
	}
	if adj.n != core.N {
		return nil, fmt.Errorf("ngcf: graph has %d nodes, info says %d", adj.n, core.N)
	}
	n := core.N
	m := &ngcf{Core: core, adj: adj, d: d, K: K, base: embedcore.InitNormal(n*d, cfg.InitStd, cfg.Seed, 1),
		w: make([]float32, K*(2*d+1)*d), final: make([]float32, n*d*(K+1)), gF: make([]float32, n*d*(K+1))}
	rng := rand.New(rand.NewPCG(cfg.Seed, 2))
	bound := math.Sqrt(6 / float64(2*d)) // Xavier uniform
	for l := 0; l < K; l++ {
		for i := range 2 * d * d {
			m.w[l*(2*d+1)*d+i] = float32((rng.Float64()*2 - 1) * bound)
		}
	}
	m.E = make([][]float32, K+1)
	m.E[0] = m.base
	for l := 1; l <= K; l++ {
		m.E[l] = make([]float32, n*d)
	}
	m.A = make([][]float32, K)
	m.Z = make([][]float32, K)
	for l := 0; l < K; l++ {
		m.A[l] = make([]float32, n*d)
		m.Z[l] = make([]float32, n*d)
	}
	for _, b := range []*[]float32{&m.dE, &m.dZ, &m.s, &m.t, &m.p, &m.r, &m.gBase} {
		*b = make([]float32, n*d)
	}
	m.gW = make([]float32, len(m.w))
	if m.optE, err = core.NewOptimizer(n, d); err != nil {
		return nil, err
	}
	if m.optW, err = core.NewOptimizer(K*(2*d+1), d); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *ngcf) w1(l int) []float32 { o := l * (2*m.d + 1) * m.d; return m.w[o : o+m.d*m.d] }
func (m *ngcf) w2(l int) []float32 {
	o := l*(2*m.d+1)*m.d + m.d*m.d
	return m.w[o : o+m.d*m.d]
}
func (m *ngcf) bias(l int) []float32 {
	o := l*(2*m.d+1)*m.d + 2*m.d*m.d
	return m.w[o : o+m.d]
}

// forward computes every layer and the concatenated output m.final.
func (m *ngcf) forward() {
	n, d, th := m.N, m.d, m.Cfg.Threads
	for l := 0; l < m.K; l++ {
		E, A, Z := m.E[l], m.A[l], m.Z[l]
		m.adj.spmm(A, E, d, th)
		s, t := m.s, m.t
		parallel.Chunks(n*d, th, minParallel, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				s[i] = A[i] + E[i]
				t[i] = A[i] * E[i]
			}
		})
		linalg.Sgemm(false, false, n, d, d, 1, s, d, m.w1(l), d, 0, Z, d)
		linalg.Sgemm(false, false, n, d, d, 1, t, d, m.w2(l), d, 1, Z, d)
		b, next := m.bias(l), m.E[l+1]
		parallel.Chunks(n, th, minParallel, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				z := Z[r*d : r*d+d]
				o := next[r*d : r*d+d]
				for i := range z {
					z[i] += b[i]
					if z[i] > 0 {
						o[i] = z[i]
					} else {
						o[i] = ngcfSlope * z[i]
					}
				}
			}
		})
	}
	w := d * (m.K + 1)
	parallel.Chunks(n, th, minParallel, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			for l := 0; l <= m.K; l++ {
				copy(m.final[r*w+l*d:r*w+l*d+d], m.E[l][r*d:r*d+d])
			}
		}
	})
}

// backward maps m.gF (dLoss/dfinal) to m.gBase (dLoss/dE^(0)) and m.gW.
// forward must have run on the current parameters.
func (m *ngcf) backward() {
	n, d, th, K := m.N, m.d, m.Cfg.Threads, m.K
	w := d * (K + 1)
	gF := m.gF
	block := func(dst []float32, l int) { // dst = gF[:, l]
		parallel.Chunks(n, th, minParallel, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				copy(dst[r*d:r*d+d], gF[r*w+l*d:r*w+l*d+d])
			}
		})
	}
	block(m.dE, K)
	for l := K - 1; l >= 0; l-- {
		E, A, Z := m.E[l], m.A[l], m.Z[l]
		dE, dZ, s, t := m.dE, m.dZ, m.s, m.t
		parallel.Chunks(n*d, th, minParallel, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				if Z[i] > 0 {
					dZ[i] = dE[i]
				} else {
					dZ[i] = ngcfSlope * dE[i]
				}
				s[i] = A[i] + E[i]
				t[i] = A[i] * E[i]
			}
		})
		o := l * (2*d + 1) * d
		linalg.Sgemm(true, false, d, d, n, 1, s, d, dZ, d, 0, m.gW[o:o+d*d], d)
		linalg.Sgemm(true, false, d, d, n, 1, t, d, dZ, d, 0, m.gW[o+d*d:o+2*d*d], d)
		gb := m.gW[o+2*d*d : o+2*d*d+d]
		clear(gb)
		for r := 0; r < n; r++ { // fixed order: deterministic
			for i, v := range dZ[r*d : r*d+d] {
				gb[i] += v
			}
		}
		p, rr := m.p, m.r
		linalg.Sgemm(false, true, n, d, d, 1, dZ, d, m.w1(l), d, 0, p, d)
		linalg.Sgemm(false, true, n, d, d, 1, dZ, d, m.w2(l), d, 0, rr, d)
		// dA = P + R⊙E (into t); direct dE = P + R⊙A (into s).
		parallel.Chunks(n*d, th, minParallel, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				t[i] = p[i] + rr[i]*E[i]
				s[i] = p[i] + rr[i]*A[i]
			}
		})
		m.adj.spmm(dE, t, d, th) // Â symmetric: dE = Âᵀ dA
		block(p, l)
		parallel.Chunks(n*d, th, minParallel, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				dE[i] += s[i] + p[i]
			}
		})
	}
	copy(m.gBase, m.dE)
}

// Step implements Model.
func (m *ngcf) Step(ctx context.Context, b *batch.Batch) (model.StepStats, error) {
	B, err := m.Begin(ctx, b)
	if err != nil || B == 0 {
		return model.StepStats{}, err
	}
	m.forward()
	m.ApplyMargin(m.Loss)
	l, g, err := m.Loss.Compute(m.Gather(b, m.final))
	if err != nil {
		return model.StepStats{}, fmt.Errorf("ngcf: batch %d/%d: %w", b.Epoch, b.Index, err)
	}
	clear(m.gF)
	m.ScatterDense(b, g, m.gF)
	m.backward()
	l += m.L2(m.base, m.d, m.DistinctRows(b), m.gBase, false, B)
	lr := m.LR()
	m.optE.Update(m.base, nil, m.gBase, lr)
	m.optW.Update(m.w, nil, m.gW, lr)
	m.Steps++
	return model.StepStats{Loss: l, Examples: B}, nil
}

// Embed implements Model: the concatenated layers, width Dim·(Layers+1).
func (m *ngcf) Embed(ctx context.Context) (*model.Embeddings, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.forward()
	return m.Embeddings(m.final), nil
}

// State implements Model.
func (m *ngcf) State() []model.Tensor {
	st := []model.Tensor{
		{Name: "param/emb", Shape: []int{m.N, m.d}, Data: m.base},
		{Name: "param/weights", Shape: []int{m.K * (2*m.d + 1), m.d}, Data: m.w},
		m.StepTensor(),
	}
	st = append(st, embedcore.OptTensors(m.optE.State("opt/emb"))...)
	st = append(st, embedcore.OptTensors(m.optW.State("opt/weights"))...)
	return embedcore.CloneTensors(st)
}

// Load implements Model.
func (m *ngcf) Load(state []model.Tensor) error {
	if err := m.LoadParams(state, map[string][]float32{"param/emb": m.base, "param/weights": m.w}); err != nil {
		return err
	}
	arr := embedcore.OptArrays(state)
	if err := m.optE.Load("opt/emb", arr); err != nil {
		return fmt.Errorf("ngcf: load: %w", err)
	}
	if err := m.optW.Load("opt/weights", arr); err != nil {
		return fmt.Errorf("ngcf: load: %w", err)
	}
	return nil
}
