package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/trainerd/trainerd/curriculum"
	"github.com/trainerd/trainerd/model"
	"github.com/trainerd/trainerd/modelspec"
)

var deviceRE = regexp.MustCompile(`^(auto|cpu|cuda|cuda:[0-9]+)$`)

// Size limits of the keys that size allocations. They are sanity bounds that
// hold on any machine and data set; whether a model fits in memory for a given
// data set is ParamBytes' estimate, which the trainer checks.
const (
	// MaxDim bounds model.dim and model.hidden.
	MaxDim = 1 << 14
	// MaxLayers bounds model.layers and producer.layers.
	MaxLayers = 8
	// MaxBatch bounds producer.batch_size and producer.negatives.pool_size.
	MaxBatch = 1 << 17
	// MaxScores bounds the scores of one batch, batch_size × (pool_size +
	// batch_size when model.in_batch): 2^30 float32 scores are 4 GiB.
	MaxScores = 1 << 30
	// MaxThreads bounds model.threads, producer.workers and producer.queue.
	MaxThreads = 1 << 10
	// MaxHard bounds the hard negatives per example curriculum.hard_negatives
	// schedules.
	MaxHard = 1 << 10
	// MaxEvalK bounds train.eval_k.
	MaxEvalK = 10000
)

// limit is the allowed range of one numeric key: [min, max], with either end
// open when minOpen/maxOpen. ±Inf means unbounded.
type limit struct {
	min, max         float64
	minOpen, maxOpen bool
}

var inf = math.Inf(1)

func atLeast(min float64) limit     { return limit{min: min, max: inf} }
func above(min float64) limit       { return limit{min: min, max: inf, minOpen: true} }
func within(min, max float64) limit { return limit{min: min, max: max} }
func upTo(max float64) limit        { return limit{min: -inf, max: max} }

// limits returns the range of every numeric key that has one. The producer
// keys' lower bounds and enums are producer.Config.Validate's; their upper
// bounds (sizes) are here.
func limits() map[string]limit {
	pos := func(max float64) limit { return limit{min: 0, max: max, minOpen: true} }
	return map[string]limit{
		"model.dim":                        pos(MaxDim),
		"model.layers":                     within(0, MaxLayers),
		"model.hidden":                     within(0, MaxDim),
		"model.margin":                     atLeast(0),
		"model.neg_weight":                 above(0),
		"model.temperature":                above(0),
		"model.history.weight":             within(0, 1),
		"model.history.max":                within(0, 1<<20),
		"model.history.degree_power":       atLeast(0),
		"model.dropout":                    {min: 0, max: 1, maxOpen: true},
		"model.l2":                         atLeast(0),
		"model.lr":                         above(0),
		"model.threads":                    within(0, MaxThreads),
		"model.warmup_steps":               atLeast(0),
		"model.decay_steps":                atLeast(0),
		"model.warmup_epochs":              atLeast(0),
		"model.decay_epochs":               atLeast(0),
		"model.decay_rate":                 atLeast(0),
		"model.min_lr":                     atLeast(0),
		"model.init_std":                   above(0),
		"producer.workers":                 within(0, MaxThreads),
		"producer.queue":                   pos(MaxThreads),
		"producer.batch_size":              upTo(MaxBatch),
		"producer.layers":                  upTo(MaxLayers),
		"producer.negatives.pool_size":     upTo(MaxBatch),
		"producer.examples.walk_length":    upTo(1 << 12),
		"producer.examples.window":         upTo(1 << 10),
		"producer.examples.walks_per_node": upTo(1 << 10),
		"producer.walk.steps":              upTo(1 << 20),
		"producer.walk.min_visits":         upTo(1 << 20),
		"producer.hard.steps":              upTo(1 << 28),
		"producer.hard.rank_hi":            upTo(1 << 24),
		"producer.hard.candidates":         upTo(1 << 16),
		"train.epochs":                     above(0),
		"train.eval_every":                 atLeast(0),
		"train.eval_k":                     pos(MaxEvalK),
		"train.validation.fraction":        within(0, MaxValidationFraction),
		"train.patience":                   atLeast(0),
		"checkpoint.every_steps":           atLeast(0),
		"checkpoint.every_minutes":         atLeast(0),
		"checkpoint.keep_last":             above(0),
	}
}

// check returns the error of v against l, or nil. v is finite.
func (l limit) check(key string, v float64, shown any) error {
	num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	switch {
	case l.minOpen && !(v > l.min):
		return invalid(key, "must be > %s, got %v", num(l.min), shown)
	case !l.minOpen && !(v >= l.min):
		return invalid(key, "must be ≥ %s, got %v", num(l.min), shown)
	case l.maxOpen && !(v < l.max):
		return invalid(key, "must be < %s, got %v", num(l.max), shown)
	case !l.maxOpen && !(v <= l.max):
		return invalid(key, "must be ≤ %s, got %v", num(l.max), shown)
	}
	return nil
}

// errList collects key errors, keeping the first per key (a key's index
// suffix "[i]..." ignored), so one bad value is reported once even when it
// breaks several rules.
type errList struct {
	errs []error
	seen map[string]bool
	// blocking is set by Load when an error leaves nothing to decode.
	blocking bool
}

func (l *errList) add(err error) {
	if err == nil {
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok && !isKeyError(err) {
		for _, e := range j.Unwrap() {
			l.add(e)
		}
		return
	}
	var ke *KeyError
	if errors.As(err, &ke) {
		base, _, _ := strings.Cut(ke.Key, "[")
		if l.seen == nil {
			l.seen = map[string]bool{}
		}
		if l.seen[base] {
			return
		}
		l.seen[base] = true
	}
	l.errs = append(l.errs, err)
}

func isKeyError(err error) bool { _, ok := err.(*KeyError); return ok }

func (l *errList) has(key string) bool { return l.seen[key] }

// hasPrefix reports whether an error was recorded for key or a key under it.
func (l *errList) hasPrefix(key string) bool {
	for k := range l.seen {
		if k == key || strings.HasPrefix(k, key+".") {
			return true
		}
	}
	return false
}

// err returns nil, the one error, or all of them joined (errors.Join: one
// per line).
func (l *errList) err() error {
	switch len(l.errs) {
	case 0:
		return nil
	case 1:
		return l.errs[0]
	}
	return errors.Join(l.errs...)
}

// nonFinite reports every float in v (a struct, slice or scalar value) that
// is NaN or ±Inf, naming its full key ("model.lr", "curriculum.margin.values[1][0]").
func nonFinite(v reflect.Value, key string, add func(error)) {
	switch v.Kind() {
	case reflect.Struct:
		for _, f := range fieldsOf(v.Type()) {
			k := f.name
			if key != "" {
				k = key + "." + f.name
			}
			nonFinite(v.FieldByIndex(f.index), k, add)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			nonFinite(v.Index(i), fmt.Sprintf("%s[%d]", key, i), add)
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			nonFinite(v.Elem(), key, add)
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			nonFinite(it.Value(), fmt.Sprintf("%s.%v", key, it.Key()), add)
		}
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			add(invalid(key, "must be a finite number, got %v", f))
		}
	}
}

// numeric returns v's value as a float64 when v is a number.
func numeric(v any) (float64, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(rv.Uint()), true
	case reflect.Float32, reflect.Float64:
		return rv.Float(), true
	}
	return 0, false
}

// Validate checks c and reports every bad key at once: each problem is a
// *KeyError naming the full key, joined with errors.Join when there are
// several (one per line). It checks, in order: that every float (scalars and
// curriculum lists alike) is finite; enums; each numeric key's range,
// including the size limits (MaxDim, MaxLayers, MaxBatch, MaxThreads, MaxHard,
// MaxEvalK); and the cross-key rules. Zero values documented as "auto"
// (model.layers, model.hidden, model.aggregator, model.inputs, model.threads,
// producer.workers, producer.seed, producer.walk.stop_nodes,
// producer.hard.steps) are valid; producer.layers must already be resolved
// (Resolve): it equals model.layers for pinsage and graphsage and is 0 for
// the other models. The producer.* keys other than workers and queue are
// checked by producer.Config.Validate, on the values as given (a zero that
// producer would replace by its default is refused where the default is not
// zero, as Default() never holds such a zero).
func (c *Config) Validate() error {
	var errs errList
	nonFinite(reflect.ValueOf(*c), "", errs.add)

	m := c.Model
	spec, known := modelspec.Lookup(m.Model)
	losses := modelspec.ConfigLosses()
	if known {
		losses = spec.Losses
	}
	schedules := []string{""}
	for _, sc := range modelspec.Schedules() {
		schedules = append(schedules, sc.String())
	}
	enums := []struct {
		key, v  string
		allowed []string
	}{
		{"model.name", m.Model, modelspec.Names()},
		{"model.aggregator", m.Aggregator, append([]string{""}, modelspec.Aggregators()...)},
		{"model.inputs", m.Inputs, []string{"", "id", "features", "both"}},
		{"model.loss", m.Loss, names(losses)},
		{"model.optimizer", m.Optimizer, []string{"adam", "sgd", "adagrad"}},
		{"model.lr_schedule", m.LRSchedule, schedules},
		{"model.lr_unit", m.LRUnit, []string{"", model.LRUnitStep, model.LRUnitEpoch}},
	}
	for _, e := range enums {
		found := false
		for _, a := range e.allowed {
			found = found || e.v == a
		}
		if !found {
			errs.add(invalid(e.key, "want one of %q, got %q", e.allowed, e.v))
		}
	}

	flat := map[string]any{}
	flatten(reflect.ValueOf(*c), "", flat)
	lims := limits()
	for _, k := range Keys() {
		l, ok := lims[k]
		if !ok || errs.has(k) {
			continue
		}
		if f, ok := numeric(flat[k]); ok {
			errs.add(l.check(k, f, flat[k]))
		}
	}

	// history.weight 0 turns the aggregation off and makes the other
	// history keys irrelevant (the consumer ignores them), so only an
	// active aggregation's keys can conflict; every conflict is reported.
	if h := m.History; h.Active() && h.EmbedOnly {
		if h.Linear {
			errs.add(invalid("model.history.linear", "is learned in training, which model.history.embed_only leaves the aggregation out of"))
		}
		if h.Max != 0 {
			errs.add(invalid("model.history.max", "samples training histories, which model.history.embed_only leaves out"))
		}
	}
	for _, k := range []struct {
		key string
		set bool
	}{{"model.history.weight", m.History.Weight > 0}, {"model.dropout", m.Dropout > 0}} {
		if k.set && !spec.UserTower {
			errs.add(invalid(k.key, "is MF's user tower: needs model.name %s, got %q", modelsWhere(func(s modelspec.Spec) bool { return s.UserTower }), m.Model))
		}
		if ui := modelspec.UserItem.String(); k.set && c.Producer.Examples.Kind != ui {
			errs.add(invalid(k.key, "needs user queries: producer.examples.kind %s, got %q", ui, c.Producer.Examples.Kind))
		}
	}

	if m.Residual && !spec.Residual {
		errs.add(invalid("model.residual", "needs model.name %s, got %q", modelsWhere(func(s modelspec.Spec) bool { return s.Residual }), m.Model))
	}

	// producer.layers against model.layers.
	p := c.Producer
	switch {
	case spec.Convolves && p.Layers != c.ConvLayers():
		errs.add(invalid("producer.layers", "must equal model.layers for %s (model.layers %d%s, producer.layers %d); leave producer.layers 0 to derive it",
			m.Model, m.Layers, map[bool]string{true: fmt.Sprintf(" = %d", c.ConvLayers()), false: ""}[m.Layers == 0], p.Layers))
	case !spec.Convolves && p.Layers != 0:
		errs.add(invalid("producer.layers", "%s builds no computation graph from the producer (its model.layers %d propagate over the whole graph): leave producer.layers 0, got %d",
			m.Model, m.Layers, p.Layers))
	}
	// The shared pool is the only source of negatives unless in-batch
	// negatives are on: without either every loss is zero (or, for ccl, has
	// no negative term) and the model learns nothing.
	if p.Negatives.PoolSize == 0 && !m.InBatch {
		errs.add(invalid("producer.negatives.pool_size", "must be ≥ 1 unless model.in_batch is true (0 leaves the loss without negatives), got 0"))
	}
	errs.add(keyErrors(c.Curriculum.Validate(), "curriculum"))
	// The schedules of sizes: their largest value over the run.
	horizon := math.Inf(1) // unit step: the number of steps is the data set's
	if c.Curriculum.Unit == "" || c.Curriculum.Unit == "epoch" {
		horizon = float64(max(c.Train.Epochs-1, 0))
	}
	pool, hard := float64(p.Negatives.PoolSize), 0.0
	for _, s := range []struct {
		key string
		sp  curriculum.Spec
		max float64
		v   *float64
	}{
		{"curriculum.pool_size", c.Curriculum.PoolSize, MaxBatch, &pool},
		{"curriculum.hard_negatives", c.Curriculum.HardNegatives, MaxHard, &hard},
	} {
		if s.sp.Kind == "" || errs.hasPrefix(s.key) {
			continue
		}
		top := specMax(s.sp, horizon)
		if top > s.max {
			errs.add(invalid(s.key, "reaches %g over the run (unit %s, train.epochs %d), must stay ≤ %d; set a cap",
				top, c.Curriculum.Unit, c.Train.Epochs, int(s.max)))
			continue
		}
		*s.v = math.Max(*s.v, top)
	}
	if !errs.has("producer.batch_size") && !errs.has("producer.negatives.pool_size") {
		b := float64(p.BatchSize)
		scores := b * (pool + hard)
		if m.InBatch {
			scores += b * b
		}
		if scores > MaxScores {
			errs.add(invalid("producer.batch_size", "%d × (pool %.0f + hard negatives %.0f%s) = %.0f scores per batch, must be ≤ %d (4 GiB of float32; "+
				"pool: producer.negatives.pool_size or curriculum.pool_size, hard: curriculum.hard_negatives)",
				p.BatchSize, pool, hard, map[bool]string{true: " + batch_size for model.in_batch", false: ""}[m.InBatch], scores, MaxScores))
		}
	}
	errs.add(keyErrors(p.Config.Validate(), "producer"))

	c.validateSelect(errs.add)
	c.validateTune(flat, errs.add)
	c.validateSchedule(errs.add)
	if !deviceRE.MatchString(c.Train.Device) {
		errs.add(invalid("train.device", "want auto, cpu, cuda or cuda:N, got %q", c.Train.Device))
	}
	if a := c.HTTP.Addr; a != "" {
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs.add(invalid("http.addr", "want host:port or \"\", got %q (%v)", a, err))
		}
	}
	return errs.err()
}

// names returns the config names of losses.
func names(losses []modelspec.Loss) []string {
	out := make([]string, len(losses))
	for i, l := range losses {
		out[i] = l.String()
	}
	return out
}

// modelsWhere names the models whose spec has the property, "a or b".
func modelsWhere(has func(modelspec.Spec) bool) string {
	var out []string
	for _, s := range modelspec.All() {
		if has(s) {
			out = append(out, s.Name)
		}
	}
	return strings.Join(out, " or ")
}

// specMax is the largest value schedule s takes for positions p in
// [0, horizon] (+Inf: unbounded), as curriculum evaluates it.
func specMax(s curriculum.Spec, horizon float64) float64 {
	switch s.Kind {
	case curriculum.KindConstant:
		return s.Value
	case curriculum.KindLinear:
		if s.Slope <= 0 {
			return s.Start
		}
		top := s.Start + s.Slope*horizon
		if s.Cap != 0 {
			top = math.Min(top, s.Cap)
		}
		return top
	case curriculum.KindCosine:
		return math.Max(s.Start, s.End)
	case curriculum.KindSteps:
		top := math.Inf(-1)
		for _, row := range s.Values {
			if len(row) > 1 {
				top = math.Max(top, row[1])
			}
		}
		return top
	}
	return 0
}

// keyErrors turns a validation error of a section's own package, a message
// "<section>.<key>: <what>" or a join of such, into *KeyErrors of kind
// ErrInvalid: one, or several joined. A message that names no key of the
// section (not expected) keeps its text under the key section.
func keyErrors(err error, section string) error {
	if err == nil {
		return nil
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]error, 0, len(errs))
	for _, e := range errs {
		key, msg, ok := strings.Cut(e.Error(), ": ")
		if !ok || !strings.HasPrefix(key, section+".") || strings.ContainsAny(key, " \t") {
			key, msg = section, e.Error()
		}
		out = append(out, &KeyError{Key: key, Msg: msg, Kind: ErrInvalid})
	}
	if len(out) == 1 {
		return out[0]
	}
	return errors.Join(out...)
}
