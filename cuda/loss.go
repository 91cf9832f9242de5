//go:build cuda

package cuda

import (
	"fmt"

	"gorgonia.org/cu"
)

// LossConfig mirrors consumer/loss.Config.
type LossConfig struct {
	Kind        LossKind
	Margin      float32
	Temperature float32
	InBatch     bool
	Cosine      bool
}

// LossShape is the shape of one loss evaluation: B examples, a shared pool
// of P negatives, H hard negatives per example, dimension D.
type LossShape struct{ B, P, H, D int }

// Rows is the number of input rows: Q (B), Pos (B), Pool (P), Hard (B·H).
func (s LossShape) Rows() int { return 2*s.B + s.P + s.B*s.H }

// fits reports whether s fits in capacity c.
func (s LossShape) fits(c LossShape) bool {
	return s.B <= c.B && s.P <= c.P && s.H <= c.H && s.D == c.D
}

// RankLoss evaluates consumer/loss's ranking losses on the device. Inputs
// and gradients are contiguous row blocks [Q | Pos | Pool | Hard] of one
// buffer each (so a single gather fills the inputs and a single scatter
// consumes the gradients). Its buffers come from an Arena at construction.
// The batch's collision masks (Masks) remove false negatives per example
// as on the CPU: masked scores are set to consumer/loss's sentinel
// (MaskScore) after the score GEMMs and counted out of |N_j|.
type RankLoss struct {
	cfg LossConfig
	cap LossShape
	k   *Kernels

	sPool, sIn, sPos, sHard F32
	nmasked                 I32 // per example: distinct masked pool and in-batch columns
	rowLoss                 F64
	xn, inv                 F32 // cosine: normalised inputs and inverse norms
}

// NewRankLoss takes its scratch buffers for shapes up to capacity from a.
func NewRankLoss(k *Kernels, a *Arena, cfg LossConfig, capacity LossShape) (*RankLoss, error) {
	if cfg.Kind == LossSoftmax && !(cfg.Temperature > 0) {
		return nil, fmt.Errorf("cuda: softmax temperature %v must be > 0", cfg.Temperature)
	}
	c := capacity
	l := &RankLoss{cfg: cfg, cap: c, k: k}
	var err error
	take := func(dst *F32, n int) {
		if err == nil {
			*dst, err = a.F32(n)
		}
	}
	take(&l.sPool, c.B*c.P)
	take(&l.sPos, c.B)
	take(&l.sHard, c.B*c.H)
	if cfg.InBatch {
		take(&l.sIn, c.B*c.B)
	}
	if cfg.Cosine {
		take(&l.xn, c.Rows()*c.D)
		take(&l.inv, c.Rows())
	}
	if err == nil {
		l.nmasked, err = a.I32(c.B)
	}
	if err == nil {
		l.rowLoss, err = a.F64(c.B)
	}
	if err != nil {
		return nil, err
	}
	return l, nil
}

// RowLoss is the device buffer of per-example losses of the last Forward.
func (l *RankLoss) RowLoss() F64 { return l.rowLoss }

// parts splits a [Q | Pos | Pool | Hard] buffer.
func parts(x F32, s LossShape) (q, pos, pool, hard F32) {
	d := s.D
	o := 0
	q = x.Slice(o, o+s.B*d)
	o += s.B * d
	pos = x.Slice(o, o+s.B*d)
	o += s.B * d
	pool = x.Slice(o, o+s.P*d)
	o += s.P * d
	hard = x.Slice(o, o+s.B*s.H*d)
	return
}

// Masks are a batch's collision masks on the device, in batch.Batch's
// (and consumer/loss.Inputs') CSR form: example j does not use the pool
// rows Neg[NegPtr[j]:NegPtr[j+1]] nor, in-batch, the positives of the
// examples In[InPtr[j]:InPtr[j+1]] as negatives. A pointer list with N == 0
// means no mask of that kind; otherwise it has B+1 entries. Entries are not
// checked on the device: callers validate them on the host (see
// batch.Batch.CheckMasks). The zero Masks masks nothing.
type Masks struct {
	Neg, NegPtr I32
	In, InPtr   I32
}

// Enqueue computes, on stream st, the per-example losses into RowLoss()
// and the gradient of the mean loss with respect to x into g (same layout,
// overwritten). The mean loss is Σ RowLoss / B, summed on the host in row
// order (as consumer/loss does). m removes masked pool and (in-batch only)
// in-batch columns from each example's negatives exactly as consumer/loss
// does: no loss term, zero gradient, not counted in |N_j|.
func (l *RankLoss) Enqueue(st cu.Stream, x, g F32, s LossShape, m Masks) error {
	if !s.fits(l.cap) {
		return fmt.Errorf("cuda: loss shape %+v exceeds capacity %+v", s, l.cap)
	}
	n := s.Rows() * s.D
	if err := need("loss x", x.N, n); err != nil {
		return err
	}
	if err := need("loss g", g.N, n); err != nil {
		return err
	}
	if s.B == 0 {
		return nil
	}
	k, B, P, H, D := l.k, s.B, s.P, s.H, s.D
	in := x.Slice(0, n)
	if l.cfg.Cosine {
		if err := k.L2NormForward(st, l.xn, l.inv, in, s.Rows(), D); err != nil {
			return err
		}
		in = l.xn.Slice(0, n)
	}
	q, pos, pool, hard := parts(in, s)
	gq, gpos, gpool, ghard := parts(g, s)
	sPool := l.sPool.Slice(0, B*P)
	sHard := l.sHard.Slice(0, B*H)
	sPos := l.sPos.Slice(0, B)
	var sIn F32
	steps := []func() error{
		func() error { return k.Sgemm(st, false, true, B, P, D, 1, q, D, pool, D, 0, sPool, max(P, 1)) },
		func() error { return k.GroupDot(st, sPos, q, pos, B, 1, D) },
		func() error { return k.GroupDot(st, sHard, q, hard, B, H, D) },
	}
	if l.cfg.InBatch {
		sIn = l.sIn.Slice(0, B*B)
		steps = append(steps, func() error { return k.Sgemm(st, false, true, B, B, D, 1, q, D, pos, D, 0, sIn, B) })
	}
	// Masks overwrite scores of the finished score GEMMs (same stream) and
	// count the masked columns into nmasked; the first mask launched
	// assigns the counts, a second adds to them.
	maskNeg, maskIn := m.NegPtr.N > 0, l.cfg.InBatch && m.InPtr.N > 0
	var nmasked I32 // N == 0: no mask, rank_loss_rows gets NULL
	if maskNeg || maskIn {
		nmasked = l.nmasked.Slice(0, B)
	}
	if maskNeg {
		steps = append(steps, func() error { return k.MaskScores(st, sPool, nmasked, m.NegPtr, m.Neg, B, P, max(P, 1), false) })
	}
	if maskIn {
		steps = append(steps, func() error { return k.MaskScores(st, sIn, nmasked, m.InPtr, m.In, B, B, B, maskNeg) })
	}
	steps = append(steps,
		func() error {
			return k.RankLossRows(st, l.rowLoss, sPos, sPool, sIn, sHard, nmasked, B, P, H, l.cfg.Kind, l.cfg.Margin, l.cfg.Temperature)
		},
		// dQ = G_pool·Pool ; dPool = G_poolᵀ·Q
		func() error { return k.Sgemm(st, false, false, B, D, P, 1, sPool, max(P, 1), pool, D, 0, gq, D) },
		func() error { return k.Sgemm(st, true, false, P, D, B, 1, sPool, max(P, 1), q, D, 0, gpool, D) },
	)
	if l.cfg.InBatch {
		steps = append(steps,
			func() error { return k.Sgemm(st, false, false, B, D, B, 1, sIn, B, pos, D, 1, gq, D) },
			func() error { return k.Sgemm(st, true, false, B, D, B, 1, sIn, B, q, D, 0, gpos, D) },
		)
	}
	steps = append(steps,
		func() error { return k.GroupGrad(st, gq, gpos, sPos, q, pos, B, 1, D, l.cfg.InBatch) },
		func() error { return k.GroupGrad(st, gq, ghard, sHard, q, hard, B, H, D, false) },
	)
	if l.cfg.Cosine {
		steps = append(steps, func() error {
			return k.L2NormBackward(st, g.Slice(0, n), g.Slice(0, n), in, l.inv, s.Rows(), D)
		})
	}
	for _, f := range steps {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}
