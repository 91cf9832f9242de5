package embedcore

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/trainerd/trainerd/model"
	"github.com/trainerd/trainerd/modelspec"
)

// Defaults fills cfg's zero fields with the defaults of the model called
// name (a modelspec name), sized by info where a default depends on the
// data (info may be the zero Info when none does).
func Defaults(cfg model.Config, name string, info model.Info) model.Config {
	s, _ := modelspec.Lookup(name)
	return cfg.WithModelDefaults(s, info)
}

// InitNormal returns n values ~ N(0, std²) from a PCG generator seeded by
// seed and stream: every table, on CPU or GPU, starts from these values.
func InitNormal(n int, std float64, seed, stream uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, stream))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * std)
	}
	return v
}

// NormalizeRows scales every d-wide row of x, in place, to unit L2 norm
// (the norm summed in float64, plus 1e-12 so that a zero row stays zero):
// the exported embeddings of a model that scores by cosine.
func NormalizeRows(x []float32, d int) {
	if d <= 0 {
		return
	}
	for r := 0; r+d <= len(x); r += d {
		row := x[r : r+d]
		var s float64
		for _, v := range row {
			s += float64(v) * float64(v)
		}
		inv := float32(1 / math.Sqrt(s+1e-12))
		for i := range row {
			row[i] *= inv
		}
	}
}

// Grow returns b resliced to n, or a new slice when b is too small; the
// contents are not cleared.
func Grow[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	return b[:n]
}

// Inputs parses model.inputs (after Defaults) for the convolutional models,
// CPU and GPU alike: whether they read id embeddings and store features.
// featDim is the store's user plus item feature width; features without
// any are an error.
func Inputs(inputs string, featDim int) (useID, useFeat bool, err error) {
	switch inputs {
	case "id":
		useID = true
	case "features":
		useFeat = true
	case "both":
		useID, useFeat = true, true
	default:
		return false, false, fmt.Errorf("model.inputs: unknown %q (want id, features or both)", inputs)
	}
	if useFeat && featDim == 0 {
		return false, false, fmt.Errorf("model.inputs=%s but the store has no features", inputs)
	}
	return useID, useFeat, nil
}
