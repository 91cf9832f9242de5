package loss

// The loss head as it was before the float32 kernels (float64 row work,
// baseExpNeg with math.Floor, math.Max, separate max/exp/scale passes), kept
// verbatim (old default BlockRows 1024) as the baseline of BenchmarkSoftmaxStep's ratio and as a second
// reference for TestMatchesBaseline. Only identifiers are renamed.

import (
	"math"

	"github.com/trainerd/trainerd/internal/parallel"
	"github.com/trainerd/trainerd/linalg"
)

// baseLoss is the old Loss.
type baseLoss struct {
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

func newBase(cfg Config) *baseLoss {
	if cfg.BlockRows <= 0 {
		cfg.BlockRows = 1024 // the old default
	}
	l, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return &baseLoss{cfg: l.cfg}
}

func baseGrow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	b = b[:n]
	clear(b)
	return b
}

func (l *baseLoss) baseCompute(in Inputs) (float64, Grads, error) {
	if err := in.check(l.cfg.InBatch); err != nil {
		return 0, Grads{}, err
	}
	if in.B == 0 {
		return 0, Grads{}, nil
	}
	if !l.cfg.Cosine {
		loss := l.baseCore(in)
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
	loss := l.baseCore(l.nIn)
	unnormalize(l.g.Q, nq, l.invQ, d)
	unnormalize(l.g.Pos, np, l.invPos, d)
	unnormalize(l.g.Pool, npool, l.invPool, d)
	unnormalize(l.g.Hard, nh, l.invHrd, d)
	return loss, l.g, nil
}

func baseSoftplus(x float64) float64 {
	return math.Max(x, 0) + math.Log1p(math.Exp(-math.Abs(x)))
}

func baseSigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// core computes loss and gradients for (already normalised) inputs.
func (l *baseLoss) baseCore(in Inputs) float64 {
	B, P, H, D := in.B, in.P, in.H, in.D
	l.g.Q = baseGrow(l.g.Q, B*D)
	l.g.Pos = baseGrow(l.g.Pos, B*D)
	l.g.Pool = baseGrow(l.g.Pool, P*D)
	l.g.Hard = baseGrow(l.g.Hard, B*H*D)
	l.sPos = baseGrow(l.sPos, B)
	l.sHard = baseGrow(l.sHard, B*H)
	if cap(l.rowLoss) < B {
		l.rowLoss = make([]float64, B)
	}
	l.rowLoss = l.rowLoss[:B]
	blk := min(l.cfg.BlockRows, B)
	l.sPool = baseGrow(l.sPool, blk*P)
	if l.cfg.InBatch {
		l.sIn = baseGrow(l.sIn, blk*B)
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
		parallel.Chunks(nb, l.cfg.Threads, 64, func(lo, hi int) {
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
				l.rowLoss[j] = l.baseRow(j, B, sPool[k*P:k*P+P], inRow, l.sHard[j*H:j*H+H])
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

// row computes example j's loss and overwrites its scores with dLoss/dscore
// (already divided by B): l.sPos[j], pool, in (diagonal j set to 0) and hard.
func (l *baseLoss) baseRow(j, B int, pool, in, hard []float32) float64 {
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
			loss += baseSoftplus(-x)
			g := baseSigmoid(-x) * invN * invB
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
			loss += baseSoftplus(s) * invN
			return baseSigmoid(s) * invN * invB
		})
		loss += baseSoftplus(-sp)
		gpos = -baseSigmoid(-sp) * invB
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
		ep := baseExpNeg(sp*it - m)
		z := ep
		// First pass stores exp(s/τ - m); second scales by 1/Z. Plain
		// loops (no closure) because this is the step's elementwise hot spot.
		for _, v := range [][]float32{pool, in, hard} {
			for i, s := range v {
				e := baseExpNeg(float64(s)*it - m)
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
func baseExpNeg(x float64) float64 {
	if x < -87 {
		return 0 // below float32's smallest normal; the loss is float32
	}
	const log2e = 1.4426950408889634
	const ln2hi, ln2lo = 6.93147180369123816490e-01, 1.90821492927058770002e-10
	k := math.Floor(x*log2e + 0.5)
	r := x - k*ln2hi - k*ln2lo // |r| ≤ ln2/2
	// Taylor to r^7/7!: |r|^8/8! < 2.5e-8·… on |r| ≤ 0.347 gives ~1e-9 relative.
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	return math.Float64frombits(math.Float64bits(p) + uint64(int64(k))<<52)
}
