package config

import (
	"math"

	"github.com/trainerd/trainerd/modelspec"
)

// ParamBytes estimates the bytes the model of c allocates up front for a data
// set of users and items: parameters, optimiser state, the full-graph buffers
// of LightGCN and NGCF and the embeddings Embed returns, all float32. These
// are the allocations that grow with (users+items)×model.dim, the ones that
// exhaust memory when a size key is too large for the data set; per-batch
// buffers (bounded by the size limits Validate enforces) and the store's
// features are not counted. The estimate saturates at math.MaxInt64 rather
// than overflowing. Call it on a validated config (Load's result) before
// building the model, and refuse to train when it exceeds the memory
// available.
func (c *Config) ParamBytes(users, items int) int64 {
	m := c.Model
	n := float64(max(users, 0)) + float64(max(items, 0))
	d := float64(max(m.Dim, 1))
	// Optimiser state per parameter (Adam: m and v; Adagrad: G) and per
	// row (Adam's step counts).
	var perParam, perRow float64
	switch m.Optimizer {
	case "adam", "":
		perParam, perRow = 2, 1
	case "adagrad":
		perParam = 1
	}
	// table is a rows×cols parameter with its optimiser state and gradient
	// or momentum buffers counted by the caller.
	table := func(rows, cols float64) float64 { return rows*cols*(1+perParam) + rows*perRow }

	spec, known := modelspec.Lookup(m.Model)
	var floats float64
	switch {
	case !known:
		floats = table(n, d) + n*d
	case spec.Arch == modelspec.ArchTable:
		floats = table(n, d) + n*d + n // table, Embed's copy, row slots
		if spec.UserTower && m.History.Weight > 0 {
			floats += float64(max(users, 0))*d + float64(max(items, 0)) // history means, item weights
			if m.History.Linear {
				floats += table(d, d) + d*d // M and its gradient
			}
		}
	case spec.Arch == modelspec.ArchPropagation:
		// base, final, grad, cur, nx, acc (propagation reuses them at any
		// depth); Embed's copy; slots and flags.
		floats = table(n, d) + 6*n*d + n*d + 2*n
	case spec.Arch == modelspec.ArchTransform:
		k := float64(spec.Layers(m.Layers))
		// base; final and its gradient (d·(K+1) wide); E[1..K], A and Z per
		// layer; seven n×d work buffers; Embed's copy; the layer weights.
		floats = table(n, d) + 2*n*d*(k+1) + 3*k*n*d + 7*n*d + n*d*(k+1) + n +
			table(k*(2*d+1), d) + k*(2*d+1)*d
	case spec.Arch == modelspec.ArchConv:
		k := float64(c.ConvLayers())
		h := float64(m.Hidden)
		if h <= 0 {
			h = 2 * d
		}
		w := math.Max(d, h)
		if m.Inputs != "features" {
			floats = table(n, d) // id embeddings (assumed present unless features only)
		}
		// Dense layers: at most three w×w blocks per layer and two more for
		// the dense head; each with gradient; Embed's output.
		dense := (3*k + 2) * w * w
		floats += table(dense, 1) + dense + n*d
	default:
		floats = table(n, d) + n*d
	}
	b := 4 * floats
	if b >= math.MaxInt64 || math.IsNaN(b) {
		return math.MaxInt64
	}
	return int64(b)
}
