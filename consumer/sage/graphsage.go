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

// graphSAGE is GraphSAGE (Hamilton et al. 2017) over the batch's uniform
// neighbour samples with the mean and pool aggregators, plus GCN-style
// (normalised sum including self, one W) and GAT-style (attention over the
// T slots and self) aggregators. Layers 1..K-1 have width model.hidden and
// ReLU; layer K maps to model.dim without activation.
type graphSAGE struct {
	k, dim, hidden int
	agg            string
}

// NewGraphSAGE builds GraphSAGE. Defaults: 2 layers, aggregator mean,
// sampled-softmax loss.
func NewGraphSAGE(cfg model.Config, info model.Info) (model.Model, error) {
	cfg = embedcore.Defaults(cfg, modelspec.GraphSAGE, info)
	switch cfg.Aggregator {
	case "mean", "pool", "gcn", "gat":
	default:
		return nil, fmt.Errorf("graphsage: model.aggregator: unknown %q (want mean, pool, gcn or gat)", cfg.Aggregator)
	}
	spec := &graphSAGE{k: cfg.Layers, dim: cfg.Dim, hidden: cfg.Hidden, agg: cfg.Aggregator}
	return newConvModel("graphsage", cfg, info, spec)
}

func (s *graphSAGE) width(l int) int {
	if l == s.k {
		return s.dim
	}
	return s.hidden
}

func (s *graphSAGE) params(in int) []dparam {
	var ps []dparam
	d := in
	for l := 1; l <= s.k; l++ {
		pre := fmt.Sprintf("sage%d/", l)
		out := s.width(l)
		switch s.agg {
		case "mean":
			ps = append(ps, dparam{name: pre + "W", shape: []int{2 * d, out}})
		case "pool":
			ps = append(ps, dparam{name: pre + "Q", shape: []int{d, s.hidden}}, dparam{name: pre + "Q/b", shape: []int{1, s.hidden}},
				dparam{name: pre + "W", shape: []int{d + s.hidden, out}})
		case "gcn":
			ps = append(ps, dparam{name: pre + "W", shape: []int{d, out}})
		case "gat":
			ps = append(ps, dparam{name: pre + "W", shape: []int{d, out}},
				dparam{name: pre + "att/l", shape: []int{out, 1}}, dparam{name: pre + "att/r", shape: []int{out, 1}})
		}
		ps = append(ps, dparam{name: pre + "W/b", shape: []int{1, out}})
		d = out
	}
	return ps
}

func (s *graphSAGE) needs() hopNeeds {
	switch s.agg {
	case "pool":
		return hopNeeds{mask: true, self: true}
	case "gcn":
		return hopNeeds{idxSelf: true, wSelf: true}
	case "gat":
		return hopNeeds{idxSelf: true, bias: true, self: true}
	}
	return hopNeeds{w: true, uniform: true, self: true}
}

// arch is the hand-written network of the mean and pool aggregators; gcn
// and gat run on the gorgonia graph.
func (s *graphSAGE) arch(in int) (netArch, bool) {
	if s.agg != "mean" && s.agg != "pool" {
		return netArch{}, false
	}
	var ls []layerArch
	d := in
	for l := 1; l <= s.k; l++ {
		pre := fmt.Sprintf("sage%d/", l)
		la := layerArch{in: d, out: s.width(l), uniform: true, act: l < s.k, w: pre + "W", wb: pre + "W/b"}
		if s.agg == "pool" {
			la.msg, la.maxPool, la.hid, la.q, la.qb = true, true, s.hidden, pre+"Q", pre+"Q/b"
		}
		ls = append(ls, la)
		d = la.out
	}
	return netArch{layers: ls}, true
}

func (s *graphSAGE) forward(p map[string]*G.Node, h *G.Node, hops []nn.Hop) (*G.Node, error) {
	var err error
	for l := 1; l <= s.k; l++ {
		pre := fmt.Sprintf("sage%d/", l)
		layer := nn.SAGE{Agg: s.agg, W: nn.Linear{W: p[pre+"W"], B: p[pre+"W/b"]}, Q: nn.Linear{W: p[pre+"Q"], B: p[pre+"Q/b"]},
			AttL: p[pre+"att/l"], AttR: p[pre+"att/r"], Act: l < s.k}
		if h, err = layer.Fwd(h, hops[s.k-l]); err != nil {
			return nil, fmt.Errorf("graphsage layer %d: %w", l, err)
		}
	}
	return h, nil
}
