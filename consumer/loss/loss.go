// Package loss owns trainerd's ranking losses and their hand-written
// gradients: BPR, max-margin, sampled softmax and skip-gram negative
// sampling, each over the same negatives — the batch's shared pool, optionally
// the other examples' positives (in-batch negatives), and each example's hard
// negatives — with dot-product or cosine (SimpleX-style) scoring.
//
// Inputs are row-major float32 matrices: queries Q (B×d), positives Pos
// (B×d), the shared pool (P×d) and hard negatives (B×H×d). Score matrices are
// formed with linalg.Sgemm in blocks of rows, so memory stays bounded for big
// pools, and gradients flow back through the same GEMMs. The per-row
// elementwise work runs on a fixed partition of rows and per-row losses are
// summed in row order, so results do not depend on goroutine scheduling (and
// the row work does not depend on the thread count at all).
//
// For example j with positive score s⁺ and negative scores s_n, n ∈ N_j
// (|N_j| = P + (B-1 if in-batch) + H, less the masked columns), the losses
// averaged over the batch are
//
//	bpr:     (1/|N_j|) Σ_n softplus(-(s⁺ - s_n))        (= -log σ(s⁺ - s_n))
//	margin:  (1/|N_j|) Σ_n max(0, Δ - s⁺ + s_n)
//	softmax: -log( exp(s⁺/τ) / (exp(s⁺/τ) + Σ_n exp(s_n/τ)) )
//	sgns:    softplus(-s⁺) + (1/|N_j|) Σ_n softplus(s_n)
//	ccl:     max(0, 1 - s⁺) + (w/|N_j|) Σ_n max(0, s_n - m)
//
// ccl is SimpleX's cosine contrastive loss (Mao et al., CIKM 2021): meant
// for cosine scores, it pulls each positive towards similarity 1 and pushes
// only the negatives above the margin m (Config.Margin, e.g. 0.9 or 0.4),
// weighted by w (Config.NegWeight, e.g. 150 over 1000 negatives).
// Masks (Inputs.NegMask, Inputs.InMask) remove pool or in-batch columns from
// N_j for one example — the producer masks the items the query engaged
// (false negatives) — exactly: a masked column is not in the partition
// function or the average, and its gradient is zero.
//
// The row work is float32 (the score matrices are float32 anyway): a
// polynomial exp (expf; an AVX2 kernel, bit-identical to the Go one, for
// the softmax exp/sum pass), one max pass and one fused exp+sum pass per
// row, unrolled with independent accumulators, the in-batch diagonal
// handled by splitting the row instead of a test per column, branch-free
// softplus/sigmoid/hinge, and the per-row gradient scale folded into the
// backward GEMMs instead of a pass over the scores. The pool and the
// in-batch positives share one score matrix, so a block costs three GEMMs.
// BenchmarkSoftmaxStep (B=P=2048, in-batch, cosine, D=64), old float64
// code (loss_baseline_test.go) vs this, same run, on the loaded 2-core Xeon
// dev box: 578–644 ms vs 97–156 ms per step (≈4–6x); the step is now
// mostly the three GEMMs.
//
// Hinge losses (ccl, margin) leave most negatives inactive once the model
// is trained: a block with at most Config.SparseMax (1%) nonzero negative
// gradients skips the two backward GEMMs and adds only the nonzero terms
// (BenchmarkSparseBackward; on Gowalla MF-CCL at dim 128 epochs took
// 14.4 s instead of 18-24 s, the two builds run alternately on the dev box).
//
// The package never touches embedding tables: callers gather rows, call
// Compute, and scatter the returned gradients.
package loss

import (
	maskcheck "github.com/trainerd/trainerd/internal/masks"
	"github.com/trainerd/trainerd/internal/parallel"
	"github.com/trainerd/trainerd/internal/vec"

	"fmt"
	"math"
	"runtime"

	"github.com/trainerd/trainerd/linalg"
	"github.com/trainerd/trainerd/modelspec"
)

// Config selects a loss.
type Config struct {
	// Kind is bpr, margin, softmax, sgns or ccl.
	Kind string
	// Margin is Δ of the margin loss, and m of ccl.
	Margin float32
	// NegWeight is w of ccl, the weight of the mean negative term (> 0).
	NegWeight float32
	// Temperature τ of the softmax loss (must be > 0 for softmax).
	Temperature float32
	// InBatch adds the other examples' positives as negatives.
	InBatch bool
	// Cosine scores by cosine similarity (rows L2-normalised before the dot
	// product) instead of the plain dot product.
	Cosine bool
	// Threads bounds the goroutines of the elementwise work. Default
	// GOMAXPROCS.
	Threads int
	// Team, when set, runs the elementwise work instead of a team of
	// Threads members of the Loss's own (a model shares one team between
	// its network, loss and optimisers).
	Team *parallel.Team
	// BlockRows is the number of query rows per score block. Default 256:
	// the block's 256×(P+B) scores are memory the GEMMs and the row work
	// touch back to back (on the loaded 2-core dev box BenchmarkSoftmaxStep
	// could not tell 128 to 2048 apart).
	BlockRows int
	// SparseMax is the largest fraction of nonzero negative gradients in a
	// score block for which the backward pass skips the two GEMMs and adds
	// only the nonzero terms. Hinge losses (ccl above its margin, margin)
	// leave most negatives inactive once trained, so most blocks take this
	// path. Default 0.01; negative: always dense; ≥ 1: always sparse.
	SparseMax float64
}

// defaultSparseMax is Config.SparseMax's default: below about this
// density the scalar sparse pass beats the two GEMMs on the dev box
// (BenchmarkSparseBackward).
const defaultSparseMax = 0.01

// Inputs are the vectors of one batch. Hard may be empty (H = 0).
type Inputs struct {
	B, P, H, D int
	Q, Pos     []float32 // B×D each
	Pool       []float32 // P×D
	Hard       []float32 // B×H×D

	// NegMask and NegMaskPtr exclude pool columns per example, in CSR form:
	// example j does not use the pool rows NegMask[NegMaskPtr[j]:NegMaskPtr[j+1]]
	// as negatives (no loss, zero gradient, not counted in |N_j|). A nil
	// NegMaskPtr means no mask; otherwise it has B+1 non-decreasing entries
	// from 0 to len(NegMask), and every entry of NegMask is in [0, P).
	// Repeated entries are harmless.
	NegMask, NegMaskPtr []int32
	// InMask and InMaskPtr do the same for the in-batch columns (the other
	// examples' positives): example j does not use Pos[k] for k in
	// InMask[InMaskPtr[j]:InMaskPtr[j+1]]; entries are in [0, B) and never
	// j itself (the diagonal is the positive, always excluded). Ignored
	// unless Config.InBatch.
	InMask, InMaskPtr []int32
}

// Grads are the gradients of the mean loss with respect to the Inputs, with
// the same shapes. They are owned by the Loss and valid until its next
// Compute.
type Grads struct {
	Q, Pos, Pool, Hard []float32
}

// kind numbers the losses for the row dispatch (modelspec.Loss).
type kind = modelspec.Loss

const (
	kindBPR     = modelspec.LossBPR
	kindMargin  = modelspec.LossMargin
	kindSoftmax = modelspec.LossSoftmax
	kindSGNS    = modelspec.LossSGNS
	kindCCL     = modelspec.LossCCL
)

// Loss computes one configured loss; it reuses its buffers between calls and
// is not safe for concurrent use.
type Loss struct {
	cfg  Config
	kind kind
	asm  bool // run the AVX2 exp kernel (bit-identical to the Go one)

	g        Grads
	xcat     []float32 // [Pool; Pos] when in-batch
	gx       []float32 // its gradient (g.Pool and, in-batch, g.Pos alias it)
	gpos     []float32 // g.Pos when not in-batch
	scores   []float32 // one block of rows × N scores
	sPos     []float32
	sHard    []float32
	rowScale []float32 // per row: factor of its pool/in-batch gradients
	qs       []float32 // query block scaled by rowScale
	rowLoss  []float64
	// cosine buffers: normalised inputs and inverse norms
	nIn                           Inputs
	invQ, invPos, invPool, invHrd []float32

	team *parallel.Team
	// the block a team run works on (lossJob)
	phase         int
	cur           Inputs
	r0, nb, N     int
	sb, qb, X, gq []float32
}

// The phases of a team run over one score block.
const (
	phRows      = iota // per block of rows: losses and unscaled gradients
	phSparseQ          // per block of rows: sparse dQ
	phSparseX          // per block of columns: sparse dX
	rowsPerTask = 16
	colsPerTask = 256
)

// New validates cfg and returns a Loss.
func New(cfg Config) (*Loss, error) {
	k, err := modelspec.ParseLoss(cfg.Kind)
	if err != nil {
		return nil, fmt.Errorf("loss: %w", err)
	}
	switch {
	case k == kindSoftmax && !(cfg.Temperature > 0):
		return nil, fmt.Errorf("loss: softmax temperature %v must be > 0", cfg.Temperature)
	case k == kindCCL && !(cfg.NegWeight > 0):
		return nil, fmt.Errorf("loss: ccl negative weight %v must be > 0", cfg.NegWeight)
	}
	if cfg.Threads <= 0 {
		cfg.Threads = runtime.GOMAXPROCS(0)
	}
	if cfg.BlockRows <= 0 {
		cfg.BlockRows = 256
	}
	if cfg.SparseMax == 0 {
		cfg.SparseMax = defaultSparseMax
	}
	team := cfg.Team
	if team == nil {
		team = parallel.NewTeam(cfg.Threads)
	}
	return &Loss{cfg: cfg, kind: k, asm: vec.HasExpSumAVX2(), team: team}, nil
}

// Config returns the loss's configuration with defaults filled in.
func (l *Loss) Config() Config { return l.cfg }

// grow returns b resized to n and zeroed.
func grow(b []float32, n int) []float32 {
	b = growNoClear(b, n)
	clear(b)
	return b
}

// growNoClear returns b resized to n with unspecified contents (for buffers
// that are overwritten, such as GEMM outputs with beta 0).
func growNoClear(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// Compute returns the mean loss over the batch and its gradients.
func (l *Loss) Compute(in Inputs) (float64, Grads, error) {
	if err := in.check(l.cfg.InBatch); err != nil {
		return 0, Grads{}, err
	}
	if in.B == 0 {
		return 0, Grads{}, nil
	}
	if !l.cfg.Cosine {
		loss := l.core(in)
		return loss, l.g, nil
	}
	d := in.D
	nIn := in // keeps the masks
	var nq, np, npool, nh []float32
	nq, l.invQ = normalize(in.Q, d, l.nIn.Q, l.invQ)
	np, l.invPos = normalize(in.Pos, d, l.nIn.Pos, l.invPos)
	npool, l.invPool = normalize(in.Pool, d, l.nIn.Pool, l.invPool)
	nh, l.invHrd = normalize(in.Hard, d, l.nIn.Hard, l.invHrd)
	nIn.Q, nIn.Pos, nIn.Pool, nIn.Hard = nq, np, npool, nh
	l.nIn = nIn
	loss := l.core(nIn)
	unnormalize(l.g.Q, nq, l.invQ, d)
	unnormalize(l.g.Pos, np, l.invPos, d)
	unnormalize(l.g.Pool, npool, l.invPool, d)
	unnormalize(l.g.Hard, nh, l.invHrd, d)
	return loss, l.g, nil
}

func (in Inputs) check(inBatch bool) error {
	if in.B < 0 || in.P < 0 || in.H < 0 || in.D <= 0 {
		return fmt.Errorf("loss: bad shape B=%d P=%d H=%d D=%d", in.B, in.P, in.H, in.D)
	}
	if len(in.Q) != in.B*in.D || len(in.Pos) != in.B*in.D || len(in.Pool) != in.P*in.D || len(in.Hard) != in.B*in.H*in.D {
		return fmt.Errorf("loss: input sizes Q=%d Pos=%d Pool=%d Hard=%d do not match B=%d P=%d H=%d D=%d",
			len(in.Q), len(in.Pos), len(in.Pool), len(in.Hard), in.B, in.P, in.H, in.D)
	}
	if err := maskcheck.Check("NegMask", in.NegMask, in.NegMaskPtr, in.B, in.P, false); err != nil {
		return fmt.Errorf("loss: %w", err)
	}
	if inBatch {
		if err := maskcheck.Check("InMask", in.InMask, in.InMaskPtr, in.B, in.B, true); err != nil {
			return fmt.Errorf("loss: %w", err)
		}
	}
	return nil
}

// normalize writes x's rows divided by their L2 norms into dst and returns
// it with the inverse norms.
func normalize(x []float32, d int, dst, inv []float32) ([]float32, []float32) {
	n := len(x) / d
	if cap(dst) < len(x) {
		dst = make([]float32, len(x))
	}
	dst = dst[:len(x)]
	if cap(inv) < n {
		inv = make([]float32, n)
	}
	inv = inv[:n]
	for r := 0; r < n; r++ {
		row := x[r*d : r*d+d]
		var s float64
		for _, v := range row {
			s += float64(v) * float64(v)
		}
		iv := float32(1 / math.Sqrt(s+1e-12))
		inv[r] = iv
		out := dst[r*d : r*d+d]
		for i, v := range row {
			out[i] = v * iv
		}
	}
	return dst, inv
}

// unnormalize maps in place a gradient with respect to x̂ = x/‖x‖ to one
// with respect to x: g ← (g - x̂ (x̂·g)) / ‖x‖.
func unnormalize(g, xhat, inv []float32, d int) {
	for r := range inv {
		gr := g[r*d : r*d+d]
		xr := xhat[r*d : r*d+d]
		var dot float32
		for i := range gr {
			dot += gr[i] * xr[i]
		}
		for i := range gr {
			gr[i] = (gr[i] - xr[i]*dot) * inv[r]
		}
	}
}

func dot(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// core computes loss and gradients for (already normalised) inputs.
//
// The negatives that every example shares — the pool and, in-batch, all
// positives — are one matrix X = [Pool; Pos] (N = P (+B) rows), so a block
// of rows costs three GEMMs: scores S = Q_b·Xᵀ; the row work overwrites S
// with unscaled gradients g_jn and sets rowScale[j] (the factor common to
// the row: 1/B, 1/|N_j| and, for softmax, 1/(τZ_j)); then
// dQ_b = diag(rowScale)·S·X and dX += Sᵀ·(diag(rowScale)·Q_b). So no pass
// over the scores is spent on scaling.
func (l *Loss) core(in Inputs) float64 {
	B, P, H, D := in.B, in.P, in.H, in.D
	inBatch := l.cfg.InBatch
	N, X := P, in.Pool
	if inBatch {
		N = P + B
		l.xcat = growNoClear(l.xcat, N*D)
		copy(l.xcat, in.Pool)
		copy(l.xcat[P*D:], in.Pos)
		X = l.xcat
	}
	l.gx = grow(l.gx, N*D)
	l.g.Pool = l.gx[: P*D : P*D]
	if inBatch {
		l.g.Pos = l.gx[P*D:]
	} else {
		l.gpos = grow(l.gpos, B*D)
		l.g.Pos = l.gpos
	}
	l.g.Q = grow(l.g.Q, B*D)
	l.g.Hard = grow(l.g.Hard, B*H*D)
	l.sPos = grow(l.sPos, B)
	l.sHard = grow(l.sHard, B*H)
	l.rowScale = grow(l.rowScale, B)
	if cap(l.rowLoss) < B {
		l.rowLoss = make([]float64, B)
	}
	l.rowLoss = l.rowLoss[:B]
	blk := min(l.cfg.BlockRows, B)
	l.scores = growNoClear(l.scores, blk*N)
	l.qs = growNoClear(l.qs, blk*D)
	for r0 := 0; r0 < B; r0 += blk {
		r1 := min(r0+blk, B)
		nb := r1 - r0
		qb := in.Q[r0*D : r1*D]
		sb := l.scores[:nb*N]
		if N > 0 {
			linalg.Sgemm(false, true, nb, N, D, 1, qb, D, X, D, 0, sb, N)
		}
		l.cur, l.r0, l.nb, l.N, l.sb = in, r0, nb, N, sb
		l.run(phRows, (nb+rowsPerTask-1)/rowsPerTask)
		gq := l.g.Q[r0*D : r1*D]
		if N > 0 && l.sparse(sb) {
			l.sparseBackward(sb, nb, N, D, r0, qb, X, gq)
		} else if N > 0 {
			linalg.Sgemm(false, false, nb, D, N, 1, sb, N, X, D, 0, gq, D)
			qs := l.qs[:nb*D]
			for k := 0; k < nb; k++ {
				rs := l.rowScale[r0+k]
				gk, qk, sk := gq[k*D:k*D+D], qb[k*D:k*D+D], qs[k*D:k*D+D]
				for i := range gk {
					gk[i] *= rs
					sk[i] = qk[i] * rs
				}
			}
			linalg.Sgemm(true, false, N, D, nb, 1, sb, N, qs, D, 1, l.gx, D)
		}
		// dQ_b += g⁺⊙Pos + Σ_h g_h Hard_h (g⁺, g_h fully scaled)
		for j := r0; j < r1; j++ {
			gp := l.sPos[j]
			qj := in.Q[j*D : j*D+D]
			pj := in.Pos[j*D : j*D+D]
			gqj := l.g.Q[j*D : j*D+D]
			gpj := l.g.Pos[j*D : j*D+D]
			for i := 0; i < D; i++ {
				gqj[i] += gp * pj[i]
				gpj[i] += gp * qj[i]
			}
			for h := 0; h < H; h++ {
				gh := l.sHard[j*H+h]
				hv := in.Hard[(j*H+h)*D : (j*H+h)*D+D]
				ghv := l.g.Hard[(j*H+h)*D : (j*H+h)*D+D]
				for i := 0; i < D; i++ {
					gqj[i] += gh * hv[i]
					ghv[i] = gh * qj[i]
				}
			}
		}
	}
	l.cur, l.sb, l.qb, l.X, l.gq = Inputs{}, nil, nil, nil, nil
	var total float64
	for _, v := range l.rowLoss {
		total += v
	}
	return total / float64(B)
}

// run runs n blocks of phase on the team.
func (l *Loss) run(phase, n int) {
	l.phase = phase
	l.team.Run((*lossJob)(l), n)
}

// lossJob is a Loss as a parallel.Job (the blocks of its current phase).
type lossJob Loss

// Block implements parallel.Job.
func (lj *lossJob) Block(i, _ int) {
	l := (*Loss)(lj)
	switch l.phase {
	case phRows:
		l.rows(i*rowsPerTask, min((i+1)*rowsPerTask, l.nb))
	case phSparseQ:
		l.sparseQ(i*rowsPerTask, min((i+1)*rowsPerTask, l.nb))
	case phSparseX:
		l.sparseX(i*colsPerTask, min((i+1)*colsPerTask, l.N))
	}
}

// rows computes the losses and unscaled gradients of rows [lo,hi) of the
// current score block.
func (l *Loss) rows(lo, hi int) {
	in, r0, N, sb := &l.cur, l.r0, l.N, l.sb
	B, P, H, D := in.B, in.P, in.H, in.D
	inBatch := l.cfg.InBatch
	for k := lo; k < hi; k++ {
		j := r0 + k
		qj := in.Q[j*D : j*D+D]
		l.sPos[j] = dot(qj, in.Pos[j*D:j*D+D])
		for h := 0; h < H; h++ {
			l.sHard[j*H+h] = dot(qj, in.Hard[(j*H+h)*D:(j*H+h)*D+D])
		}
		pool := sb[k*N : k*N+P]
		nNeg := P + H
		if in.NegMaskPtr != nil {
			nNeg -= applyMask(pool, in.NegMask[in.NegMaskPtr[j]:in.NegMaskPtr[j+1]])
		}
		var inRow []float32
		if inBatch {
			inRow = sb[k*N+P : k*N+N]
			nNeg += B - 1
			if in.InMaskPtr != nil {
				nNeg -= applyMask(inRow, in.InMask[in.InMaskPtr[j]:in.InMaskPtr[j+1]])
			}
		}
		l.rowLoss[j] = l.row(j, B, nNeg, pool, inRow, l.sHard[j*H:j*H+H])
	}
}

// sparse reports whether the block of unscaled gradients sb is sparse
// enough for sparseBackward.
func (l *Loss) sparse(sb []float32) bool {
	if l.cfg.SparseMax < 0 {
		return false
	}
	if l.cfg.SparseMax >= 1 {
		return true
	}
	limit := int(l.cfg.SparseMax * float64(len(sb)))
	nz := 0
	for _, v := range sb {
		if v != 0 {
			if nz++; nz > limit {
				return false // dense: stop counting
			}
		}
	}
	return true
}

// sparseBackward is the block's backward pass over its nonzero gradients
// only: gq_k = rs_k Σ_n g_kn X_n (rows in parallel) and
// gx_n += Σ_k g_kn rs_k Q_k (columns split across goroutines, rows in
// order), the same sums as the two GEMMs of the dense path.
func (l *Loss) sparseBackward(sb []float32, nb, N, D, r0 int, qb, X, gq []float32) {
	l.sb, l.nb, l.N, l.r0, l.qb, l.X, l.gq = sb, nb, N, r0, qb, X, gq
	l.run(phSparseQ, (nb+rowsPerTask-1)/rowsPerTask)
	l.run(phSparseX, (N+colsPerTask-1)/colsPerTask)
}

// sparseQ sets rows [lo,hi) of the block's query gradient.
func (l *Loss) sparseQ(lo, hi int) {
	N, D := l.N, l.cur.D
	for k := lo; k < hi; k++ {
		rs := l.rowScale[l.r0+k]
		g := l.gq[k*D : k*D+D]
		clear(g)
		for n, v := range l.sb[k*N : k*N+N] {
			if v != 0 {
				vec.Axpy(g, v*rs, l.X[n*D:n*D+D])
			}
		}
	}
}

// sparseX adds the block's terms to columns [lo,hi) of the gradient of
// X, rows in order.
func (l *Loss) sparseX(lo, hi int) {
	N, D := l.N, l.cur.D
	for k := 0; k < l.nb; k++ {
		rs := l.rowScale[l.r0+k]
		q := l.qb[k*D : k*D+D]
		for c, v := range l.sb[k*N+lo : k*N+hi] {
			if v != 0 {
				n := lo + c
				vec.Axpy(l.gx[n*D:n*D+D], v*rs, q)
			}
		}
	}
}

// maskScore replaces the scores of masked columns. Every kernel maps it to a
// zero loss term and a zero gradient without a branch: it is far below any
// real score, so exp underflows to 0, softplus(maskScore - s⁺) is exactly 0
// and the margin hinge is inactive; it stays finite, so no ∞-∞ NaN arises.
const maskScore = -math.MaxFloat32 / 4

// applyMask sets the masked columns of row to maskScore and returns how many
// distinct columns it masked.
func applyMask(row []float32, cols []int32) int {
	n := 0
	for _, c := range cols {
		if row[c] != maskScore {
			row[c] = maskScore
			n++
		}
	}
	return n
}

// row computes example j's loss and overwrites its scores with gradients:
// l.sPos[j] and hard with dLoss/dscore (already divided by B), pool and in
// (diagonal j set to 0) with gradients that still need the factor it stores
// in l.rowScale[j]. nNeg is |N_j| after masking.
func (l *Loss) row(j, B, nNeg int, pool, in, hard []float32) float64 {
	sp := l.sPos[j]
	invB := 1 / float32(B)
	// The in-batch row without its diagonal, as two segments, so no inner
	// loop tests the column index.
	var inLo, inHi []float32
	if in != nil {
		inLo, inHi = in[:j], in[j+1:]
	}
	var invN float32
	if nNeg > 0 {
		invN = 1 / float32(nNeg)
	}
	var loss float64
	var gpos, rs float32
	switch l.kind {
	case kindSoftmax:
		it := 1 / l.cfg.Temperature
		// Shift by the row maximum (the diagonal equals s⁺ up to rounding,
		// so scanning it is harmless and saves a split).
		m := maxf(sp, maxSeg(hard, maxSeg(in, maxSeg(pool, sp))))
		ep := expf((sp - m) * it)
		z := ep + expSum(pool, m, it, l.asm) + expSum(inLo, m, it, l.asm) + expSum(inHi, m, it, l.asm) + expSum(hard, m, it, l.asm)
		loss = math.Log(float64(z)) + float64((m-sp)*it)
		rs = it * invB / z
		gpos = (ep/z - 1) * it * invB
	case kindBPR:
		// -log σ(s⁺ - s) = softplus(s - s⁺), gradient σ(s - s⁺) per negative.
		lsum, gsum := splusSeg(pool, sp)
		l2, g2 := splusSeg(inLo, sp)
		l3, g3 := splusSeg(inHi, sp)
		l4, g4 := splusSeg(hard, sp)
		loss = float64((lsum + l2 + l3 + l4) * invN)
		rs = invN * invB
		gpos = -(gsum + g2 + g3 + g4) * rs
	case kindMargin:
		base := l.cfg.Margin - sp
		lsum, cnt := marginSeg(pool, base)
		l2, c2 := marginSeg(inLo, base)
		l3, c3 := marginSeg(inHi, base)
		l4, c4 := marginSeg(hard, base)
		loss = float64((lsum + l2 + l3 + l4) * invN)
		rs = invN * invB
		gpos = -(cnt + c2 + c3 + c4) * rs
	case kindCCL:
		// max(0, s - m) per negative, its indicator as the gradient.
		base := -l.cfg.Margin
		lsum, _ := marginSeg(pool, base)
		l2, _ := marginSeg(inLo, base)
		l3, _ := marginSeg(inHi, base)
		l4, _ := marginSeg(hard, base)
		w := l.cfg.NegWeight * invN
		hp := hinge(1 - sp)
		loss = float64(hp + (lsum+l2+l3+l4)*w)
		rs = w * invB
		gpos = -active(hp) * invB
	case kindSGNS:
		l1, _ := splusSeg(pool, 0)
		l2, _ := splusSeg(inLo, 0)
		l3, _ := splusSeg(inHi, 0)
		l4, _ := splusSeg(hard, 0)
		lsum := l1 + l2 + l3 + l4
		spl, sig := softplusSigmoid(-sp)
		loss = float64(spl + lsum*invN)
		rs = invN * invB
		gpos = -sig * invB
	}
	if in != nil {
		in[j] = 0
	}
	for i := range hard {
		hard[i] *= rs
	}
	l.rowScale[j] = rs
	l.sPos[j] = gpos
	return loss
}

func maxf(a, b float32) float32 {
	if b > a {
		return b
	}
	return a
}

// maxSeg returns the maximum of m and v's elements (4 independent maxima).
func maxSeg(v []float32, m float32) float32 {
	m0, m1, m2, m3 := m, m, m, m
	i := 0
	for ; i+4 <= len(v); i += 4 {
		w := v[i : i+4 : i+4]
		if w[0] > m0 {
			m0 = w[0]
		}
		if w[1] > m1 {
			m1 = w[1]
		}
		if w[2] > m2 {
			m2 = w[2]
		}
		if w[3] > m3 {
			m3 = w[3]
		}
	}
	for ; i < len(v); i++ {
		if v[i] > m0 {
			m0 = v[i]
		}
	}
	return maxf(maxf(m0, m1), maxf(m2, m3))
}

// expSum overwrites v[i] with e^((v[i]-m)·it) and returns their sum. The
// sum is kept in 8 lanes (element i in lane i mod 8) reduced in a fixed
// tree, whichever kernel runs: vec.ExpSumAVX2 when asm is set (8 lanes of one
// YMM register), else expSumGo; both round identically.
func expSum(v []float32, m, it float32, asm bool) float32 {
	var acc [8]float32
	n := len(v) &^ 7
	if asm && n > 0 {
		vec.ExpSumAVX2(v[:n], m, it, &acc)
	} else {
		expSumGo(v[:n], m, it, &acc)
	}
	for i := n; i < len(v); i++ {
		x := expf((v[i] - m) * it)
		v[i] = x
		acc[i-n] += x
	}
	return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}

// expSumGo is the portable expSum kernel on len(v) (a multiple of 8)
// elements: 8 independent accumulators, two unrolled groups of 4, expRaw
// inlined with its underflow branch here (never taken with cosine scores
// and τ ≥ 0.025; whatever expRaw returns then is discarded).
func expSumGo(v []float32, m, it float32, acc *[8]float32) {
	s0, s1, s2, s3, s4, s5, s6, s7 := acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7]
	for i := 0; i+8 <= len(v); i += 8 {
		w := v[i : i+8 : i+8]
		x0, x1, x2, x3 := (w[0]-m)*it, (w[1]-m)*it, (w[2]-m)*it, (w[3]-m)*it
		e0, e1, e2, e3 := expRaw(x0), expRaw(x1), expRaw(x2), expRaw(x3)
		if x0 < expMin {
			e0 = 0
		}
		if x1 < expMin {
			e1 = 0
		}
		if x2 < expMin {
			e2 = 0
		}
		if x3 < expMin {
			e3 = 0
		}
		w[0], w[1], w[2], w[3] = e0, e1, e2, e3
		s0 += e0
		s1 += e1
		s2 += e2
		s3 += e3
		x0, x1, x2, x3 = (w[4]-m)*it, (w[5]-m)*it, (w[6]-m)*it, (w[7]-m)*it
		e0, e1, e2, e3 = expRaw(x0), expRaw(x1), expRaw(x2), expRaw(x3)
		if x0 < expMin {
			e0 = 0
		}
		if x1 < expMin {
			e1 = 0
		}
		if x2 < expMin {
			e2 = 0
		}
		if x3 < expMin {
			e3 = 0
		}
		w[4], w[5], w[6], w[7] = e0, e1, e2, e3
		s4 += e0
		s5 += e1
		s6 += e2
		s7 += e3
	}
	*acc = [8]float32{s0, s1, s2, s3, s4, s5, s6, s7}
}

// splusSeg overwrites each score s with σ(s - shift) and returns
// (Σ softplus(s - shift), Σ σ(s - shift)): BPR uses shift = s⁺, SGNS 0.
// The body is softplusSigmoid written out (it is too big for the inliner);
// a loop iteration is long enough that one accumulator pair does not stall it.
func splusSeg(v []float32, shift float32) (float32, float32) {
	var ls, gs float32
	for i, s := range v {
		y := s - shift
		a := absf(y)
		e := expRaw(-a)
		if -a < expMin {
			e = 0
		}
		d := 1 / (1 + e)
		u := e / (2 + e)
		u2 := u * u
		lp := 2 * u * (1 + u2*(1.0/3+u2*(1.0/5+u2*(1.0/7+u2*(1.0/9+u2*(1.0/11))))))
		neg := uint32(int32(math.Float32bits(y)) >> 31)
		sig := math.Float32frombits(math.Float32bits(d)&^neg | math.Float32bits(e*d)&neg)
		v[i] = sig
		ls += (a+y)*0.5 + lp
		gs += sig
	}
	return ls, gs
}

// marginSeg overwrites each score s with [base + s > 0] and returns
// (Σ max(0, base + s), the count of active hinges). Branch-free:
// max(h,0) = (|h|+h)/2 exactly, and the indicator is read from its bits.
func marginSeg(v []float32, base float32) (float32, float32) {
	var l0, l1, l2, l3, c0, c1, c2, c3 float32
	i := 0
	for ; i+4 <= len(v); i += 4 {
		w := v[i : i+4 : i+4]
		h0, h1, h2, h3 := hinge(base+w[0]), hinge(base+w[1]), hinge(base+w[2]), hinge(base+w[3])
		g0, g1, g2, g3 := active(h0), active(h1), active(h2), active(h3)
		w[0], w[1], w[2], w[3] = g0, g1, g2, g3
		l0, l1, l2, l3 = l0+h0, l1+h1, l2+h2, l3+h3
		c0, c1, c2, c3 = c0+g0, c1+g1, c2+g2, c3+g3
	}
	for ; i < len(v); i++ {
		h := hinge(base + v[i])
		g := active(h)
		v[i] = g
		l0 += h
		c0 += g
	}
	return (l0 + l1) + (l2 + l3), (c0 + c1) + (c2 + c3)
}

// hinge is max(h, 0) (never -0).
func hinge(h float32) float32 { return (absf(h) + h) * 0.5 }

// active is 1 for h > 0 and 0 for h = +0 (h ≥ 0 finite, from hinge).
func active(h float32) float32 { return float32((math.Float32bits(h) + 0x7FFFFFFF) >> 31) }

// SetMargin changes the max-margin loss's Δ for the following Computes (a
// curriculum may schedule it); other kinds ignore it.
func (l *Loss) SetMargin(m float32) { l.cfg.Margin = m }
