//go:build !cuda

package nn

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Linear is the affine map y = x·W + B with W in×out and B 1×out (B may be
// nil for a bias-free map).
type Linear struct {
	W, B *G.Node
}

// Fwd applies the map to x (rows × in).
func (l Linear) Fwd(x *G.Node) (*G.Node, error) {
	y, err := G.Mul(x, l.W)
	if err != nil {
		return nil, fmt.Errorf("nn.Linear %s: %w", l.W.Name(), err)
	}
	if l.B == nil {
		return y, nil
	}
	y, err = G.BroadcastAdd(y, l.B, nil, []byte{0})
	if err != nil {
		return nil, fmt.Errorf("nn.Linear %s bias: %w", l.W.Name(), err)
	}
	return y, nil
}

// scalar returns a constant of x's dtype.
func scalar(x *G.Node, v float64) (*G.Node, error) {
	switch x.Dtype() {
	case tensor.Float32:
		return G.NewConstant(float32(v)), nil
	case tensor.Float64:
		return G.NewConstant(v), nil
	}
	return nil, fmt.Errorf("nn: unsupported dtype %v", x.Dtype())
}

// LeakyReLU is max(x, alpha·x) for 0 ≤ alpha < 1 (gorgonia's own LeakyRelu
// is not used: it is not among the ops this package proves).
func LeakyReLU(x *G.Node, alpha float64) (*G.Node, error) {
	a, err := scalar(x, alpha)
	if err != nil {
		return nil, err
	}
	ax, err := G.HadamardProd(x, a)
	if err != nil {
		return nil, fmt.Errorf("nn.LeakyReLU: %w", err)
	}
	return G.MaxBetween(x, ax)
}

// L2Normalize divides each row of x by sqrt(‖row‖² + eps).
func L2Normalize(x *G.Node, eps float64) (*G.Node, error) {
	sq, err := G.Square(x)
	if err != nil {
		return nil, fmt.Errorf("nn.L2Normalize: %w", err)
	}
	s, err := G.Sum(sq, 1)
	if err != nil {
		return nil, fmt.Errorf("nn.L2Normalize: %w", err)
	}
	e, err := scalar(x, eps)
	if err != nil {
		return nil, err
	}
	if s, err = G.Add(s, e); err != nil {
		return nil, fmt.Errorf("nn.L2Normalize: %w", err)
	}
	if s, err = G.Sqrt(s); err != nil {
		return nil, fmt.Errorf("nn.L2Normalize: %w", err)
	}
	if s, err = G.Reshape(s, tensor.Shape{x.Shape()[0], 1}); err != nil {
		return nil, fmt.Errorf("nn.L2Normalize: %w", err)
	}
	return G.BroadcastHadamardDiv(x, s, nil, []byte{1})
}

// Hop is one hop of the computation graph as graph inputs: N target nodes,
// each with T neighbour slots pointing at rows of the layer below. The
// target node n is row n of the layer below (the producer's layout). Only
// the fields an aggregator uses need be set.
type Hop struct {
	N, T int
	// Idx (Int, N·T) holds each target's neighbour rows.
	Idx *G.Node
	// W (N·T) holds aggregation weights: importance α for PinSage's
	// importance pooling, 1/valid on valid slots for mean pooling.
	W *G.Node
	// Mask (N·T) is 1 on valid slots, 0 on unused ones (max pooling).
	Mask *G.Node
	// Self (Int, N) is 0..N-1: the target rows in the layer below.
	Self *G.Node
	// IdxSelf (Int, N·(T+1)) is each target's T neighbour slots followed by
	// the target itself (GCN, GAT).
	IdxSelf *G.Node
	// WSelf (N·(T+1)) is 1/(valid+1) on valid slots and self, 0 elsewhere (GCN).
	WSelf *G.Node
	// BiasSelf (N × (T+1)) is 0 on valid slots and self and a large negative
	// number on unused slots: the GAT softmax mask.
	BiasSelf *G.Node
}

// Pool aggregates the rows msg (M×h) of each target's neighbours: agg
// importance and mean are GatherSum with Hop.W, max is the slot-wise
// maximum over valid slots (GatherMax; a node without valid slots gets 0).
func Pool(msg *G.Node, hop Hop, agg string) (*G.Node, error) {
	switch agg {
	case "importance", "mean":
		return GatherSum(msg, hop.Idx, hop.W, hop.T)
	case "max":
		return GatherMax(msg, hop.Idx, hop.Mask, hop.T)
	}
	return nil, fmt.Errorf("nn.Pool: unknown aggregator %q (want importance, mean or max)", agg)
}

// Convolve is PinSage's CONVOLVE (Ying et al. 2018, Alg. 1) with its own
// parameters: n_u = γ({ReLU(Q·h_v + q)}), z_u = ReLU(W·[h_u ‖ n_u] + w),
// z_u / ‖z_u‖₂.
type Convolve struct {
	Q, W Linear
	// Agg is importance, mean or max.
	Agg string
	// Eps guards the normalisation (1e-12 when zero).
	Eps float64
}

// Fwd maps the layer below h (M×d) to the hop's N targets (N×out).
func (c Convolve) Fwd(h *G.Node, hop Hop) (*G.Node, error) {
	m, err := c.Q.Fwd(h)
	if err != nil {
		return nil, err
	}
	if m, err = G.Rectify(m); err != nil {
		return nil, fmt.Errorf("nn.Convolve: %w", err)
	}
	n, err := Pool(m, hop, c.Agg)
	if err != nil {
		return nil, err
	}
	self, err := G.ByIndices(h, hop.Self, 0)
	if err != nil {
		return nil, fmt.Errorf("nn.Convolve self: %w", err)
	}
	cat, err := G.Concat(1, self, n)
	if err != nil {
		return nil, fmt.Errorf("nn.Convolve concat: %w", err)
	}
	z, err := c.W.Fwd(cat)
	if err != nil {
		return nil, err
	}
	if z, err = G.Rectify(z); err != nil {
		return nil, fmt.Errorf("nn.Convolve: %w", err)
	}
	eps := c.Eps
	if eps == 0 {
		eps = 1e-12
	}
	return L2Normalize(z, eps)
}

// SAGE is one GraphSAGE layer (Hamilton et al. 2017) with aggregator
//   - mean: z = σ(W·[h_u ‖ Σ_v w_v h_v] + b) with Hop.W uniform over valid slots;
//   - pool: z = σ(W·[h_u ‖ max_v ReLU(Q·h_v + q)] + b);
//   - gcn:  z = σ(W·Σ_{v∈N(u)∪{u}} h_v/(|N(u)|+1) + b) (Kipf & Welling style, one W);
//   - gat:  z = σ(Σ_{v∈N(u)∪{u}} α_uv W·h_v + b), α = softmax over valid slots and
//     self of LeakyReLU(a_l·W h_u + a_r·W h_v) (Veličković et al. 2018).
//
// σ is ReLU when Act, else the identity (the last layer).
type SAGE struct {
	Agg string
	// W (and its bias) is the layer's main map; for gat W has no bias in
	// the attention scores and B is added after aggregation.
	W Linear
	// Q is the pool aggregator's message map.
	Q Linear
	// AttL, AttR (out×1) are GAT's attention vectors.
	AttL, AttR *G.Node
	// Act applies ReLU to the output.
	Act bool
	// Slope is GAT's LeakyReLU slope (0.2 when zero).
	Slope float64
}

// Fwd maps the layer below h (M×d) to the hop's N targets.
func (s SAGE) Fwd(h *G.Node, hop Hop) (*G.Node, error) {
	var z *G.Node
	var err error
	switch s.Agg {
	case "mean", "pool":
		var n *G.Node
		if s.Agg == "mean" {
			n, err = GatherSum(h, hop.Idx, hop.W, hop.T)
		} else {
			var m *G.Node
			if m, err = s.Q.Fwd(h); err == nil {
				if m, err = G.Rectify(m); err == nil {
					n, err = Pool(m, hop, "max")
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("nn.SAGE %s: %w", s.Agg, err)
		}
		self, err := G.ByIndices(h, hop.Self, 0)
		if err != nil {
			return nil, fmt.Errorf("nn.SAGE self: %w", err)
		}
		cat, err := G.Concat(1, self, n)
		if err != nil {
			return nil, fmt.Errorf("nn.SAGE concat: %w", err)
		}
		if z, err = s.W.Fwd(cat); err != nil {
			return nil, err
		}
	case "gcn":
		n, err := GatherSum(h, hop.IdxSelf, hop.WSelf, hop.T+1)
		if err != nil {
			return nil, fmt.Errorf("nn.SAGE gcn: %w", err)
		}
		if z, err = s.W.Fwd(n); err != nil {
			return nil, err
		}
	case "gat":
		if z, err = s.gat(h, hop); err != nil {
			return nil, fmt.Errorf("nn.SAGE gat: %w", err)
		}
	default:
		return nil, fmt.Errorf("nn.SAGE: unknown aggregator %q (want mean, pool, gcn or gat)", s.Agg)
	}
	if s.Act {
		return G.Rectify(z)
	}
	return z, nil
}

// Attention returns GAT's coefficients α (N × (T+1)) of the hop's targets
// over their slots and themselves, from the projected rows wh (M×out).
func Attention(wh, attL, attR *G.Node, hop Hop, slope float64) (*G.Node, error) {
	if slope == 0 {
		slope = 0.2
	}
	sl, err := G.Mul(wh, attL) // M×1
	if err != nil {
		return nil, err
	}
	sr, err := G.Mul(wh, attR) // M×1
	if err != nil {
		return nil, err
	}
	er, err := G.ByIndices(sr, hop.IdxSelf, 0) // N(T+1)×1
	if err != nil {
		return nil, err
	}
	if er, err = G.Reshape(er, tensor.Shape{hop.N, hop.T + 1}); err != nil {
		return nil, err
	}
	el, err := G.ByIndices(sl, hop.Self, 0) // N×1
	if err != nil {
		return nil, err
	}
	e, err := G.BroadcastAdd(er, el, nil, []byte{1})
	if err != nil {
		return nil, err
	}
	if e, err = LeakyReLU(e, slope); err != nil {
		return nil, err
	}
	if e, err = G.Add(e, hop.BiasSelf); err != nil {
		return nil, err
	}
	return G.SoftMax(e, 1)
}

func (s SAGE) gat(h *G.Node, hop Hop) (*G.Node, error) {
	wh, err := G.Mul(h, s.W.W)
	if err != nil {
		return nil, err
	}
	a, err := Attention(wh, s.AttL, s.AttR, hop, s.Slope)
	if err != nil {
		return nil, err
	}
	if a, err = G.Reshape(a, tensor.Shape{hop.N * (hop.T + 1)}); err != nil {
		return nil, err
	}
	z, err := GatherSum(wh, hop.IdxSelf, a, hop.T+1)
	if err != nil {
		return nil, err
	}
	if s.W.B != nil {
		return G.BroadcastAdd(z, s.W.B, nil, []byte{0})
	}
	return z, nil
}

// DensePair is PinSage's final map G2·ReLU(G1·z + g) (G2 without bias).
type DensePair struct {
	G1, G2 Linear
}

// Fwd applies the pair.
func (d DensePair) Fwd(z *G.Node) (*G.Node, error) {
	y, err := d.G1.Fwd(z)
	if err != nil {
		return nil, err
	}
	if y, err = G.Rectify(y); err != nil {
		return nil, fmt.Errorf("nn.DensePair: %w", err)
	}
	return d.G2.Fwd(y)
}
