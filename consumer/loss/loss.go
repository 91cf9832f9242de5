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
// summed in row order, so results do not depend on goroutine scheduling.
//
// For example j with positive score s⁺ and negative scores s_n, n ∈ N_j
// (|N_j| = P + (B-1 if in-batch) + H), the losses averaged over the batch are
//
//	bpr:     (1/|N_j|) Σ_n softplus(-(s⁺ - s_n))        (= -log σ(s⁺ - s_n))
//	margin:  (1/|N_j|) Σ_n max(0, Δ - s⁺ + s_n)
//	softmax: -log( exp(s⁺/τ) / (exp(s⁺/τ) + Σ_n exp(s_n/τ)) )
//	sgns:    softplus(-s⁺) + (1/|N_j|) Σ_n softplus(s_n)
//
// The package never touches embedding tables: callers gather rows, call
// Compute, and scatter the returned gradients.
package loss

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/trainerd/trainerd/linalg"
)

// Config selects a loss.
type Config struct {
	// Kind is bpr, margin, softmax or sgns.
	Kind string
	// Margin is Δ of the margin loss.
	Margin float32
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
	// BlockRows is the number of query rows per score block. Default 1024.
	BlockRows int
}

// Inputs are the vectors of one batch. Hard may be empty (H = 0).
type Inputs struct {
	B, P, H, D int
	Q, Pos     []float32 // B×D each
	Pool       []float32 // P×D
	Hard       []float32 // B×H×D
}

// Grads are the gradients of the mean loss with respect to the Inputs, with
// the same shapes. They are owned by the Loss and valid until its next
// Compute.
type Grads struct {
	Q, Pos, Pool, Hard []float32
}

// Loss computes one configured loss; it reuses its buffers between calls and
// is not safe for concurrent use.
type Loss struct {
	cfg Config

	g          Grads
	sPool, sIn []float32
	sPos       []float32
	sHard      []float32
	rowLoss    []float64
	// cosine buffers: normalised inputs and inverse norms
	nIn                           Inputs
	invQ, invPos, invPool, invHrd []float32
}

// New validates cfg and returns a Loss.
func New(cfg Config) (*Loss, error) {
	switch cfg.Kind {
	case "bpr", "margin", "sgns":
	case "softmax":
		if cfg.Temperature <= 0 {
			return nil, fmt.Errorf("loss: softmax temperature %v must be > 0", cfg.Temperature)
		}
	default:
		return nil, fmt.Errorf("loss: unknown loss %q (want bpr, margin, softmax or sgns)", cfg.Kind)
	}
	if cfg.Threads <= 0 {
		cfg.Threads = runtime.GOMAXPROCS(0)
	}
	if cfg.BlockRows <= 0 {
		cfg.BlockRows = 1024
	}
	return &Loss{cfg: cfg}, nil
}

// Config returns the loss's configuration with defaults filled in.
func (l *Loss) Config() Config { return l.cfg }

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	b = b[:n]
	clear(b)
	return b
}

// Compute returns the mean loss over the batch and its gradients.
func (l *Loss) Compute(in Inputs) (float64, Grads, error) {
	if err := in.check(); err != nil {
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
	l.nIn = Inputs{B: in.B, P: in.P, H: in.H, D: d}
	var nq, np, npool, nh []float32
	nq, l.invQ = normalize(in.Q, d, l.nIn.Q, l.invQ)
	np, l.invPos = normalize(in.Pos, d, l.nIn.Pos, l.invPos)
	npool, l.invPool = normalize(in.Pool, d, l.nIn.Pool, l.invPool)
	nh, l.invHrd = normalize(in.Hard, d, l.nIn.Hard, l.invHrd)
	l.nIn.Q, l.nIn.Pos, l.nIn.Pool, l.nIn.Hard = nq, np, npool, nh
	loss := l.core(l.nIn)
	unnormalize(l.g.Q, nq, l.invQ, d)
	unnormalize(l.g.Pos, np, l.invPos, d)
	unnormalize(l.g.Pool, npool, l.invPool, d)
	unnormalize(l.g.Hard, nh, l.invHrd, d)
	return loss, l.g, nil
}

func (in Inputs) check() error {
	if in.B < 0 || in.P < 0 || in.H < 0 || in.D <= 0 {
		return fmt.Errorf("loss: bad shape B=%d P=%d H=%d D=%d", in.B, in.P, in.H, in.D)
	}
	if len(in.Q) != in.B*in.D || len(in.Pos) != in.B*in.D || len(in.Pool) != in.P*in.D || len(in.Hard) != in.B*in.H*in.D {
		return fmt.Errorf("loss: input sizes Q=%d Pos=%d Pool=%d Hard=%d do not match B=%d P=%d H=%d D=%d",
			len(in.Q), len(in.Pos), len(in.Pool), len(in.Hard), in.B, in.P, in.H, in.D)
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

// softplus is log(1+e^x), stable for large |x|.
func softplus(x float64) float64 {
	return math.Max(x, 0) + math.Log1p(math.Exp(-math.Abs(x)))
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// core computes loss and gradients for (already normalised) inputs.
func (l *Loss) core(in Inputs) float64 {
	B, P, H, D := in.B, in.P, in.H, in.D
	l.g.Q = grow(l.g.Q, B*D)
	l.g.Pos = grow(l.g.Pos, B*D)
	l.g.Pool = grow(l.g.Pool, P*D)
	l.g.Hard = grow(l.g.Hard, B*H*D)
	l.sPos = grow(l.sPos, B)
	l.sHard = grow(l.sHard, B*H)
	if cap(l.rowLoss) < B {
		l.rowLoss = make([]float64, B)
	}
	l.rowLoss = l.rowLoss[:B]
	blk := min(l.cfg.BlockRows, B)
	l.sPool = grow(l.sPool, blk*P)
	if l.cfg.InBatch {
		l.sIn = grow(l.sIn, blk*B)
	}
	for r0 := 0; r0 < B; r0 += blk {
		r1 := min(r0+blk, B)
		nb := r1 - r0
		qb := in.Q[r0*D : r1*D]
		sPool := l.sPool[:nb*P]
		linalg.Sgemm(false, true, nb, P, D, 1, qb, D, in.Pool, D, 0, sPool, P)
		var sIn []float32
		if l.cfg.InBatch {
			sIn = l.sIn[:nb*B]
			linalg.Sgemm(false, true, nb, B, D, 1, qb, D, in.Pos, D, 0, sIn, B)
		}
		l.parallel(nb, func(lo, hi int) {
			for k := lo; k < hi; k++ {
				j := r0 + k
				qj := in.Q[j*D : j*D+D]
				l.sPos[j] = dot(qj, in.Pos[j*D:j*D+D])
				for h := 0; h < H; h++ {
					l.sHard[j*H+h] = dot(qj, in.Hard[(j*H+h)*D:(j*H+h)*D+D])
				}
				var inRow []float32
				if sIn != nil {
					inRow = sIn[k*B : k*B+B]
				}
				l.rowLoss[j] = l.row(j, B, sPool[k*P:k*P+P], inRow, l.sHard[j*H:j*H+H])
			}
		})
		// dQ_b = G_pool·Pool + G_in·Pos + g⁺⊙Pos + Σ_h g_h Hard_h
		gq := l.g.Q[r0*D : r1*D]
		if P > 0 { // gq and the pool gradient start at zero
			linalg.Sgemm(false, false, nb, D, P, 1, sPool, P, in.Pool, D, 1, gq, D)
			linalg.Sgemm(true, false, P, D, nb, 1, sPool, P, qb, D, 1, l.g.Pool, D)
		}
		if sIn != nil {
			linalg.Sgemm(false, false, nb, D, B, 1, sIn, B, in.Pos, D, 1, gq, D)
			linalg.Sgemm(true, false, B, D, nb, 1, sIn, B, qb, D, 1, l.g.Pos, D)
		}
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
	var total float64
	for _, v := range l.rowLoss {
		total += v
	}
	return total / float64(B)
}

func (l *Loss) parallel(n int, f func(lo, hi int)) {
	t := l.cfg.Threads
	if t <= 1 || n < 64 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + t - 1) / t
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}

// row computes example j's loss and overwrites its scores with dLoss/dscore
// (already divided by B): l.sPos[j], pool, in (diagonal j set to 0) and hard.
func (l *Loss) row(j, B int, pool, in, hard []float32) float64 {
	sp := float64(l.sPos[j])
	invB := 1 / float64(B)
	nNeg := len(pool) + len(hard)
	if in != nil {
		nNeg += len(in) - 1
	}
	if nNeg == 0 && l.cfg.Kind != "softmax" && l.cfg.Kind != "sgns" {
		l.sPos[j] = 0
		return 0
	}
	invN := 1 / float64(max(nNeg, 1))
	var loss, gpos float64
	// each visits every negative score of the row; f returns its gradient.
	each := func(f func(s float64) float64) {
		for i, s := range pool {
			pool[i] = float32(f(float64(s)))
		}
		for i, s := range in {
			if i == j {
				continue
			}
			in[i] = float32(f(float64(s)))
		}
		if in != nil {
			in[j] = 0
		}
		for i, s := range hard {
			hard[i] = float32(f(float64(s)))
		}
	}
	switch l.cfg.Kind {
	case "bpr":
		each(func(s float64) float64 {
			x := sp - s
			loss += softplus(-x)
			g := sigmoid(-x) * invN * invB
			gpos -= g
			return g
		})
		loss *= invN
	case "margin":
		delta := float64(l.cfg.Margin)
		each(func(s float64) float64 {
			h := delta - sp + s
			if h <= 0 {
				return 0
			}
			loss += h
			g := invN * invB
			gpos -= g
			return g
		})
		loss *= invN
	case "sgns":
		each(func(s float64) float64 {
			loss += softplus(s) * invN
			return sigmoid(s) * invN * invB
		})
		loss += softplus(-sp)
		gpos = -sigmoid(-sp) * invB
	case "softmax":
		it := 1 / float64(l.cfg.Temperature)
		m := sp * it
		for _, s := range pool {
			m = math.Max(m, float64(s)*it)
		}
		for i, s := range in {
			if i != j {
				m = math.Max(m, float64(s)*it)
			}
		}
		for _, s := range hard {
			m = math.Max(m, float64(s)*it)
		}
		ep := expNeg(sp*it - m)
		z := ep
		// First pass stores exp(s/τ - m); second scales by 1/Z. Plain
		// loops (no closure) because this is the step's elementwise hot spot.
		for _, v := range [][]float32{pool, in, hard} {
			for i, s := range v {
				e := expNeg(float64(s)*it - m)
				z += e
				v[i] = float32(e)
			}
		}
		if in != nil { // the diagonal is the positive, already counted
			z -= float64(in[j])
			in[j] = 0
		}
		loss = math.Log(z) + m - sp*it
		scale := it * invB / z
		for i := range pool {
			pool[i] = float32(float64(pool[i]) * scale)
		}
		for i := range in {
			in[i] = float32(float64(in[i]) * scale) // in[j] is 0
		}
		for i := range hard {
			hard[i] = float32(float64(hard[i]) * scale)
		}
		gpos = (ep/z - 1) * it * invB
	}
	l.sPos[j] = float32(gpos)
	return loss
}
