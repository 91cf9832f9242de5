// Package optim owns the parameter-update rules of trainerd's CPU consumer:
// Adam, SGD and Adagrad over row-major float32 tables, applied either to every
// row (dense) or only to the rows a batch touched (sparse, "lazy"), and the
// learning-rate schedules.
//
// Sparse semantics (documented choice): a row's moments and its Adam step
// count advance only when the row receives a gradient, so bias correction
// uses the row's own step count (TensorFlow LazyAdam / per-row counters).
// Rows that are not in a batch are left untouched — neither their values nor
// their moments decay. Dense updates are the special case where every row is
// touched every step, which reproduces textbook Adam exactly.
//
// The package never imports package consumer: optimiser state is exported as
// plain Arrays (name, shape, float32 data) which the consumer converts.
// Updates are elementwise per row, so splitting rows across goroutines gives
// bit-identical results whatever the scheduling.
package optim

import (
	"github.com/trainerd/trainerd/internal/parallel"
	"github.com/trainerd/trainerd/internal/vec"

	"errors"
	"fmt"
	"math"
	"runtime"
)

// Array is one named float32 array of optimiser state, row-major.
type Array struct {
	Name  string
	Shape []int
	Data  []float32
}

// ErrState is returned (wrapped) by Load when the state does not match the
// optimiser's shape or kind.
var ErrState = errors.New("optim: state mismatch")

// Optimizer updates one rows×dim float32 table.
type Optimizer interface {
	// Update applies grads to param. With rows nil every row is updated and
	// grads has the size of param; otherwise rows lists distinct row indices
	// and grads holds one dim-wide gradient per listed row, in that order.
	Update(param []float32, rows []int32, grads []float32, lr float32)
	// State exports the optimiser state, names prefixed by prefix.
	State(prefix string) []Array
	// Load restores what State(prefix) returned.
	Load(prefix string, state []Array) error
}

// Params configures an optimiser. Zero values mean the documented defaults.
type Params struct {
	// Kind is adam, sgd or adagrad. Default adam.
	Kind string
	// Beta1, Beta2 and Eps are Adam's constants. Defaults 0.9, 0.999, 1e-8.
	Beta1, Beta2, Eps float32
	// Threads bounds the goroutines of an update. Default GOMAXPROCS.
	Threads int
	// Team, when set, runs the updates instead of a team of Threads members
	// of the optimiser's own (a model shares one team between its
	// optimisers).
	Team *parallel.Team
}

// New returns an optimiser for a rows×dim table.
func New(p Params, rows, dim int) (Optimizer, error) {
	if p.Threads <= 0 {
		p.Threads = runtime.GOMAXPROCS(0)
	}
	team := p.Team
	if team == nil && p.Kind != "sgd" {
		team = parallel.NewTeam(p.Threads)
	}
	switch p.Kind {
	case "", "adam":
		if p.Beta1 == 0 {
			p.Beta1 = 0.9
		}
		if p.Beta2 == 0 {
			p.Beta2 = 0.999
		}
		if p.Eps == 0 {
			p.Eps = 1e-8
		}
		a := newAdam(rows, dim, p.Beta1, p.Beta2, p.Eps, p.Threads)
		a.team = team
		return a, nil
	case "sgd":
		return &SGD{Rows: rows, Dim: dim}, nil
	case "adagrad":
		if p.Eps == 0 {
			p.Eps = 1e-10
		}
		return &Adagrad{Rows: rows, Dim: dim, Eps: p.Eps, Threads: p.Threads, G: make([]float32, rows*dim), team: team}, nil
	}
	return nil, fmt.Errorf("optim: unknown optimizer %q (want adam, sgd or adagrad)", p.Kind)
}

// rowsPerTask is the number of rows one block of an update handles. Rows
// are updated independently, so the result does not depend on the blocks
// or on which goroutine runs them.
const rowsPerTask = 512

// update is one Update call as a parallel.Job: blocks of rowsPerTask of
// its n rows, each run by row(k) for the k-th row.
type update struct {
	n     int
	rows  []int32
	param []float32
	grads []float32
	lr    float32
	row   func(u *update, lo, hi int)
	// scan replaces row while scanning is set: it walks table rows
	// [lo,hi) instead of entries.
	scan     func(u *update, lo, hi int)
	scanning bool
}

// Block implements parallel.Job.
func (u *update) Block(i, _ int) {
	lo, hi := i*rowsPerTask, min((i+1)*rowsPerTask, u.n)
	if u.scanning {
		u.scan(u, lo, hi)
		return
	}
	u.row(u, lo, hi)
}

// run runs u on team (serially when team is nil) and drops its
// references.
func (u *update) run(team *parallel.Team) {
	nb := (u.n + rowsPerTask - 1) / rowsPerTask
	if team == nil {
		for i := 0; i < nb; i++ {
			u.Block(i, 0)
		}
	} else {
		team.Run(u, nb)
	}
	u.rows, u.param, u.grads, u.scanning = nil, nil, nil, false
}

// Adam is Adam with per-row step counters (see the package doc for the
// sparse semantics). Steps holds each row's step count as float32, exact up
// to 2^24 updates of one row.
type Adam struct {
	Rows, Dim         int
	Beta1, Beta2, Eps float32
	Threads           int
	M, V              []float32
	Steps             []float32

	// pow1[t] and pow2[t] are math.Pow(Beta1, t) and math.Pow(Beta2, t)
	// for t < powTable (the same bits, computed once in New); larger step
	// counts call math.Pow.
	pow1, pow2 []float64
	asm        bool // vec.AdamRowAVX runs the rows' bulk

	team *parallel.Team
	job  update
	// pos[r] is the entry of row r in the current sparse update, -1 when
	// none: an update touching many rows walks the table in row order
	// (sequential access to the parameters and moments) instead of in
	// the batch's order. Grown on first such update.
	pos []int32
}

// scanFraction: a sparse update of at least Rows/scanFraction rows walks
// the table in row order.
const scanFraction = 8

// powTable is how many step counts Adam's bias corrections come from a
// table: Beta1^t has no effect on float64's 1−Beta1^t beyond t ≈ 350 at the
// default 0.9, and Beta2^t is a table lookup for rows updated fewer than
// this many times, which is nearly every row of a sparse table.
const powTable = 1 << 14

func newAdam(rows, dim int, b1, b2, eps float32, threads int) *Adam {
	a := &Adam{Rows: rows, Dim: dim, Beta1: b1, Beta2: b2, Eps: eps, Threads: threads,
		M: make([]float32, rows*dim), V: make([]float32, rows*dim), Steps: make([]float32, rows),
		pow1: make([]float64, powTable), pow2: make([]float64, powTable), asm: vec.HasAdamAVX()}
	for t := range powTable {
		a.pow1[t] = math.Pow(float64(b1), float64(t))
		a.pow2[t] = math.Pow(float64(b2), float64(t))
	}
	return a
}

// pow returns b^t from table (when t is in it) or math.Pow.
func pow(table []float64, b float64, t float32) float64 {
	if i := int(t); i < len(table) {
		return table[i]
	}
	return math.Pow(b, float64(t))
}

// adamRowGo updates one row: m and v move towards g, p by step·m/(√v+eps).
// vec.AdamRowAVX does the same operations 8 lanes at a time.
func adamRowGo(p, m, v, g []float32, c *vec.AdamConsts) {
	m, v, g = m[:len(p)], v[:len(p)], g[:len(p)]
	for i := range p {
		gi := g[i]
		m[i] = c.B1*m[i] + c.OneMinusB1*gi
		v[i] = c.B2*v[i] + c.OneMinusB2*gi*gi
		p[i] -= c.Step * m[i] / (float32(math.Sqrt(float64(v[i]))) + c.Eps)
	}
}

// Update implements Optimizer.
func (a *Adam) Update(param []float32, rows []int32, grads []float32, lr float32) {
	n := a.Rows
	if rows != nil {
		n = len(rows)
	}
	if a.job.row == nil {
		a.job.row = a.rowsOf
	}
	a.job.n, a.job.rows, a.job.param, a.job.grads, a.job.lr = n, rows, param, grads, lr
	if rows != nil && len(rows)*scanFraction >= a.Rows {
		if a.pos == nil {
			a.pos = make([]int32, a.Rows)
			for i := range a.pos {
				a.pos[i] = -1
			}
		}
		for k, r := range rows {
			if a.pos[r] >= 0 { // a repeated row: undo, update in the given order
				for _, q := range rows[:k] {
					a.pos[q] = -1
				}
				a.job.run(a.team)
				return
			}
			a.pos[r] = int32(k)
		}
		if a.job.scan == nil {
			a.job.scan = a.scanOf
		}
		a.job.n, a.job.scanning = a.Rows, true
		a.job.run(a.team)
		return
	}
	a.job.run(a.team)
}

// scanOf updates the table rows [lo,hi) that u lists (a.pos), in row
// order, and clears their pos entries.
func (a *Adam) scanOf(u *update, lo, hi int) {
	d := a.Dim
	// the gradient rows come in the batch's order, random in the table's:
	// prefetch the one of a row a few rows ahead
	const ahead = 16
	for r := lo; r < min(lo+ahead, hi); r++ {
		if k := a.pos[r]; k >= 0 {
			vec.PrefetchRow(&u.grads[int(k)*d], d)
		}
	}
	for r := lo; r < hi; r++ {
		if r+ahead < hi {
			if k := a.pos[r+ahead]; k >= 0 {
				vec.PrefetchRow(&u.grads[int(k)*d], d)
			}
		}
		if k := a.pos[r]; k >= 0 {
			a.pos[r] = -1
			a.rowK(u, r, int(k))
		}
	}
}

// rowsOf updates the rows of u's entries [lo,hi).
func (a *Adam) rowsOf(u *update, lo, hi int) {
	for k := lo; k < hi; k++ {
		r := k
		if u.rows != nil {
			r = int(u.rows[k])
		}
		a.rowK(u, r, k)
	}
}

// rowK updates row r with u's k-th gradient row.
func (a *Adam) rowK(u *update, r, k int) {
	d := a.Dim
	b1, b2 := float64(a.Beta1), float64(a.Beta2)
	a.Steps[r]++
	t := a.Steps[r]
	// Fold the bias corrections into the step size and epsilon.
	c1 := 1 - pow(a.pow1, b1, t)
	c2 := math.Sqrt(1 - pow(a.pow2, b2, t))
	c := vec.AdamConsts{B1: a.Beta1, OneMinusB1: 1 - a.Beta1, B2: a.Beta2, OneMinusB2: 1 - a.Beta2,
		Step: float32(float64(u.lr) * c2 / c1), Eps: float32(float64(a.Eps) * c2)}
	p := u.param[r*d : r*d+d]
	m := a.M[r*d : r*d+d]
	v := a.V[r*d : r*d+d]
	g := u.grads[k*d : k*d+d]
	bulk := 0
	if a.asm {
		bulk = d &^ 7
		vec.AdamRowAVX(p[:bulk], m, v, g, &c)
	}
	adamRowGo(p[bulk:], m[bulk:], v[bulk:], g[bulk:], &c)
}

// State implements Optimizer.
func (a *Adam) State(prefix string) []Array {
	return []Array{
		{Name: prefix + "/adam_m", Shape: []int{a.Rows, a.Dim}, Data: a.M},
		{Name: prefix + "/adam_v", Shape: []int{a.Rows, a.Dim}, Data: a.V},
		{Name: prefix + "/adam_steps", Shape: []int{a.Rows}, Data: a.Steps},
	}
}

// Load implements Optimizer.
func (a *Adam) Load(prefix string, state []Array) error {
	return load(state, map[string][]float32{
		prefix + "/adam_m": a.M, prefix + "/adam_v": a.V, prefix + "/adam_steps": a.Steps,
	})
}

// SGD is plain stochastic gradient descent; it has no state.
type SGD struct {
	Rows, Dim int
}

// Update implements Optimizer.
func (s *SGD) Update(param []float32, rows []int32, grads []float32, lr float32) {
	if rows == nil {
		for i, g := range grads {
			param[i] -= lr * g
		}
		return
	}
	d := s.Dim
	for k, r := range rows {
		p := param[int(r)*d : int(r)*d+d]
		for i, g := range grads[k*d : k*d+d] {
			p[i] -= lr * g
		}
	}
}

// State implements Optimizer (SGD has none).
func (s *SGD) State(string) []Array { return nil }

// Load implements Optimizer.
func (s *SGD) Load(string, []Array) error { return nil }

// Adagrad accumulates squared gradients per element.
type Adagrad struct {
	Rows, Dim int
	Eps       float32
	Threads   int
	G         []float32

	team *parallel.Team
	job  update
}

// Update implements Optimizer.
func (a *Adagrad) Update(param []float32, rows []int32, grads []float32, lr float32) {
	n := a.Rows
	if rows != nil {
		n = len(rows)
	}
	if a.job.row == nil {
		a.job.row = a.rowsOf
	}
	a.job.n, a.job.rows, a.job.param, a.job.grads, a.job.lr = n, rows, param, grads, lr
	a.job.run(a.team)
}

// rowsOf updates the rows of u's entries [lo,hi).
func (a *Adagrad) rowsOf(u *update, lo, hi int) {
	d := a.Dim
	for k := lo; k < hi; k++ {
		r := k
		if u.rows != nil {
			r = int(u.rows[k])
		}
		p := u.param[r*d : r*d+d]
		acc := a.G[r*d : r*d+d]
		for i, g := range u.grads[k*d : k*d+d] {
			acc[i] += g * g
			p[i] -= u.lr * g / (float32(math.Sqrt(float64(acc[i]))) + a.Eps)
		}
	}
}

// State implements Optimizer.
func (a *Adagrad) State(prefix string) []Array {
	return []Array{{Name: prefix + "/adagrad_g", Shape: []int{a.Rows, a.Dim}, Data: a.G}}
}

// Load implements Optimizer.
func (a *Adagrad) Load(prefix string, state []Array) error {
	return load(state, map[string][]float32{prefix + "/adagrad_g": a.G})
}

// load copies each wanted array out of state, checking sizes.
func load(state []Array, want map[string][]float32) error {
	found := 0
	for _, s := range state {
		dst, ok := want[s.Name]
		if !ok {
			continue
		}
		if len(dst) != len(s.Data) {
			return fmt.Errorf("%w: %s has %d values, want %d", ErrState, s.Name, len(s.Data), len(dst))
		}
		copy(dst, s.Data)
		found++
	}
	if found != len(want) {
		return fmt.Errorf("%w: found %d of %d arrays", ErrState, found, len(want))
	}
	return nil
}

// Schedule maps a step number to a learning rate.
type Schedule struct {
	// Kind is constant, step or cosine. Default constant.
	Kind string
	// Base is the peak learning rate.
	Base float64
	// Warmup linearly ramps the rate from Base/Warmup to Base over the first
	// Warmup steps. 0 means no warmup.
	Warmup int
	// DecaySteps: for step, multiply by DecayRate every DecaySteps steps; for
	// cosine, the length of the cosine from Base to MinLR (after warmup),
	// after which the rate stays at MinLR.
	DecaySteps int
	// DecayRate is the step decay factor. Default 0.1.
	DecayRate float64
	// MinLR is the floor of the cosine schedule.
	MinLR float64
}

// LR returns the learning rate of step (0-based).
func (s Schedule) LR(step int) float64 {
	if s.Warmup > 0 && step < s.Warmup {
		return s.Base * float64(step+1) / float64(s.Warmup)
	}
	t := step - s.Warmup
	switch s.Kind {
	case "step":
		if s.DecaySteps <= 0 {
			return s.Base
		}
		r := s.DecayRate
		if r == 0 {
			r = 0.1
		}
		return s.Base * math.Pow(r, float64(t/s.DecaySteps))
	case "cosine":
		if s.DecaySteps <= 0 {
			return s.Base
		}
		if t >= s.DecaySteps {
			return s.MinLR
		}
		return s.MinLR + 0.5*(s.Base-s.MinLR)*(1+math.Cos(math.Pi*float64(t)/float64(s.DecaySteps)))
	}
	return s.Base
}

// Validate reports an unknown schedule kind.
func (s Schedule) Validate() error {
	switch s.Kind {
	case "", "constant", "step", "cosine":
		return nil
	}
	return fmt.Errorf("optim: unknown lr schedule %q (want constant, step or cosine)", s.Kind)
}
