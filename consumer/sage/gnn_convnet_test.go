//go:build !cuda

package sage

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	G "gorgonia.org/gorgonia"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/internal/parallel"
	"github.com/trainerd/trainerd/linalg"
	"github.com/trainerd/trainerd/model"
)

// netCase is one hand-written architecture under test.
type netCase struct {
	name   string
	model  string // pinsage or graphsage
	agg    string
	inputs string // id, features or both
	skip   bool   // model.residual (PinSage)
}

var netCases = []netCase{
	{"pinsage/importance/id", "pinsage", "importance", "id", false},
	{"pinsage/mean/id", "pinsage", "mean", "id", false},
	{"pinsage/max/id", "pinsage", "max", "id", false},
	{"pinsage/importance/features", "pinsage", "importance", "features", false},
	{"pinsage/importance/both", "pinsage", "importance", "both", false},
	{"graphsage/mean/id", "graphsage", "mean", "id", false},
	{"graphsage/pool/id", "graphsage", "pool", "id", false},
	{"graphsage/mean/both", "graphsage", "mean", "both", false},
	{"graphsage/pool/features", "graphsage", "pool", "features", false},
	{"pinsage/importance/id/residual", "pinsage", "importance", "id", true},
	{"pinsage/importance/both/residual", "pinsage", "importance", "both", true},
}

// archOf returns the network of a case for widths dim and hidden.
func archOf(t testing.TB, c netCase, k, dim, hidden, featDim int) netArch {
	t.Helper()
	var spec convSpec
	if c.model == "pinsage" {
		spec = &pinSage{k: k, dim: dim, hidden: hidden, agg: c.agg, skip: c.skip}
	} else {
		spec = &graphSAGE{k: k, dim: dim, hidden: hidden, agg: c.agg}
	}
	a, ok := spec.arch(dim)
	if !ok {
		t.Fatalf("%s has no hand-written network", c.name)
	}
	a.dim, a.useID = dim, c.inputs != "features"
	if c.inputs != "id" {
		a.featDim = featDim
	}
	return a
}

// randNetInputs returns random parameters for arch (names from the
// spec's params), and a random K-hop computation graph in the producer's
// layout: sizes[k] nodes per layer, t slots, some unused (weight 0).
func randNetInputs[F float](r *rand.Rand, spec convSpec, arch netArch, sizes []int, t int) (map[string][]F, [][]int32, [][]float32) {
	params := map[string][]F{}
	var ps []dparam
	if arch.featDim > 0 {
		ps = append(ps, dparam{name: "proj/W", shape: []int{arch.featDim, arch.dim}}, dparam{name: "proj/b", shape: []int{1, arch.dim}})
	}
	ps = append(ps, spec.params(arch.dim)...)
	for _, p := range ps {
		v := make([]F, p.shape[0]*p.shape[1])
		sc := 1 / math.Sqrt(float64(p.shape[0]))
		for i := range v {
			v[i] = F(sc * (2*r.Float64() - 1))
		}
		params[p.name] = v
	}
	K := len(sizes) - 1
	idx := make([][]int32, K)
	w := make([][]float32, K)
	for k := 0; k < K; k++ {
		n, m := sizes[k], sizes[k+1]
		for u := 0; u < n; u++ {
			valid := r.IntN(t + 1) // 0..t valid slots
			if u%7 == 0 {
				valid = t
			}
			for s := 0; s < t; s++ {
				if s < valid {
					idx[k] = append(idx[k], int32(r.IntN(m)))
					w[k] = append(w[k], 0.05+r.Float32())
				} else {
					idx[k] = append(idx[k], int32(u))
					w[k] = append(w[k], 0)
				}
			}
		}
	}
	return params, idx, w
}

// TestConvNetNumericGradient checks every gradient of the hand-written
// networks in float64 against central finite differences of
// L = Σ out ⊙ R, with several row blocks per layer and a team of three.
func TestConvNetNumericGradient(t *testing.T) {
	const dim, hidden, featDim, T = 3, 5, 4, 3
	sizes := []int{30, 270, 1300} // several row blocks per layer; layer 1 has several groups of blocks
	for ci, c := range netCases {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(ci), 5))
			arch := archOf(t, c, 2, dim, hidden, featDim)
			var spec convSpec = &pinSage{k: 2, dim: dim, hidden: hidden, agg: c.agg, skip: c.skip}
			if c.model == "graphsage" {
				spec = &graphSAGE{k: 2, dim: dim, hidden: hidden, agg: c.agg}
			}
			params, idx, w := randNetInputs[float64](r, spec, arch, sizes, T)
			net, err := newConvNet(arch, params, parallel.NewTeam(3))
			if err != nil {
				t.Fatal(err)
			}
			mK := sizes[2]
			emb := make([]float64, mK*dim)
			ids := make([]uint32, mK)
			for i := range emb {
				emb[i] = 2*r.Float64() - 1
			}
			for i := range ids {
				ids[i] = uint32(i)
			}
			feat := make([]float64, mK*featDim)
			for i := range feat {
				feat[i] = r.Float64()
			}
			net.setHops(sizes, T, idx, w, true)
			out := net.forward(emb, ids, feat)
			R := make([]float64, len(out))
			for i := range R {
				R[i] = 2*r.Float64() - 1
			}
			lossAt := func() float64 {
				var s float64
				for i, v := range net.forward(emb, ids, feat) {
					s += v * R[i]
				}
				return s
			}
			lossAt()
			dx := slices.Clone(net.backward(slices.Clone(R)))
			grads := map[string][]float64{}
			for name, g := range net.grad {
				grads[name] = slices.Clone(g)
			}
			const eps = 1e-6
			check := func(what string, v []float64, ana []float64, at []int) {
				t.Helper()
				bad := 0
				for _, i := range at {
					old := v[i]
					v[i] = old + eps
					lp := lossAt()
					v[i] = old - eps
					lm := lossAt()
					v[i] = old
					num := (lp - lm) / (2 * eps)
					if math.Abs(num-ana[i]) > 1e-6+1e-4*math.Max(math.Abs(num), math.Abs(ana[i])) {
						if bad++; bad <= 3 {
							t.Errorf("%s[%d]: analytic %.9g, numeric %.9g", what, i, ana[i], num)
						}
					}
				}
			}
			if len(net.gradNames) != len(params) {
				t.Fatalf("network binds %d parameters, spec has %d", len(net.gradNames), len(params))
			}
			for _, name := range net.gradNames {
				all := make([]int, len(params[name]))
				for i := range all {
					all[i] = i
				}
				check(name, params[name], grads[name], all)
			}
			if arch.useID {
				var at []int
				for i := 0; i < 60; i++ {
					at = append(at, r.IntN(len(emb)))
				}
				check("x", emb, dx, at)
			}
		})
	}
}

// convCaseModel builds the model of case c on the planted graph p, with
// store features when the case uses them, and a batch for it.
func convCaseModel(t testing.TB, c netCase, p *gnnPlanted, threads int, seed uint64) (*convModel, *batch.Batch) {
	t.Helper()
	info := model.Info{NumUsers: p.U, NumItems: p.I, Graph: p.g}
	const ufd, ifd = 3, 5
	if c.inputs != "id" {
		fr := rand.New(rand.NewPCG(4, 4))
		uf, itf := make([]float32, p.U*ufd), make([]float32, p.I*ifd)
		for i := range uf {
			uf[i] = fr.Float32()
		}
		for i := range itf {
			itf[i] = fr.Float32()
		}
		info.UserFeatDim, info.ItemFeatDim, info.UserFeatures, info.ItemFeatures = ufd, ifd, uf, itf
	}
	mi, err := newModel(model.Config{Model: c.model, Dim: 8, Hidden: 16, Aggregator: c.agg, Inputs: c.inputs, Residual: c.skip, LR: 0.01, Loss: "softmax",
		Temperature: 0.5, Seed: 1, Threads: threads}, info)
	if err != nil {
		t.Fatal(err)
	}
	m := mi.(*convModel)
	b := p.batch(rand.New(rand.NewPCG(seed, 2)), m, 96, 40, 5)
	if m.useFeat {
		b.Feat, b.FeatDim = model.NodeFeatures(m.info, b.Layers[m.k]), ufd+ifd
	}
	return m, b
}

// netPass runs the hand-written network forward, the loss and backward on
// b and returns copies of the output rows, the parameter gradients (in
// m.params order) and the id rows' gradient.
func netPass(t testing.TB, m *convModel, b *batch.Batch) (out []float32, grads [][]float32, dx []float32) {
	t.Helper()
	sizes := make([]int, m.k+1)
	for k := range sizes {
		sizes[k] = len(b.Layers[k])
	}
	m.net.setHops(sizes, b.T, b.NbrIdx, b.NbrW, true)
	z := m.net.forward(m.emb, b.Layers[m.k], b.Feat)
	out = slices.Clone(z[:sizes[0]*m.cfg.Dim])
	m.loss.setBatch(b)
	m.loss.compute(z, sizes[0], m.cfg.Dim)
	if m.loss.err != nil {
		t.Fatal(m.loss.err)
	}
	g := m.net.backward(m.loss.dZ)
	if m.useID {
		dx = slices.Clone(g[:sizes[m.k]*m.cfg.Dim])
	}
	for i := range m.params {
		grads = append(grads, slices.Clone(m.netGrads[i]))
	}
	return out, grads, dx
}

// graphPass runs the same through the gorgonia graph (the path the
// hand-written network replaced).
func graphPass(t testing.TB, m *convModel, b *batch.Batch) (out []float32, grads [][]float32, dx []float32) {
	t.Helper()
	sizes := make([]int, m.k+1)
	for k := range sizes {
		sizes[k] = bucket(len(b.Layers[k]))
	}
	mc, err := m.buildMachine(sizes, b.T, true)
	if err != nil {
		t.Fatal(err)
	}
	defer mc.vm.Close()
	m.fill(mc, b.Layers, b.NbrIdx, b.NbrW, b.Feat)
	m.loss.setBatch(b)
	if err := mc.vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	value := func(n *G.Node) []float32 { return n.Value().Data().([]float32) }
	out = slices.Clone(value(mc.out)[:len(b.Layers[0])*m.cfg.Dim])
	for i := range m.params {
		grads = append(grads, slices.Clone(value(mc.grads[i])))
	}
	if m.useID {
		dx = slices.Clone(value(mc.grads[len(m.params)])[:len(b.Layers[m.k])*m.cfg.Dim])
	}
	return out, grads, dx
}

// maxRelErr is max|a-b| / max|b|.
func maxRelErr(a, b []float32) float64 {
	var d, s float64
	for i := range b {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
		s = math.Max(s, math.Abs(float64(b[i])))
	}
	if s == 0 {
		return d
	}
	return d / s
}

// TestConvNetMatchesGraph: on the same model and batch, the hand-written
// network's output and gradients match the gorgonia graph's within 1e-4.
func TestConvNetMatchesGraph(t *testing.T) {
	p := newGNNPlanted(t, 500, 700, 5, 10, 2, 6)
	for _, c := range netCases {
		t.Run(c.name, func(t *testing.T) {
			m, b := convCaseModel(t, c, p, 2, 1)
			if len(b.Layers[m.k]) <= rowBlock {
				t.Fatalf("want several row blocks, Layers[K] has %d rows", len(b.Layers[m.k]))
			}
			no, ng, nx := netPass(t, m, b)
			go_, gg, gx := graphPass(t, m, b)
			if e := maxRelErr(no, go_); e > 1e-4 {
				t.Errorf("output: relative error %.3g", e)
			}
			for i, pr := range m.params {
				if len(ng[i]) != len(gg[i]) {
					t.Fatalf("gradient of %s: %d vs %d values", pr.name, len(ng[i]), len(gg[i]))
				}
				if e := maxRelErr(ng[i], gg[i]); e > 1e-4 {
					t.Errorf("gradient of %s: relative error %.3g", pr.name, e)
				}
			}
			if m.useID {
				if e := maxRelErr(nx, gx); e > 1e-4 {
					t.Errorf("gradient of the id rows: relative error %.3g", e)
				}
			}
		})
	}
}

// TestConvNetThreadsBitIdentical: the network's output and gradients have
// the same bits with one, two and three threads (row blocks are fixed by
// the sizes, reductions run in block order).
func TestConvNetThreadsBitIdentical(t *testing.T) {
	p := newGNNPlanted(t, 500, 700, 5, 10, 2, 6)
	for _, c := range []netCase{netCases[0], netCases[2], netCases[4], netCases[5], netCases[6]} {
		t.Run(c.name, func(t *testing.T) {
			var ref [][]float32
			for _, th := range []int{1, 2, 3} {
				m, b := convCaseModel(t, c, p, th, 1)
				o, g, x := netPass(t, m, b)
				got := append(append([][]float32{o}, g...), x)
				if ref == nil {
					ref = got
					continue
				}
				for i := range ref {
					if !slices.Equal(ref[i], got[i]) {
						t.Fatalf("threads=%d: tensor %d differs from threads=1", th, i)
					}
				}
			}
		})
	}
}

// TestConvNetNoAllocs: once its buffers have grown, the hand-written
// part of a training step (batch check, hops, forward, backward)
// allocates nothing, with one thread and with a team, and neither does a
// whole step (loss and optimisers on the model's team included).
func TestConvNetNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector (sync.Pool drops items)")
	}
	if linalg.Backend() == "gonum" {
		t.Skip("gonum's GEMM starts goroutines (allocating) on large products; with OpenBLAS installed this checks the network's own allocations")
	}
	a, b, c := make([]float32, 64), make([]float32, 64), make([]float32, 64)
	if n := testing.AllocsPerRun(10, func() { linalg.Sgemm(false, false, 8, 8, 8, 1, a, 8, b, 8, 0, c, 8) }); n > 0 {
		t.Skipf("the GEMM backend (%s) allocates %v objects per call; run with -tags cblas (cgo OpenBLAS) to check the network's own allocations", linalg.Backend(), n)
	}
	p := newGNNPlanted(t, 300, 400, 4, 10, 2, 8)
	for _, c := range []netCase{netCases[0], netCases[2], netCases[4], netCases[5], netCases[6]} {
		for _, th := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/threads=%d", c.name, th), func(t *testing.T) {
				m, b := convCaseModel(t, c, p, th, 3)
				sizes := make([]int, m.k+1)
				for k := range sizes {
					sizes[k] = len(b.Layers[k])
				}
				m.net.setHops(sizes, b.T, b.NbrIdx, b.NbrW, true)
				z := m.net.forward(m.emb, b.Layers[m.k], b.Feat)
				m.loss.setBatch(b)
				m.loss.compute(z, sizes[0], m.cfg.Dim)
				dz := slices.Clone(m.loss.dZ)
				scratch := slices.Clone(dz)
				pass := func() {
					if err := m.check(b); err != nil {
						t.Fatal(err)
					}
					m.net.setHops(sizes, b.T, b.NbrIdx, b.NbrW, true)
					m.net.forward(m.emb, b.Layers[m.k], b.Feat)
					copy(scratch, dz)
					m.net.backward(scratch)
				}
				pass()
				if a := testing.AllocsPerRun(5, pass); a != 0 {
					t.Errorf("%v allocations per pass, want 0", a)
				}
				step := func() {
					if _, err := m.Step(context.Background(), b); err != nil {
						t.Fatal(err)
					}
				}
				step()
				if a := testing.AllocsPerRun(5, step); a != 0 {
					t.Errorf("%v allocations per step, want 0", a)
				}
			})
		}
	}
}

// TestConvNetSameSeedSameBits: two models from one seed stay bit-identical
// over several multi-threaded steps.
func TestConvNetSameSeedSameBits(t *testing.T) {
	p := newGNNPlanted(t, 300, 400, 4, 10, 2, 9)
	for _, c := range []netCase{netCases[0], netCases[5]} {
		t.Run(c.name, func(t *testing.T) {
			var states [][]model.Tensor
			for run := 0; run < 2; run++ {
				m, _ := convCaseModel(t, c, p, 2, 1)
				r := rand.New(rand.NewPCG(11, 11))
				for s := 0; s < 4; s++ {
					if _, err := m.Step(context.Background(), p.batch(r, m, 64, 32, 5)); err != nil {
						t.Fatal(err)
					}
				}
				states = append(states, m.State())
			}
			for i := range states[0] {
				if !slices.Equal(states[0][i].Data, states[1][i].Data) {
					t.Fatalf("%s differs between two runs of one seed", states[0][i].Name)
				}
			}
		})
	}
}

// TestReluKernels: the float32 kernels (two lanes per word) agree with the
// float64 ones and with gorgonia's x·[x ≥ 0] on every length and sign,
// zeros included.
func TestReluKernels(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	for _, n := range []int{0, 1, 2, 3, 7, 8, 129} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(n), 3))
			x := make([]float32, n)
			for i := range x {
				switch i % 5 {
				case 0:
					x[i] = 0
				case 1:
					x[i] = -r.Float32()
				case 2:
					x[i] = math.SmallestNonzeroFloat32
				default:
					x[i] = r.Float32()
				}
			}
			y := slices.Clone(x)
			relu(y)
			y64 := make([]float64, n)
			for i, v := range x {
				y64[i] = float64(v)
			}
			relu(y64)
			g := make([]float32, n)
			g64 := make([]float64, n)
			for i := range g {
				g[i] = float32(i + 1)
				g64[i] = float64(i + 1)
			}
			reluGrad(g, y)
			reluGrad(g64, y64)
			for i, v := range x {
				want := v
				if !(v >= 0) {
					want = negZero
				}
				if math.Float32bits(y[i]) != math.Float32bits(want) || math.Float64bits(y64[i]) != math.Float64bits(float64(want)) {
					t.Errorf("relu(%v) = %v / %v, want %v", v, y[i], y64[i], want)
				}
				wantG := float32(0)
				if v >= 0 {
					wantG = float32(i + 1)
				}
				if g[i] != wantG || g64[i] != float64(wantG) {
					t.Errorf("reluGrad at %v = %v / %v, want %v", v, g[i], g64[i], wantG)
				}
			}
		})
	}
}
