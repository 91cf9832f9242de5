package config

import (
	"strconv"
	"strings"
)

// Validation is `train.validation:`, the split training evaluates on when the
// store has none of its own: a seeded fraction of each user's train edges,
// held out of the training graph. The test split is never touched; it is
// scored once, for the selected checkpoint, when the run ends.
type Validation struct {
	// Fraction of each user's train edges held out (rounded per user, and
	// never a user's last train edge); 0 = no validation split: training
	// evaluates on the test split and the last epoch is the one kept, as
	// without selection. Default 0.1, at most 0.5.
	Fraction float64 `mapstructure:"fraction"`
	// Seed picks the held-out edges; 0 = train.seed. The same seed and store
	// always hold out the same edges.
	Seed uint64 `mapstructure:"seed"`
}

// MaxValidationFraction bounds train.validation.fraction.
const MaxValidationFraction = 0.5

// DefaultSelect is train.select's default.
const DefaultSelect = "recall@20"

// selectMetrics are the metric names train.select accepts before "@K"
// (eval.Metrics' keys; every one is higher-is-better). "mrr" alone is the
// untruncated reciprocal rank.
var selectMetrics = []string{"recall", "ndcg", "precision", "hit", "mrr"}

// ParseSelect splits a train.select value ("recall@20", "ndcg@50", "mrr")
// into its metric name and cut-off K (0 for "mrr"). It returns ok false for
// anything else.
func ParseSelect(s string) (name string, k int, ok bool) {
	if s == "mrr" {
		return s, 0, true
	}
	name, ks, found := strings.Cut(s, "@")
	if !found {
		return "", 0, false
	}
	known := false
	for _, m := range selectMetrics {
		known = known || m == name
	}
	k, err := strconv.Atoi(ks)
	if !known || err != nil || k < 1 || k > MaxEvalK || strconv.Itoa(k) != ks {
		return "", 0, false
	}
	return name, k, true
}

// ValidationSeed is the seed that picks the held-out validation edges:
// train.validation.seed, or train.seed when that is 0.
func (c *Config) ValidationSeed() uint64 {
	if c.Train.Validation.Seed != 0 {
		return c.Train.Validation.Seed
	}
	return c.Train.Seed
}

// validateSelect checks train.select and train.patience's cross-key rule.
func (c *Config) validateSelect(add func(error)) {
	if _, _, ok := ParseSelect(c.Train.Select); !ok {
		add(invalid("train.select", "want METRIC@K with METRIC one of %q and K in [1,%d], or \"mrr\", got %q",
			selectMetrics, MaxEvalK, c.Train.Select))
	}
	if c.Train.Patience > 0 && c.Train.Validation.Fraction == 0 {
		add(invalid("train.patience", "stops on the validation split, which train.validation.fraction 0 turns off (got patience %d)",
			c.Train.Patience))
	}
}
