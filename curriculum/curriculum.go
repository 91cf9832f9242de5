// Package curriculum owns the declarative training schedules: how the number
// of hard negatives per example, the personalized-PageRank rank window hard
// negatives are drawn from, the shared negative pool size and the max-margin
// Δ change over epochs or steps. The learning rate has its own scheduler,
// model.lr_schedule (package config, consumer/optim).
//
// A Schedule is pure: Schedule.At(epoch, step) depends on nothing but its
// arguments, so resuming from a checkpoint needs only the (epoch, step)
// position and never any schedule state. The package never reads data,
// touches the model or keeps package-level state.
//
// Position. With unit "epoch" the position is p = epoch−1 (epoch is 1-based,
// so the first epoch is p = 0); with unit "step" it is p = step, the global
// 0-based optimiser step. Every schedule kind is a function of p:
//
//	constant: value                                 (rank_window: lo, hi)
//	linear:   start + slope·p, clamped at cap (an upper bound when slope ≥ 0,
//	          a lower bound when slope < 0; cap 0 = no clamp for ints)
//	cosine:   end + (start−end)·(1+cos(π·min(p,over)/over))/2
//	steps:    the value of the last [at, value] pair with at ≤ p (first at = 0)
//
// Integer parameters (hard_negatives, pool_size, rank window) take the floor
// of the schedule's value, so slope 0.5 adds one every two epochs. An unset
// schedule (kind "") keeps the base value given to New (the model and
// producer settings). PinSage's curriculum, epoch n → n−1 hard negatives up to
// a cap of 6, is {kind: linear, start: 0, slope: 1, cap: 6}.
package curriculum

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"
)

// Unit names the axis a schedule runs over.
const (
	UnitEpoch = "epoch"
	UnitStep  = "step"
)

// Schedule kinds.
const (
	KindConstant = "constant"
	KindLinear   = "linear"
	KindCosine   = "cosine"
	KindSteps    = "steps"
)

// Config is the `curriculum:` section of the training config. Its mapstructure
// tags are the YAML keys. The zero value schedules nothing: At returns the
// base parameters.
type Config struct {
	// Unit is epoch (default) or step.
	Unit string `mapstructure:"unit"`
	// HardNegatives is the number of hard negatives per example.
	HardNegatives Spec `mapstructure:"hard_negatives"`
	// RankWindow is the PPR rank window [lo, hi) hard negatives are drawn from.
	RankWindow Window `mapstructure:"rank_window"`
	// PoolSize is the size of the shared negative pool.
	PoolSize Spec `mapstructure:"pool_size"`
	// Margin is the Δ of the max-margin loss.
	Margin Spec `mapstructure:"margin"`
}

// Spec is one scalar schedule. Which fields are used depends on Kind (see the
// package doc); the others must stay zero.
type Spec struct {
	// Kind is constant, linear, cosine or steps; "" = not scheduled.
	Kind string `mapstructure:"kind"`
	// Value is the constant's value.
	Value float64 `mapstructure:"value"`
	// Start is the value at p = 0 (linear, cosine).
	Start float64 `mapstructure:"start"`
	// Slope is the change per unit (linear).
	Slope float64 `mapstructure:"slope"`
	// Cap clamps a linear schedule (0 = no clamp).
	Cap float64 `mapstructure:"cap"`
	// End is the value reached at p = Over (cosine).
	End float64 `mapstructure:"end"`
	// Over is the length of the cosine decay in units (cosine).
	Over int `mapstructure:"over"`
	// Values are [at, value] pairs with increasing at, the first at 0 (steps).
	Values [][]float64 `mapstructure:"values"`
}

// Window is the rank-window schedule. constant: Lo, Hi. linear: Lo and Hi at
// p = 0, both moved by Slope per unit, Lo never below MinLo. steps: Values are
// [at, lo, hi] triples.
type Window struct {
	// Kind is constant, linear or steps; "" = not scheduled.
	Kind string `mapstructure:"kind"`
	// Lo is the first rank of the window (inclusive).
	Lo int `mapstructure:"lo"`
	// Hi is the end rank of the window (exclusive).
	Hi int `mapstructure:"hi"`
	// Slope moves both ends per unit (linear; negative = harder over time).
	Slope float64 `mapstructure:"slope"`
	// MinLo is the floor of Lo for linear windows.
	MinLo int `mapstructure:"min_lo"`
	// Values are [at, lo, hi] triples with increasing at, the first at 0.
	Values [][]float64 `mapstructure:"values"`
}

// Params are the scheduled values at one position.
type Params struct {
	HardPer  int
	RankLo   int
	RankHi   int
	PoolSize int
	Margin   float64
}

// Schedule evaluates a validated Config. It is immutable and safe for
// concurrent use.
type Schedule struct {
	cfg  Config
	base Params
}

// New validates cfg and returns its schedule; base supplies every parameter
// cfg leaves unscheduled. Errors name the key under `curriculum.`.
func New(cfg Config, base Params) (*Schedule, error) {
	if cfg.Unit == "" {
		cfg.Unit = UnitEpoch
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Schedule{cfg: cfg, base: base}, nil
}

// Config returns the schedule's configuration (with Unit filled in).
func (s *Schedule) Config() Config { return s.cfg }

// Validate checks every schedule; errors name the full key, e.g.
// "curriculum.margin.over: must be > 0 for kind cosine, got 0".
func (c Config) Validate() error {
	switch c.Unit {
	case "", UnitEpoch, UnitStep:
	default:
		return fmt.Errorf("curriculum.unit: want epoch or step, got %q", c.Unit)
	}
	checks := []struct {
		key     string
		s       Spec
		integer bool
		min     float64 // smallest allowed value
		strict  bool    // value must be > min rather than ≥ min
	}{
		{"curriculum.hard_negatives", c.HardNegatives, true, 0, false},
		{"curriculum.pool_size", c.PoolSize, true, 0, false},
		{"curriculum.margin", c.Margin, false, 0, false},
	}
	for _, ch := range checks {
		if err := ch.s.validate(ch.key, ch.min, ch.strict); err != nil {
			return err
		}
	}
	return c.RankWindow.validate("curriculum.rank_window")
}

func checkMin(key string, v, min float64, strict bool) error {
	if strict && !(v > min) {
		return fmt.Errorf("%s: must be > %g, got %g", key, min, v)
	}
	if !strict && !(v >= min) {
		return fmt.Errorf("%s: must be ≥ %g, got %g", key, min, v)
	}
	return nil
}

func (s Spec) validate(key string, min float64, strict bool) error {
	unused := func(names ...string) error {
		set := map[string]bool{
			"value": s.Value != 0, "start": s.Start != 0, "slope": s.Slope != 0, "cap": s.Cap != 0,
			"end": s.End != 0, "over": s.Over != 0, "values": len(s.Values) != 0,
		}
		allowed := map[string]bool{}
		for _, n := range names {
			allowed[n] = true
		}
		for _, n := range []string{"value", "start", "slope", "cap", "end", "over", "values"} {
			if set[n] && !allowed[n] {
				return fmt.Errorf("%s.%s: not used by kind %q", key, n, s.Kind)
			}
		}
		return nil
	}
	switch s.Kind {
	case "":
		return unused()
	case KindConstant:
		if err := unused("value"); err != nil {
			return err
		}
		return checkMin(key+".value", s.Value, min, strict)
	case KindLinear:
		if err := unused("start", "slope", "cap"); err != nil {
			return err
		}
		if err := checkMin(key+".start", s.Start, min, strict); err != nil {
			return err
		}
		if s.Cap != 0 {
			if err := checkMin(key+".cap", s.Cap, min, strict); err != nil {
				return err
			}
		} else if s.Slope < 0 && strict {
			return fmt.Errorf("%s.cap: a decreasing linear schedule needs a cap > %g", key, min)
		}
		return nil
	case KindCosine:
		if err := unused("start", "end", "over"); err != nil {
			return err
		}
		if s.Over <= 0 {
			return fmt.Errorf("%s.over: must be > 0 for kind cosine, got %d", key, s.Over)
		}
		if err := checkMin(key+".start", s.Start, min, strict); err != nil {
			return err
		}
		return checkMin(key+".end", s.End, min, strict)
	case KindSteps:
		if err := unused("values"); err != nil {
			return err
		}
		return checkSteps(key+".values", s.Values, 2, func(i int, row []float64) error {
			return checkMin(fmt.Sprintf("%s.values[%d]", key, i), row[1], min, strict)
		})
	}
	return fmt.Errorf("%s.kind: want constant, linear, cosine or steps, got %q", key, s.Kind)
}

// checkSteps checks [at, ...] rows: width n, at integral, first at 0, at
// strictly increasing, and each row by check.
func checkSteps(key string, rows [][]float64, n int, check func(int, []float64) error) error {
	if len(rows) == 0 {
		return fmt.Errorf("%s: kind steps needs at least one [at, ...] entry", key)
	}
	for i, row := range rows {
		if len(row) != n {
			return fmt.Errorf("%s[%d]: want %d numbers, got %d", key, i, n, len(row))
		}
		if row[0] != math.Trunc(row[0]) || row[0] < 0 {
			return fmt.Errorf("%s[%d]: at must be a whole number ≥ 0, got %g", key, i, row[0])
		}
		if i == 0 && row[0] != 0 {
			return fmt.Errorf("%s[0]: the first at must be 0, got %g", key, row[0])
		}
		if i > 0 && row[0] <= rows[i-1][0] {
			return fmt.Errorf("%s[%d]: at must increase, got %g after %g", key, i, row[0], rows[i-1][0])
		}
		if err := check(i, row); err != nil {
			return err
		}
	}
	return nil
}

func (w Window) validate(key string) error {
	checkLoHi := func(k string, lo, hi float64) error {
		if lo < 0 {
			return fmt.Errorf("%s: lo must be ≥ 0, got %g", k, lo)
		}
		if hi <= lo {
			return fmt.Errorf("%s: hi must be > lo, got lo %g hi %g", k, lo, hi)
		}
		return nil
	}
	switch w.Kind {
	case "":
		if w.Lo != 0 || w.Hi != 0 || w.Slope != 0 || w.MinLo != 0 || len(w.Values) != 0 {
			return fmt.Errorf("%s.kind: must be set when other rank_window keys are", key)
		}
		return nil
	case KindConstant, KindLinear:
		if w.Kind == KindConstant && (w.Slope != 0 || w.MinLo != 0) {
			return fmt.Errorf("%s: slope and min_lo are not used by kind constant", key)
		}
		if len(w.Values) != 0 {
			return fmt.Errorf("%s.values: not used by kind %q", key, w.Kind)
		}
		if w.MinLo < 0 {
			return fmt.Errorf("%s.min_lo: must be ≥ 0, got %d", key, w.MinLo)
		}
		return checkLoHi(key, float64(w.Lo), float64(w.Hi))
	case KindSteps:
		if w.Lo != 0 || w.Hi != 0 || w.Slope != 0 || w.MinLo != 0 {
			return fmt.Errorf("%s: kind steps takes only values: [[at, lo, hi], ...]", key)
		}
		return checkSteps(key+".values", w.Values, 3, func(i int, row []float64) error {
			return checkLoHi(fmt.Sprintf("%s.values[%d]", key, i), row[1], row[2])
		})
	}
	return fmt.Errorf("%s.kind: want constant, linear or steps, got %q", key, w.Kind)
}

// pos is the position p of (epoch, step) in the schedule's unit.
func (s *Schedule) pos(epoch, step int) float64 {
	if s.cfg.Unit == UnitStep {
		return float64(max(step, 0))
	}
	return float64(max(epoch-1, 0))
}

// At returns the parameters at 1-based epoch and 0-based global step. It
// depends on nothing else.
func (s *Schedule) At(epoch, step int) Params {
	p := s.pos(epoch, step)
	out := s.base
	if s.cfg.HardNegatives.Kind != "" {
		out.HardPer = max(floorInt(s.cfg.HardNegatives.eval(p)), 0)
	}
	if s.cfg.PoolSize.Kind != "" {
		out.PoolSize = max(floorInt(s.cfg.PoolSize.eval(p)), 0)
	}
	if s.cfg.Margin.Kind != "" {
		out.Margin = math.Max(s.cfg.Margin.eval(p), 0)
	}
	if s.cfg.RankWindow.Kind != "" {
		out.RankLo, out.RankHi = s.cfg.RankWindow.eval(p)
	}
	return out
}

// floorInt floors v, forgiving float noise just below a whole number.
func floorInt(v float64) int { return int(math.Floor(v + 1e-9)) }

func (s Spec) eval(p float64) float64 {
	switch s.Kind {
	case KindConstant:
		return s.Value
	case KindLinear:
		v := s.Start + s.Slope*p
		if s.Cap != 0 {
			if s.Slope >= 0 {
				v = math.Min(v, s.Cap)
			} else {
				v = math.Max(v, s.Cap)
			}
		}
		return v
	case KindCosine:
		x := math.Min(p, float64(s.Over)) / float64(s.Over)
		return s.End + (s.Start-s.End)*(1+math.Cos(math.Pi*x))/2
	case KindSteps:
		v := s.Values[0][1]
		for _, row := range s.Values {
			if row[0] <= p {
				v = row[1]
			}
		}
		return v
	}
	return 0
}

func (w Window) eval(p float64) (lo, hi int) {
	switch w.Kind {
	case KindConstant:
		return w.Lo, w.Hi
	case KindLinear:
		d := floorInt(w.Slope * p)
		lo, hi = w.Lo+d, w.Hi+d
		if lo < w.MinLo {
			hi += w.MinLo - lo
			lo = w.MinLo
		}
		return lo, hi
	case KindSteps:
		row := w.Values[0]
		for _, r := range w.Values {
			if r[0] <= p {
				row = r
			}
		}
		return floorInt(row[1]), floorInt(row[2])
	}
	return 0, 0
}

// Table writes the parameters at the start of each epoch 1..epochs as an
// aligned text table. For unit step, stepsPerEpoch converts epochs to steps
// (a step column is added and the row shows the values at the epoch's first
// step); it is ignored for unit epoch.
func (s *Schedule) Table(w io.Writer, epochs, stepsPerEpoch int) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	byStep := s.cfg.Unit == UnitStep
	header := "epoch\t"
	if byStep {
		header += "step\t"
	}
	fmt.Fprintln(tw, header+"hard/ex\trank_lo\trank_hi\tpool\tmargin\t")
	for e := 1; e <= epochs; e++ {
		step := (e - 1) * stepsPerEpoch
		p := s.At(e, step)
		fmt.Fprintf(tw, "%d\t", e)
		if byStep {
			fmt.Fprintf(tw, "%d\t", step)
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%.6g\t\n", p.HardPer, p.RankLo, p.RankHi, p.PoolSize, p.Margin)
	}
	return tw.Flush()
}
