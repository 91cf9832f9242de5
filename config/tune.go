package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// Tune chooses one numeric key's value on the validation split: before the
// run, one pilot run per value trains for Epochs epochs under the run's own
// schedule (each a run directory of its own, resumable like any run), the
// value whose pilot reaches the best train.select on validation wins (the
// first listed on a tie), and the run then trains from scratch with that
// value, exactly as a run configured with it would. A key whose best value
// depends on the data set (the weight of a loss term, a learning rate) can
// so ship as a choice rather than a number fitted to one data set.
type Tune struct {
	// Key is the full key path chosen, e.g. model.neg_weight; "" = no
	// tuning (Values and Epochs are then unused). It must be a numeric key that changes training (not under
	// dataset, checkpoint, http, train.validation or train.tune, nor
	// train.select, train.eval_k, train.eval_every, train.patience).
	Key string `mapstructure:"key"`
	// Values are the candidates, at least two, distinct, each one valid
	// for Key.
	Values []float64 `mapstructure:"values"`
	// Epochs is how many epochs each pilot trains (and is scored at), in
	// [1, train.epochs).
	Epochs int `mapstructure:"epochs"`
}

// tuneRefused lists the keys (exact, or prefixes ending in ".") that
// train.tune.key may not name: they do not change what is trained, or they
// change what the pilots are compared on.
var tuneRefused = []string{"dataset.", "checkpoint.", "http.", "train.validation.", "train.tune.",
	"train.select", "train.eval_k", "train.eval_every", "train.patience", "producer.workers", "producer.queue"}

// validateTune checks train.tune on its own and against the keys it
// depends on; flat is c flattened (dotted key → value). Whether each value is
// valid for the key is Candidates' check.
func (c *Config) validateTune(flat map[string]any, add func(error)) {
	t := c.Train.Tune
	if t.Key == "" {
		return // no tuning; values and epochs are unused, so `--set train.tune.key=` turns a config's tuning off
	}
	v, known := flat[t.Key]
	switch {
	case !known:
		add(invalid("train.tune.key", "%q is not a config key", t.Key))
	case !isNumber(v):
		add(invalid("train.tune.key", "%q is not a numeric key (its values are %T)", t.Key, v))
	case keyIn(t.Key, tuneRefused):
		add(invalid("train.tune.key", "%q cannot be tuned: it does not change training, or changes what pilots are compared on", t.Key))
	}
	if len(t.Values) < 2 {
		add(invalid("train.tune.values", "want at least two candidates for %s, got %d", t.Key, len(t.Values)))
	}
	seen := map[float64]int{}
	for i, x := range t.Values {
		if j, dup := seen[x]; dup {
			add(invalid(fmt.Sprintf("train.tune.values[%d]", i), "%v repeats train.tune.values[%d]", x, j))
		}
		seen[x] = i
	}
	if t.Epochs < 1 || t.Epochs >= c.Train.Epochs {
		add(invalid("train.tune.epochs", "want pilot epochs in [1, train.epochs %d), got %d", c.Train.Epochs, t.Epochs))
	}
	if c.Train.Validation.Fraction == 0 {
		add(invalid("train.tune.key", "pilots are compared on the validation split, which train.validation.fraction 0 turns off"))
	}
}

func isNumber(v any) bool {
	_, ok := numeric(v)
	return ok
}

// TuneSet is the --set override that gives train.tune.key the value x,
// e.g. "model.neg_weight=30".
func TuneSet(key string, x float64) string {
	return key + "=" + strconv.FormatFloat(x, 'g', -1, 64)
}

// Candidate loads the config of a plain run with key set to x: the layers
// path and sets give, x as the last --set, and no train.tune section.
func Candidate(path string, sets []string, key string, x float64) (*Config, error) {
	c, err := Load(path, append(slices.Clone(sets), TuneSet(key, x)))
	if err != nil {
		return nil, err
	}
	c.Train.Tune = Tune{}
	return c, nil
}

// Candidates is Candidate of each train.tune value of cfg (which Load
// returned for path and sets), in order. Every value that is invalid for the
// key is reported, at once, naming train.tune.values[i]. Candidates returns
// nil when cfg tunes nothing.
func Candidates(path string, sets []string, cfg *Config) ([]*Config, error) {
	t := cfg.Train.Tune
	if t.Key == "" {
		return nil, nil
	}
	var errs []error // not errList: it keeps one error per key, and each of these names the same key
	out := make([]*Config, len(t.Values))
	for i, x := range t.Values {
		c, err := Candidate(path, sets, t.Key, x)
		if err != nil {
			errs = append(errs, fmt.Errorf("config: train.tune.values[%d] (%s): %w", i, TuneSet(t.Key, x), err))
			continue
		}
		out[i] = c
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}
