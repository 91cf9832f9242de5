//go:build !cuda

package sage

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/trainerd/trainerd/consumer/embedcore"
	"github.com/trainerd/trainerd/consumer/nn"
	"github.com/trainerd/trainerd/model"
	"github.com/trainerd/trainerd/modelspec"
)

// pinSage is PinSage (Ying et al. 2018): K CONVOLVE layers (Alg. 1) with
// separate parameters, from Layers[K] inward, then the final dense pair
// G2·ReLU(G1·z + g). Inputs are id embeddings, projected store features,
// or their sum (model.inputs). Hidden width model.hidden, output model.dim.
type pinSage struct {
	k, dim, hidden int
	agg            string
	// skip adds each target's input to its output (model.residual).
	skip bool
}

// NewPinSage builds PinSage. Defaults: 2 layers, aggregator importance,
// max-margin loss as in the paper.
func NewPinSage(cfg model.Config, info model.Info) (model.Model, error) {
	cfg = embedcore.Defaults(cfg, modelspec.PinSage, info)
	switch cfg.Aggregator {
	case "importance", "mean", "max":
	default:
		return nil, fmt.Errorf("pinsage: model.aggregator: unknown %q (want importance, mean or max)", cfg.Aggregator)
	}
	spec := &pinSage{k: cfg.Layers, dim: cfg.Dim, hidden: cfg.Hidden, agg: cfg.Aggregator, skip: cfg.Residual}
	return newConvModel("pinsage", cfg, info, spec)
}

func (s *pinSage) params(in int) []dparam {
	var ps []dparam
	d := in
	for l := 1; l <= s.k; l++ {
		pre := fmt.Sprintf("conv%d/", l)
		ps = append(ps,
			dparam{name: pre + "Q", shape: []int{d, s.hidden}},
			dparam{name: pre + "Q/b", shape: []int{1, s.hidden}},
			dparam{name: pre + "W", shape: []int{d + s.hidden, s.hidden}},
			dparam{name: pre + "W/b", shape: []int{1, s.hidden}})
		d = s.hidden
	}
	return append(ps,
		dparam{name: "dense/G1", shape: []int{d, s.hidden}},
		dparam{name: "dense/G1/b", shape: []int{1, s.hidden}},
		dparam{name: "dense/G2", shape: []int{s.hidden, s.dim}})
}

func (s *pinSage) needs() hopNeeds {
	switch s.agg {
	case "max":
		return hopNeeds{mask: true, self: true}
	case "mean":
		return hopNeeds{w: true, uniform: true, self: true}
	}
	return hopNeeds{w: true, self: true}
}

func (s *pinSage) arch(in int) (netArch, bool) {
	return netArch{layers: pinSageArch(s.k, in, s.hidden, s.agg), dense: true, hidden: s.hidden, outDim: s.dim, skip: s.skip}, true
}

func (s *pinSage) forward(p map[string]*G.Node, h *G.Node, hops []nn.Hop) (*G.Node, error) {
	var err error
	h0 := h
	for l := 1; l <= s.k; l++ {
		pre := fmt.Sprintf("conv%d/", l)
		c := nn.Convolve{Q: nn.Linear{W: p[pre+"Q"], B: p[pre+"Q/b"]}, W: nn.Linear{W: p[pre+"W"], B: p[pre+"W/b"]}, Agg: s.agg}
		if h, err = c.Fwd(h, hops[s.k-l]); err != nil {
			return nil, fmt.Errorf("pinsage layer %d: %w", l, err)
		}
	}
	out, err := nn.DensePair{G1: nn.Linear{W: p["dense/G1"], B: p["dense/G1/b"]}, G2: nn.Linear{W: p["dense/G2"]}}.Fwd(h)
	if err != nil || !s.skip {
		return out, err
	}
	// Layers[0] is the first rows of Layers[K]: hop 0's self indices
	// pick the targets' inputs.
	in, err := G.ByIndices(h0, hops[0].Self, 0)
	if err != nil {
		return nil, fmt.Errorf("pinsage skip: %w", err)
	}
	return G.Add(out, in)
}
