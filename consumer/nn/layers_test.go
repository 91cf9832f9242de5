//go:build !cuda

package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
)

// TestLayerGradients checks every layer's symbolic gradient (w.r.t. its
// input and all its parameters) against finite differences in float64.
func TestLayerGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	const n, T, m, d, hid = 4, 3, 9, 3, 5
	hd := randHop(r, n, T, m)
	// hop inputs, appended after the differentiated ones
	hopIns := []in{intIn(hd.idx), fixedIn(hd.w, n*T), fixedIn(hd.mean, n*T), fixedIn(hd.mask, n*T), intIn(seq(n)),
		intIn(hd.idxSelf), fixedIn(hd.wSelf, n*(T+1)), fixedIn(hd.biasSelf, n, T+1)}
	hop := func(x []*G.Node, base int, mean bool) Hop {
		w := x[base+1]
		if mean {
			w = x[base+2]
		}
		return Hop{N: n, T: T, Idx: x[base], W: w, Mask: x[base+3], Self: x[base+4], IdxSelf: x[base+5], WSelf: x[base+6], BiasSelf: x[base+7]}
	}
	convolve := func(agg string) func(*G.ExprGraph, []*G.Node) (*G.Node, error) {
		return func(_ *G.ExprGraph, x []*G.Node) (*G.Node, error) {
			c := Convolve{Q: Linear{W: x[1], B: x[2]}, W: Linear{W: x[3], B: x[4]}, Agg: agg}
			return c.Fwd(x[0], hop(x, 5, agg == "mean"))
		}
	}
	convIns := append([]in{randIn(m, d), randIn(d, hid), randIn(1, hid), randIn(d+hid, hid), randIn(1, hid)}, hopIns...)
	sage := func(agg string, act bool) func(*G.ExprGraph, []*G.Node) (*G.Node, error) {
		return func(_ *G.ExprGraph, x []*G.Node) (*G.Node, error) {
			s := SAGE{Agg: agg, W: Linear{W: x[1], B: x[2]}, Q: Linear{W: x[3], B: x[4]}, AttL: x[5], AttR: x[6], Act: act}
			return s.Fwd(x[0], hop(x, 7, true))
		}
	}
	// sageIns marks the parameters an aggregator does not use as fixed.
	sageIns := func(wIn int, unused ...int) []in {
		ins := append([]in{randIn(m, d), randIn(wIn, hid), randIn(1, hid), randIn(d, hid), randIn(1, hid), randIn(hid, 1), randIn(hid, 1)}, hopIns...)
		for _, u := range unused {
			ins[u].fixed = true
		}
		return ins
	}
	cases := []struct {
		name  string
		ins   []in
		build func(*G.ExprGraph, []*G.Node) (*G.Node, error)
	}{
		{"Linear", []in{randIn(4, 3), randIn(3, 2), randIn(1, 2)}, func(_ *G.ExprGraph, x []*G.Node) (*G.Node, error) {
			return Linear{W: x[1], B: x[2]}.Fwd(x[0])
		}},
		{"LeakyReLU", []in{randIn(4, 5)}, func(_ *G.ExprGraph, x []*G.Node) (*G.Node, error) { return LeakyReLU(x[0], 0.2) }},
		{"L2Normalize", []in{randIn(4, 5)}, func(_ *G.ExprGraph, x []*G.Node) (*G.Node, error) { return L2Normalize(x[0], 1e-12) }},
		{"DensePair", []in{randIn(4, 3), randIn(3, 5), randIn(1, 5), randIn(5, 2)}, func(_ *G.ExprGraph, x []*G.Node) (*G.Node, error) {
			return DensePair{G1: Linear{W: x[1], B: x[2]}, G2: Linear{W: x[3]}}.Fwd(x[0])
		}},
		{"Convolve importance", convIns, convolve("importance")},
		{"Convolve mean", convIns, convolve("mean")},
		{"Convolve max", convIns, convolve("max")},
		{"SAGE mean", sageIns(2*d, 3, 4, 5, 6), sage("mean", true)},
		{"SAGE pool", sageIns(d+hid, 5, 6), sage("pool", true)},
		{"SAGE gcn", sageIns(d, 3, 4, 5, 6), sage("gcn", true)},
		{"SAGE gat", sageIns(d, 3, 4), sage("gat", false)},
		{"GAT attention", []in{randIn(m, hid), randIn(hid, 1), randIn(hid, 1), intIn(hd.idx), fixedIn(hd.w, n*T), fixedIn(hd.mean, n*T), fixedIn(hd.mask, n*T), intIn(seq(n)),
			intIn(hd.idxSelf), fixedIn(hd.wSelf, n*(T+1)), fixedIn(hd.biasSelf, n, T+1)}, func(_ *G.ExprGraph, x []*G.Node) (*G.Node, error) {
			return Attention(x[0], x[1], x[2], hop(x, 3, false), 0.2)
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkGraph(t, uint64(100+i), tc.ins, tc.build, nil) })
	}
}

// TestAttentionMask checks GAT coefficients: rows sum to 1, unused slots
// get exactly 0, and they match a plain-Go softmax of LeakyReLU scores.
func TestAttentionMask(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const n, T, m, hid = 5, 4, 11, 3
	hd := randHop(r, n, T, m)
	whv, al, ar := make([]float64, m*hid), make([]float64, hid), make([]float64, hid)
	for _, s := range [][]float64{whv, al, ar} {
		for i := range s {
			s[i] = r.Float64()*2 - 1
		}
	}
	ref := func([][]float64) []float64 {
		dot := func(row int, a []float64) float64 {
			var s float64
			for c := 0; c < hid; c++ {
				s += whv[row*hid+c] * a[c]
			}
			return s
		}
		out := make([]float64, n*(T+1))
		for u := 0; u < n; u++ {
			var z float64
			for s := 0; s <= T; s++ {
				j := u*(T+1) + s
				if hd.biasSelf[j] < 0 {
					continue
				}
				e := dot(u, al) + dot(hd.idxSelf[j], ar)
				if e < 0 {
					e *= 0.2
				}
				out[j] = math.Exp(e)
				z += out[j]
			}
			for s := 0; s <= T; s++ {
				out[u*(T+1)+s] /= z
			}
		}
		return out
	}
	checkGraph(t, 9, []in{fixedIn(whv, m, hid), fixedIn(al, hid, 1), fixedIn(ar, hid, 1), intIn(seq(n)), intIn(hd.idxSelf), fixedIn(hd.biasSelf, n, T+1)},
		func(_ *G.ExprGraph, x []*G.Node) (*G.Node, error) {
			return Attention(x[0], x[1], x[2], Hop{N: n, T: T, Self: x[3], IdxSelf: x[4], BiasSelf: x[5]}, 0.2)
		}, ref)
}
