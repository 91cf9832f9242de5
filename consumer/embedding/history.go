package embedding

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/trainerd/trainerd/internal/parallel"
	"github.com/trainerd/trainerd/internal/vec"

	"github.com/trainerd/trainerd/consumer/embedcore"
	"github.com/trainerd/trainerd/consumer/optim"
	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/linalg"
	"github.com/trainerd/trainerd/model"
)

// minParallel is the smallest loop the tower splits over goroutines.
const minParallel = 256

// userTower is SimpleX's user side on top of MF (Mao et al., CIKM 2021):
// behaviour aggregation and dropout. A user's query vector is
//
//	q_u = r ⊙ ((1−w)·e_u + w·h̄_u·M),   h̄_u = (1/|S_u|) Σ_{j∈S_u} e_j
//
// where S_u is the user's train items (all of them, or a uniform sample of
// at most maxItems per step), M a learnable d×d matrix (identity and fixed
// when linear is off), w = model.history.weight, and r a dropout mask
// (entries 0 or 1/(1−p), training only). With model.history.degree_power β
// the mean is weighted: h̄_u = Σ_j a_j e_j with a_j ∝ deg_j^−β, Σ_j a_j = 1.
// Embed uses every train item and no dropout, so the exported user vector
// is the expectation of the training one. The item rows e_j of S_u receive
// gradient a_j·w·(g·Mᵀ) (a_j = 1/|S_u| for the plain mean) and M receives
// w·h̄ᵀg: sparse rows like every other table row of the batch.
//
// With model.history.embed_only the aggregation is left out of training
// (trainW = 0) and applied only by users(), at embedding time: a
// parameter-free item-based smoothing of a plain MF model.
type userTower struct {
	w        float32   // the aggregation weight when embedding
	trainW   float32   // the aggregation weight in training (0 when embed-only)
	iw       []float32 // deg_j^−β per item (nil for the plain mean)
	maxItems int
	dropout  float32
	g        *graph.Bipartite
	U, d     int
	seed     uint64
	threads  int

	// M is the d×d aggregation matrix (nil when linear is off), with its
	// gradient and optimiser.
	M     []float32
	mGrad []float32
	mRows []int32
	mOpt  optim.Optimizer

	// per-step buffers, reused
	ptr   []int32   // B+1 offsets into items
	items []uint32  // sampled history items (global ids), row after row
	hbar  []float32 // B×d mean of the sampled rows
	hm    []float32 // B×d hbar·M (or hbar)
	mask  []float32 // B×d dropout scales (empty without dropout)
	coef  []float32 // a_j of each sampled item (the weight of its row in hbar)
	gh    []float32 // B×d gradient wrt hbar
}

// newUserTower returns nil when the config asks for plain MF.
func newUserTower(cfg model.Config, info model.Info, newOpt func(rows, dim int) (optim.Optimizer, error)) (*userTower, error) {
	if cfg.History.Weight == 0 {
		// Off: the other history keys are irrelevant (only dropout may
		// still ask for the tower).
		cfg.History = model.History{}
	}
	if cfg.History.Weight == 0 && cfg.Dropout == 0 {
		return nil, nil
	}
	if cfg.History.Weight < 0 || cfg.History.Weight > 1 {
		return nil, fmt.Errorf("model.history.weight: must be in [0,1], got %g", cfg.History.Weight)
	}
	if cfg.Dropout < 0 || cfg.Dropout >= 1 {
		return nil, fmt.Errorf("model.dropout: must be in [0,1), got %g", cfg.Dropout)
	}
	if cfg.History.DegreePower < 0 {
		return nil, fmt.Errorf("model.history.degree_power: must be ≥ 0, got %g", cfg.History.DegreePower)
	}
	if cfg.History.EmbedOnly && (cfg.History.Linear || cfg.History.Max != 0) {
		return nil, fmt.Errorf("model.history.embed_only: history.linear and history.max act in training, which embed-only leaves out")
	}
	if cfg.History.Max < 0 {
		return nil, fmt.Errorf("model.history.max: must be ≥ 0, got %d", cfg.History.Max)
	}
	if cfg.History.Weight > 0 && info.Graph == nil {
		return nil, fmt.Errorf("model.history.weight: behaviour aggregation needs the training graph")
	}
	d := cfg.Dim
	t := &userTower{w: float32(cfg.History.Weight), trainW: float32(cfg.History.Weight), maxItems: cfg.History.Max,
		dropout: float32(cfg.Dropout), g: info.Graph, U: info.NumUsers, d: d, seed: cfg.Seed, threads: cfg.Threads}
	if cfg.History.EmbedOnly {
		t.trainW = 0
	}
	if cfg.History.DegreePower != 0 {
		t.iw = make([]float32, info.NumItems)
		for j := range t.iw {
			if deg := info.Graph.ItemDegree(uint32(j)); deg > 0 {
				t.iw[j] = float32(math.Pow(float64(deg), -cfg.History.DegreePower))
			}
		}
	}
	if cfg.History.Weight > 0 && cfg.History.Linear {
		t.M = make([]float32, d*d)
		for i := range d {
			t.M[i*d+i] = 1
		}
		t.mGrad = make([]float32, d*d)
		t.mRows = make([]int32, d)
		for i := range t.mRows {
			t.mRows[i] = int32(i)
		}
		var err error
		if t.mOpt, err = newOpt(d, d); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// trains reports whether the tower acts in training at all: false for an
// embed-only aggregation without dropout, whose training step is plain MF's.
func (t *userTower) trains() bool { return t.trainW > 0 || t.dropout > 0 }

// historyLen is how many items of user u a step averages.
func (t *userTower) historyLen(u uint32) int {
	n := t.g.UserDegree(u)
	if t.maxItems > 0 && n > t.maxItems {
		return t.maxItems
	}
	return n
}

// forward rewrites the gathered user rows Q (B×d, e_u of query[k]) into the
// tower's query vectors for training step `step`. Every query must be a
// user.
func (t *userTower) forward(query []uint32, table, Q []float32, step int) error {
	B, d := len(query), t.d
	t.ptr = embedcore.Grow(t.ptr, B+1)
	t.ptr[0] = 0
	for k, u := range query {
		if int(u) >= t.U {
			return fmt.Errorf("model.history.weight/dropout: query %d is node %d, not a user (needs producer.examples.kind user_item)", k, u)
		}
		n := 0
		if t.trainW > 0 {
			n = t.historyLen(u)
		}
		t.ptr[k+1] = t.ptr[k] + int32(n)
	}
	total := int(t.ptr[B])
	t.items = embedcore.Grow(t.items, total)
	t.coef = embedcore.Grow(t.coef, total)
	t.hbar = embedcore.Grow(t.hbar, B*d)
	t.mask = t.mask[:0]
	if t.dropout > 0 {
		t.mask = embedcore.Grow(t.mask, B*d)
	}
	parallel.Chunks(B, t.threads, minParallel, func(lo, hi int) {
		var scratch []uint32
		src := rand.NewPCG(0, 0) // reseeded per row: one generator per chunk, not per row
		rng := rand.New(src)
		for k := lo; k < hi; k++ {
			src.Seed(t.seed^0x5eed_70e4, uint64(step)<<24|uint64(k))
			if t.trainW > 0 {
				lo, hi := t.ptr[k], t.ptr[k+1]
				t.sample(query[k], t.items[lo:hi], rng, &scratch)
				t.mean(t.hbar[k*d:k*d+d], table, t.items[lo:hi], t.coef[lo:hi])
			}
			if t.dropout > 0 {
				keep := 1 / (1 - t.dropout)
				for i := range d {
					t.mask[k*d+i] = 0
					if rng.Float32() >= t.dropout {
						t.mask[k*d+i] = keep
					}
				}
			}
		}
	})
	t.hm = t.project(t.hm, t.hbar, B)
	t.combine(Q, t.hm, t.mask, B, t.trainW)
	return nil
}

// sample writes user u's history (global item ids) into dst: all of it, or
// a uniform sample without replacement of len(dst) items (a partial
// Fisher–Yates shuffle in scratch).
func (t *userTower) sample(u uint32, dst []uint32, rng *rand.Rand, scratch *[]uint32) {
	its := t.g.ItemsOf(u)
	if len(dst) == len(its) {
		for i, it := range its {
			dst[i] = uint32(t.U) + it
		}
		return
	}
	s := append((*scratch)[:0], its...)
	for i := range dst {
		j := i + rng.IntN(len(s)-i)
		s[i], s[j] = s[j], s[i]
		dst[i] = uint32(t.U) + s[i]
	}
	*scratch = s
}

// mean sets dst to h̄ over the rows ids of table (global ids): the plain
// mean, or the deg^−β-weighted one, and the weight of each row into coef
// (len(ids), may be nil when not needed).
func (t *userTower) mean(dst, table []float32, ids []uint32, coef []float32) {
	if t.iw == nil {
		meanRows(dst, table, ids, t.d)
		inv := float32(0)
		if len(ids) > 0 {
			inv = 1 / float32(len(ids))
		}
		for j := range coef {
			coef[j] = inv
		}
		return
	}
	clear(dst)
	var sum float32
	for _, id := range ids {
		sum += t.iw[int(id)-t.U]
	}
	if sum == 0 {
		clear(coef)
		return
	}
	inv := 1 / sum
	d := t.d
	for j, id := range ids {
		a := t.iw[int(id)-t.U] * inv
		if coef != nil {
			coef[j] = a
		}
		vec.Axpy(dst, a, table[int(id)*d:int(id)*d+d])
	}
}

// meanRows sets dst to the mean of the rows ids of table (zero when ids is
// empty).
func meanRows(dst, table []float32, ids []uint32, d int) {
	clear(dst)
	if len(ids) == 0 {
		return
	}
	for _, id := range ids {
		vec.Add(dst, table[int(id)*d:int(id)*d+d])
	}
	inv := 1 / float32(len(ids))
	for i := range dst {
		dst[i] *= inv
	}
}

// project returns hbar·M into dst (or hbar itself without M).
func (t *userTower) project(dst, hbar []float32, B int) []float32 {
	if t.M == nil {
		return hbar
	}
	d := t.d
	dst = embedcore.Grow(dst, B*d)
	linalg.Sgemm(false, false, B, d, d, 1, hbar, d, t.M, d, 0, dst, d)
	return dst
}

// combine sets Q = mask ⊙ ((1−w)·Q + w·hm) row by row.
func (t *userTower) combine(Q, hm, mask []float32, B int, w float32) {
	a := 1 - w
	for i := range B * t.d {
		v := Q[i]
		if w > 0 {
			v = a*v + w*hm[i]
		}
		if len(mask) > 0 {
			v *= mask[i]
		}
		Q[i] = v
	}
}

// backward turns gQ (the loss gradient wrt the tower's output rows) into
// the gradient wrt e_u in place, stores M's gradient, and returns the
// sampled history items grouped by user with one gradient row per user
// (w·(g·Mᵀ), which item j receives times its weight a_j), to be scattered
// with the rest of the batch.
func (t *userTower) backward(gQ []float32, B int) embedcore.GroupedGrad {
	d := t.d
	if len(t.mask) > 0 {
		for i := range B * d {
			gQ[i] *= t.mask[i]
		}
	}
	if t.trainW == 0 {
		return embedcore.GroupedGrad{}
	}
	w := t.trainW
	// gradient wrt hm is w·gQ; wrt hbar, w·gQ·Mᵀ; wrt M, w·hbarᵀ·gQ.
	t.gh = embedcore.Grow(t.gh, B*d)
	if t.M != nil {
		linalg.Sgemm(false, true, B, d, d, w, gQ, d, t.M, d, 0, t.gh, d)
		linalg.Sgemm(true, false, d, d, B, w, t.hbar, d, gQ, d, 0, t.mGrad, d)
	} else {
		for i := range B * d {
			t.gh[i] = w * gQ[i]
		}
	}
	a := 1 - w
	for i := range B * d {
		gQ[i] *= a
	}
	total := t.ptr[B]
	return embedcore.GroupedGrad{IDs: t.items[:total], Ptr: t.ptr[:B+1], Src: t.gh, Coef: t.coef[:total]}
}

// update applies M's optimiser step (no-op without M).
func (t *userTower) update(lr float32) {
	if t.mOpt != nil {
		t.mOpt.Update(t.M, t.mRows, t.mGrad, lr)
	}
}

// users overwrites dst (numUsers×d, the user rows e_u copied from table)
// with the exported user vectors (1−w)·e_u + w·h̄_u·M over every train
// item, no dropout.
func (t *userTower) users(dst, table []float32) {
	d, U := t.d, t.U
	if t.w == 0 {
		return
	}
	hbar := make([]float32, U*d)
	parallel.Chunks(U, t.threads, minParallel, func(lo, hi int) {
		var ids []uint32
		for u := lo; u < hi; u++ {
			ids = ids[:0]
			for _, it := range t.g.ItemsOf(uint32(u)) {
				ids = append(ids, uint32(U)+it)
			}
			t.mean(hbar[u*d:u*d+d], table, ids, nil) // no backward pass: no weights kept
		}
	})
	t.combine(dst, t.project(nil, hbar, U), nil, U, t.w)
}
