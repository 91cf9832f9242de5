package loss

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/trainerd/trainerd/internal/vec"
)

// masks are the optional CSR masks of a test batch (nil: none).
type masks struct {
	negMask, negPtr, inMask, inPtr []int32
}

// masked reports whether column c is in row j of a CSR mask.
func masked(mask, ptr []int32, j, c int) bool {
	if ptr == nil {
		return false
	}
	return slices.Contains(mask[ptr[j]:ptr[j+1]], int32(c))
}

// ref is a float64 reference of every loss, written from the formulas in the
// package doc without score matrices or blocking; masked columns are left
// out of N_j.
func ref(cfg Config, B, P, H, D int, x []float64, mk masks) float64 {
	q := x[:B*D]
	pos := x[B*D : 2*B*D]
	pool := x[2*B*D : 2*B*D+P*D]
	hard := x[2*B*D+P*D:]
	vec := func(m []float64, r int) []float64 {
		v := append([]float64(nil), m[r*D:r*D+D]...)
		if cfg.Cosine {
			var s float64
			for _, a := range v {
				s += a * a
			}
			n := math.Sqrt(s + 1e-12)
			for i := range v {
				v[i] /= n
			}
		}
		return v
	}
	dot := func(a, b []float64) float64 {
		var s float64
		for i := range a {
			s += a[i] * b[i]
		}
		return s
	}
	var total float64
	for j := 0; j < B; j++ {
		qj := vec(q, j)
		sp := dot(qj, vec(pos, j))
		var negs []float64
		for p := 0; p < P; p++ {
			if !masked(mk.negMask, mk.negPtr, j, p) {
				negs = append(negs, dot(qj, vec(pool, p)))
			}
		}
		if cfg.InBatch {
			for k := 0; k < B; k++ {
				if k != j && !masked(mk.inMask, mk.inPtr, j, k) {
					negs = append(negs, dot(qj, vec(pos, k)))
				}
			}
		}
		for h := 0; h < H; h++ {
			negs = append(negs, dot(qj, vec(hard, j*H+h)))
		}
		n := float64(len(negs))
		var l float64
		switch cfg.Kind {
		case "bpr":
			for _, s := range negs {
				l += -math.Log(1/(1+math.Exp(-(sp-s)))) / n
			}
		case "margin":
			for _, s := range negs {
				l += math.Max(0, float64(cfg.Margin)-sp+s) / n
			}
		case "ccl":
			l = math.Max(0, 1-sp)
			for _, s := range negs {
				l += float64(cfg.NegWeight) * math.Max(0, s-float64(cfg.Margin)) / n
			}
		case "sgns":
			l = math.Log1p(math.Exp(-sp))
			for _, s := range negs {
				l += math.Log1p(math.Exp(s)) / n
			}
		case "softmax":
			t := float64(cfg.Temperature)
			z := math.Exp(sp / t)
			for _, s := range negs {
				z += math.Exp(s / t)
			}
			l = math.Log(z) - sp/t
		}
		total += l
	}
	return total / float64(B)
}

// randomMasks masks about frac of each row's pool and in-batch columns
// (with a repeated entry now and then); row 0 masks the whole pool and, when
// wholeRow, every in-batch column too.
func randomMasks(rng *rand.Rand, B, P int, frac float64, wholeRow bool) masks {
	var mk masks
	mk.negPtr = append(mk.negPtr, 0)
	mk.inPtr = append(mk.inPtr, 0)
	for j := 0; j < B; j++ {
		for p := 0; p < P; p++ {
			if j == 0 || rng.Float64() < frac {
				mk.negMask = append(mk.negMask, int32(p))
				if rng.IntN(5) == 0 {
					mk.negMask = append(mk.negMask, int32(p))
				}
			}
		}
		for k := 0; k < B; k++ {
			if k != j && ((j == 0 && wholeRow) || rng.Float64() < frac) {
				mk.inMask = append(mk.inMask, int32(k))
			}
		}
		mk.negPtr = append(mk.negPtr, int32(len(mk.negMask)))
		mk.inPtr = append(mk.inPtr, int32(len(mk.inMask)))
	}
	return mk
}

func TestGradientsNumeric(t *testing.T) {
	kinds := []Config{
		{Kind: "bpr"}, {Kind: "margin", Margin: 0.5}, {Kind: "sgns"}, {Kind: "softmax", Temperature: 0.5},
		{Kind: "softmax", Temperature: 0.15}, {Kind: "ccl", Margin: 0.2, NegWeight: 3},
	}
	type shape struct{ B, P, H, D int }
	shapes := []shape{{5, 7, 0, 4}, {6, 3, 2, 5}, {4, 0, 3, 3}, {9, 6, 0, 3}}
	for _, base := range kinds {
		for _, inBatch := range []bool{false, true} {
			for _, cosine := range []bool{false, true} {
				for _, withMask := range []bool{false, true} {
					for _, sh := range shapes {
						for _, sparse := range []float64{-1, 1} { // dense GEMMs, sparse backward
							cfg := base
							cfg.InBatch, cfg.Cosine = inBatch, cosine
							cfg.BlockRows = 2 // exercise blocking
							cfg.Threads = 2
							cfg.SparseMax = sparse
							name := fmt.Sprintf("%s/τ%v/inbatch=%v/cos=%v/mask=%v/sparse=%v/B%dP%dH%dD%d", cfg.Kind, cfg.Temperature,
								inBatch, cosine, withMask, sparse > 0, sh.B, sh.P, sh.H, sh.D)
							t.Run(name, func(t *testing.T) {
								var mk masks
								if withMask {
									rng := rand.New(rand.NewPCG(uint64(sh.B), uint64(sh.P)))
									// H = 0 shapes mask row 0 entirely (|N_0| = 0).
									mk = randomMasks(rng, sh.B, sh.P, 0.3, sh.H == 0)
								}
								checkGrad(t, cfg, sh.B, sh.P, sh.H, sh.D, mk)
							})
						}
					}
				}
			}
		}
	}
}

func checkGrad(t *testing.T, cfg Config, B, P, H, D int, mk masks) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(B*100+P), uint64(H*10+D)))
	n := (2*B + P + B*H) * D
	x := make([]float64, n)
	x32 := make([]float32, n)
	for i := range x {
		x32[i] = float32(rng.NormFloat64() * 0.7)
		x[i] = float64(x32[i])
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	in := Inputs{B: B, P: P, H: H, D: D, Q: x32[:B*D], Pos: x32[B*D : 2*B*D],
		Pool: x32[2*B*D : 2*B*D+P*D], Hard: x32[2*B*D+P*D:],
		NegMask: mk.negMask, NegMaskPtr: mk.negPtr, InMask: mk.inMask, InMaskPtr: mk.inPtr}
	got, g, err := l.Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	want := ref(cfg, B, P, H, D, x, mk)
	if math.Abs(got-want) > 1e-4*math.Max(1, math.Abs(want)) {
		t.Fatalf("loss %v want %v", got, want)
	}
	ana := slices.Concat(g.Q, g.Pos, g.Pool, g.Hard)
	const eps = 1e-6
	var diff, norm float64
	for i := range x {
		old := x[i]
		x[i] = old + eps
		fp := ref(cfg, B, P, H, D, x, mk)
		x[i] = old - eps
		fm := ref(cfg, B, P, H, D, x, mk)
		x[i] = old
		num := (fp - fm) / (2 * eps)
		diff += (num - float64(ana[i])) * (num - float64(ana[i]))
		norm += num*num + float64(ana[i])*float64(ana[i])
	}
	if norm == 0 {
		t.Fatalf("all-zero gradient")
	}
	if rel := math.Sqrt(diff / norm); rel > 1e-4 {
		t.Fatalf("relative gradient error %.2e", rel)
	}
	if mk.negPtr != nil && P > 0 {
		// Pool row 0 is masked for example 0; if every example masks it,
		// its gradient must be exactly zero.
		all := true
		for j := 0; j < B; j++ {
			all = all && masked(mk.negMask, mk.negPtr, j, 0)
		}
		if all && slices.ContainsFunc(g.Pool[:D], func(v float32) bool { return v != 0 }) {
			t.Fatalf("pool row masked everywhere has gradient %v", g.Pool[:D])
		}
	}
}

// TestMaskedPoolRowZeroGradient masks one pool row for every example: its
// gradient must be exactly zero for every loss, and the loss must equal the
// one computed without that row.
func TestMaskedPoolRowZeroGradient(t *testing.T) {
	const B, P, D = 40, 30, 8
	rng := rand.New(rand.NewPCG(7, 7))
	mk := func(n int) []float32 { return randn(rng, n) }
	q, pos, pool := mk(B*D), mk(B*D), mk(P*D)
	ptr := make([]int32, B+1)
	mask := make([]int32, B)
	for j := range B {
		mask[j] = 3
		ptr[j+1] = int32(j + 1)
	}
	// Same batch without pool row 3.
	pool2 := slices.Concat(pool[:3*D], pool[4*D:])
	for _, cfg := range []Config{{Kind: "bpr"}, {Kind: "margin", Margin: 1}, {Kind: "sgns"}, {Kind: "softmax", Temperature: 0.2}, {Kind: "ccl", Margin: -0.5, NegWeight: 2}} {
		for _, inBatch := range []bool{false, true} {
			cfg.InBatch, cfg.Threads = inBatch, 2
			l, _ := New(cfg)
			got, g, err := l.Compute(Inputs{B: B, P: P, D: D, Q: q, Pos: pos, Pool: pool, NegMask: mask, NegMaskPtr: ptr})
			if err != nil {
				t.Fatal(err)
			}
			if slices.ContainsFunc(g.Pool[3*D:4*D], func(v float32) bool { return v != 0 }) {
				t.Errorf("%+v: masked pool row has gradient %v", cfg, g.Pool[3*D:4*D])
			}
			gq := slices.Clone(g.Q)
			l2, _ := New(cfg)
			want, g2, err := l2.Compute(Inputs{B: B, P: P - 1, D: D, Q: q, Pos: pos, Pool: pool2})
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-want) > 1e-6*math.Max(1, math.Abs(want)) {
				t.Errorf("%+v: masked loss %v, loss without the row %v", cfg, got, want)
			}
			for i := range gq {
				if math.Abs(float64(gq[i]-g2.Q[i])) > 1e-6 {
					t.Fatalf("%+v: dQ[%d] %v, without the row %v", cfg, i, gq[i], g2.Q[i])
				}
			}
		}
	}
}

// TestDeterministic: results are bit-identical across runs and thread counts.
func TestDeterministic(t *testing.T) {
	const B, P, H, D = 300, 200, 2, 16
	rng := rand.New(rand.NewPCG(3, 4))
	mk := func(n int) []float32 { return randn(rng, n) }
	mks := randomMasks(rng, B, P, 0.05, false)
	in := Inputs{B: B, P: P, H: H, D: D, Q: mk(B * D), Pos: mk(B * D), Pool: mk(P * D), Hard: mk(B * H * D),
		NegMask: mks.negMask, NegMaskPtr: mks.negPtr, InMask: mks.inMask, InMaskPtr: mks.inPtr}
	for _, kind := range []string{"bpr", "margin", "sgns", "softmax", "ccl"} {
		var first []float32
		var firstLoss float64
		for _, threads := range []int{1, 2, 3, 2} {
			l, _ := New(Config{Kind: kind, Temperature: 0.2, Margin: 0.1, NegWeight: 5, InBatch: true, Cosine: true, Threads: threads, BlockRows: 128})
			v, g, err := l.Compute(in)
			if err != nil {
				t.Fatal(err)
			}
			all := slices.Concat(g.Q, g.Pos, g.Pool, g.Hard)
			if first == nil {
				first, firstLoss = all, v
				continue
			}
			if v != firstLoss || !slices.Equal(all, first) {
				t.Fatalf("%s: threads=%d differs from threads=1 (loss %v vs %v)", kind, threads, v, firstLoss)
			}
		}
	}
}

// TestMatchesBaseline compares the float32 kernels with the float64
// implementation they replaced on a batch big enough for several blocks.
func TestMatchesBaseline(t *testing.T) {
	const B, P, H, D = 300, 500, 2, 16
	rng := rand.New(rand.NewPCG(5, 6))
	mk := func(n int) []float32 { return randn(rng, n) }
	in := Inputs{B: B, P: P, H: H, D: D, Q: mk(B * D), Pos: mk(B * D), Pool: mk(P * D), Hard: mk(B * H * D)}
	for _, cfg := range []Config{{Kind: "bpr"}, {Kind: "margin", Margin: 0.5}, {Kind: "sgns"},
		{Kind: "softmax", Temperature: 0.15}, {Kind: "softmax", Temperature: 1}} {
		for _, cosine := range []bool{false, true} {
			cfg.InBatch, cfg.Cosine, cfg.BlockRows = true, cosine, 128
			l, _ := New(cfg)
			got, g, err := l.Compute(in)
			if err != nil {
				t.Fatal(err)
			}
			gNew := slices.Concat(g.Q, g.Pos, g.Pool, g.Hard)
			want, gb, err := newBase(cfg).baseCompute(in)
			if err != nil {
				t.Fatal(err)
			}
			gOld := slices.Concat(gb.Q, gb.Pos, gb.Pool, gb.Hard)
			if math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) {
				t.Errorf("%+v: loss %v, baseline %v", cfg, got, want)
			}
			if rel, _ := relDiff(gNew, gOld); rel > 1e-5 {
				t.Errorf("%+v: gradients differ from the baseline by %.2e (relative)", cfg, rel)
			}
		}
	}
}

// TestSparseBackwardMatchesDense: on a trained-like ccl batch (few
// negatives above the margin) the default takes the sparse backward pass,
// and its loss and gradients match the dense GEMMs'.
func TestSparseBackwardMatchesDense(t *testing.T) {
	const B, P, H, D = 300, 700, 1, 32
	rng := rand.New(rand.NewPCG(9, 10))
	mk := func(n int) []float32 { return randn(rng, n) }
	q := mk(B * D)
	pos := mk(B * D)
	for i := range pos {
		pos[i] = q[i] + 0.2*pos[i] // positives close to their queries, as after training
	}
	in := Inputs{B: B, P: P, H: H, D: D, Q: q, Pos: pos, Pool: mk(P * D), Hard: mk(B * H * D)}
	for _, cfg := range []Config{{Kind: "ccl", Margin: 0.5, NegWeight: 150}, {Kind: "margin", Margin: 0.5}} {
		for _, inBatch := range []bool{false, true} {
			cfg.Cosine, cfg.InBatch, cfg.BlockRows, cfg.Threads = true, inBatch, 128, 2
			dense, sparse := cfg, cfg
			dense.SparseMax = -1
			ld, _ := New(dense)
			ls, _ := New(sparse)
			wantL, gd, err := ld.Compute(in)
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Concat(gd.Q, gd.Pos, gd.Pool, gd.Hard)
			gotL, gs, err := ls.Compute(in)
			if err != nil {
				t.Fatal(err)
			}
			N := P
			if inBatch {
				N += B
			}
			if !ls.sparse(ls.scores[:128*N]) {
				t.Fatalf("%+v: block not sparse: the test does not exercise the sparse path", cfg)
			}
			got := slices.Concat(gs.Q, gs.Pos, gs.Pool, gs.Hard)
			if math.Abs(gotL-wantL) > 1e-6*math.Max(1, math.Abs(wantL)) {
				t.Errorf("%+v: loss %v, dense %v", cfg, gotL, wantL)
			}
			if rel, norm := relDiff(got, want); norm == 0 || rel > 1e-5 {
				t.Errorf("%+v: sparse gradients differ from dense by %.2e (norm %v)", cfg, rel, norm)
			}
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{{Kind: "nope"}, {Kind: "softmax"}, {Kind: "softmax", Temperature: float32(math.NaN())}} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	l, _ := New(Config{Kind: "bpr", InBatch: true})
	ok := func() Inputs {
		return Inputs{B: 2, P: 1, D: 1, Q: make([]float32, 2), Pos: make([]float32, 2), Pool: make([]float32, 1)}
	}
	for _, tc := range []struct {
		name string
		edit func(*Inputs)
	}{
		{"sizes", func(in *Inputs) { in.Q = in.Q[:1] }},
		{"mask without ptr", func(in *Inputs) { in.NegMask = []int32{0} }},
		{"short ptr", func(in *Inputs) { in.NegMask, in.NegMaskPtr = []int32{0}, []int32{0, 1} }},
		{"ptr end", func(in *Inputs) { in.NegMask, in.NegMaskPtr = []int32{0}, []int32{0, 1, 2} }},
		{"decreasing", func(in *Inputs) { in.NegMask, in.NegMaskPtr = []int32{0, 0}, []int32{0, 2, 1} }},
		{"empty ptr", func(in *Inputs) { in.NegMask, in.NegMaskPtr = nil, []int32{} }},
		{"offset past the mask", func(in *Inputs) { in.NegMask, in.NegMaskPtr = []int32{0, 0}, []int32{0, 9, 2} }},
		{"pool column", func(in *Inputs) { in.NegMask, in.NegMaskPtr = []int32{1}, []int32{0, 1, 1} }},
		{"negative column", func(in *Inputs) { in.NegMask, in.NegMaskPtr = []int32{-1}, []int32{0, 0, 1} }},
		{"in diagonal", func(in *Inputs) { in.InMask, in.InMaskPtr = []int32{1}, []int32{0, 0, 1} }},
		{"in column", func(in *Inputs) { in.InMask, in.InMaskPtr = []int32{2}, []int32{0, 1, 1} }},
	} {
		in := ok()
		if _, _, err := l.Compute(in); err != nil {
			t.Fatalf("valid input rejected: %v", err)
		}
		tc.edit(&in)
		if _, _, err := l.Compute(in); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func TestExpf(t *testing.T) {
	var worst float64
	for x := float32(-87); x <= 1; x += 0.00137 {
		got, want := float64(expf(x)), math.Exp(float64(x))
		worst = math.Max(worst, math.Abs(got-want)/want)
	}
	if worst > 3e-7 {
		t.Fatalf("expf relative error %.3g > 3e-7", worst)
	}
	t.Logf("expf max relative error on [-87, 1]: %.3g", worst)
	for _, tc := range []struct{ x, want float32 }{
		{0, 1}, {-87.5, 0}, {-1e30, 0}, {float32(math.Inf(-1)), 0}, {maskScore, 0},
	} {
		if got := expf(tc.x); got != tc.want {
			t.Errorf("expf(%v) = %v want %v", tc.x, got, tc.want)
		}
	}
	// Near the cut-off the result is a normal float32, not garbage.
	if x := float32(-86.99); math.Abs(float64(expf(x))-math.Exp(float64(x))) > 1e-6*math.Exp(float64(x)) {
		t.Errorf("expf(%v) = %v want %v", x, expf(x), math.Exp(float64(x)))
	}
}

func TestSoftplusSigmoid(t *testing.T) {
	for y := float32(-30); y <= 30; y += 0.0173 {
		sp, sig := softplusSigmoid(y)
		wsp := math.Max(float64(y), 0) + math.Log1p(math.Exp(-math.Abs(float64(y))))
		wsig := 1 / (1 + math.Exp(-float64(y)))
		if math.Abs(float64(sp)-wsp) > 2e-7*math.Max(1, wsp) {
			t.Fatalf("softplus(%v) = %v want %v", y, sp, wsp)
		}
		if math.Abs(float64(sig)-wsig) > 5e-7*wsig {
			t.Fatalf("sigmoid(%v) = %v want %v", y, sig, wsig)
		}
	}
	if sp, sig := softplusSigmoid(maskScore); sp != 0 || sig != 0 {
		t.Fatalf("softplusSigmoid(maskScore) = %v, %v want 0, 0", sp, sig)
	}
	v := []float32{maskScore, -3, 0.5, maskScore}
	ls, gs := splusSeg(v, 0.25)
	want := 0.0
	for _, s := range []float64{-3, 0.5} {
		want += math.Log1p(math.Exp(s - 0.25))
	}
	if v[0] != 0 || v[3] != 0 || math.Abs(float64(ls)-want) > 1e-6 || math.Abs(float64(gs-v[1]-v[2])) > 1e-7 {
		t.Fatalf("splusSeg: %v, %v, %v (want loss %v)", v, ls, gs, want)
	}
}

func TestMarginSeg(t *testing.T) {
	v := []float32{maskScore, -1, 0.2, -0.5, 3, 0.5, -0.7}
	ls, cnt := marginSeg(v, 0.5) // hinges: 0, 0, 0.7, 0, 3.5, 1.0, 0
	if math.Abs(float64(ls)-5.2) > 1e-6 || cnt != 3 || !slices.Equal(v, []float32{0, 0, 1, 0, 1, 1, 0}) {
		t.Fatalf("marginSeg: loss %v count %v grads %v", ls, cnt, v)
	}
}

// softmaxBatch is the benchmark batch of the profiled trainerd run: MF,
// sampled softmax over a 2048 pool plus in-batch negatives, cosine, τ 0.15.
func softmaxBatch() (Inputs, Config) {
	const B, P, D = 2048, 2048, 64
	rng := rand.New(rand.NewPCG(1, 1))
	mk := func(n int) []float32 { return randn(rng, n) }
	return Inputs{B: B, P: P, D: D, Q: mk(B * D), Pos: mk(B * D), Pool: mk(P * D)},
		Config{Kind: "softmax", Temperature: 0.15, InBatch: true, Cosine: true}
}

// BenchmarkSoftmaxStep times one loss step (forward, gradients) of the
// profiled configuration, "old" being the float64 implementation this
// package replaced (loss_baseline_test.go) and "new" the float32 kernels.
// It reports examples/s and ns per score (B×(P+B) scores per step).
func BenchmarkSoftmaxStep(b *testing.B) {
	in, cfg := softmaxBatch()
	scores := float64(in.B * (in.P + in.B))
	report := func(b *testing.B) {
		b.ReportMetric(float64(in.B*b.N)/b.Elapsed().Seconds(), "examples/s")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/scores, "ns/score")
	}
	b.Run("old", func(b *testing.B) {
		l := newBase(cfg)
		for b.Loop() {
			if _, _, err := l.baseCompute(in); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	b.Run("new", func(b *testing.B) {
		l, _ := New(cfg)
		for b.Loop() {
			if _, _, err := l.Compute(in); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
}

// BenchmarkLossStep times the other losses on the same batch, old vs new.
func BenchmarkLossStep(b *testing.B) {
	in, base := softmaxBatch()
	for _, kind := range []string{"bpr", "margin", "sgns"} {
		cfg := base
		cfg.Kind, cfg.Margin = kind, 0.5
		b.Run(kind+"/old", func(b *testing.B) {
			l := newBase(cfg)
			for b.Loop() {
				l.baseCompute(in)
			}
			b.ReportMetric(float64(in.B*b.N)/b.Elapsed().Seconds(), "examples/s")
		})
		b.Run(kind+"/new", func(b *testing.B) {
			l, _ := New(cfg)
			for b.Loop() {
				l.Compute(in)
			}
			b.ReportMetric(float64(in.B*b.N)/b.Elapsed().Seconds(), "examples/s")
		})
	}
}

// BenchmarkExp compares the old float64 expNeg, the float32 expf and
// math.Exp per call.
func BenchmarkExp(b *testing.B) {
	b.Run("baseExpNeg", func(b *testing.B) {
		var s float64
		for i := 0; b.Loop(); i++ {
			s += baseExpNeg(-float64(i&1023) * 0.01)
		}
		_ = s
	})
	b.Run("expf", func(b *testing.B) {
		var s float32
		for i := 0; b.Loop(); i++ {
			s += expf(-float32(i&1023) * 0.01)
		}
		_ = s
	})
	b.Run("math.Exp", func(b *testing.B) {
		var s float64
		for i := 0; b.Loop(); i++ {
			s += math.Exp(-float64(i&1023) * 0.01)
		}
		_ = s
	})
}

// TestExpSumKernels: the AVX2 kernel and the Go kernel give bit-identical
// values and sums (any length, masked and underflowing scores included),
// and so does a whole Compute; under GOAMD64=v3 (goFusesFMA) both are only
// checked against float64.
func TestExpSumKernels(t *testing.T) {
	if !vec.HasExpSumAVX2() {
		t.Skip("no AVX2 kernel on this machine or build")
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for _, n := range []int{0, 1, 7, 8, 9, 64, 1000, 4099} {
		v := make([]float32, n)
		for i := range v {
			switch rng.IntN(10) {
			case 0:
				v[i] = maskScore
			case 1:
				v[i] = -float32(rng.Float64()) * 30 // x below -87 after ·it
			default:
				v[i] = float32(rng.NormFloat64())
			}
		}
		a, b := slices.Clone(v), slices.Clone(v)
		sa, sb := expSum(a, 0.7, 4, true), expSum(b, 0.7, 4, false)
		if !goFusesFMA && (sa != sb || !slices.Equal(a, b)) {
			t.Fatalf("n=%d: AVX2 sum %v, Go sum %v (values equal: %v)", n, sa, sb, slices.Equal(a, b))
		}
		var want float64
		for i, x := range v {
			e := math.Exp(float64((x - 0.7) * 4))
			if (x-0.7)*4 < expMin {
				e = 0
			}
			want += e
			if math.Abs(float64(a[i])-e) > 3e-7*e {
				t.Fatalf("n=%d: exp value %d = %v want %v", n, i, a[i], e)
			}
		}
		if math.Abs(float64(sa)-want) > 1e-6*want {
			t.Fatalf("n=%d: sum %v want %v", n, sa, want)
		}
	}
	in, cfg := softmaxBatch()
	in.B, in.P = 300, 200
	in.Q, in.Pos, in.Pool = in.Q[:300*in.D], in.Pos[:300*in.D], in.Pool[:200*in.D]
	la, _ := New(cfg)
	lg, _ := New(cfg)
	lg.asm = false
	va, ga, _ := la.Compute(in)
	vg, gg, _ := lg.Compute(in)
	if !goFusesFMA && (va != vg || !slices.Equal(slices.Concat(ga.Q, ga.Pos, ga.Pool), slices.Concat(gg.Q, gg.Pos, gg.Pool))) {
		t.Fatalf("Compute differs between the AVX2 and Go kernels: loss %v vs %v", va, vg)
	}
}

// BenchmarkSparseBackward times a ccl step (B=512, P=1000, D=128, cosine:
// trainerd's Gowalla MF-CCL shape) with the dense GEMM backward and with
// the sparse one, at margins that leave about 4.5%, 1.2% and 0.2% of the
// negative scores of random 128-d vectors above the margin (active).
func BenchmarkSparseBackward(b *testing.B) {
	const B, P, D = 512, 1000, 128
	rng := rand.New(rand.NewPCG(1, 2))
	mk := func(n int) []float32 { return randn(rng, n) }
	in := Inputs{B: B, P: P, D: D, Q: mk(B * D), Pos: mk(B * D), Pool: mk(P * D)}
	for _, m := range []float32{0.15, 0.2, 0.25} {
		for _, mode := range []struct {
			name string
			max  float64
		}{{"dense", -1}, {"sparse", 1}} {
			b.Run(fmt.Sprintf("margin=%v/%s", m, mode.name), func(b *testing.B) {
				l, _ := New(Config{Kind: "ccl", Margin: m, NegWeight: 150, Cosine: true, SparseMax: mode.max})
				for b.Loop() {
					if _, _, err := l.Compute(in); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(B*b.N)/b.Elapsed().Seconds(), "examples/s")
			})
		}
	}
}

// relDiff returns ‖got−want‖/‖want‖ and ‖want‖².
func relDiff(got, want []float32) (rel, norm float64) {
	var diff float64
	for i := range got {
		d := float64(got[i] - want[i])
		diff += d * d
		norm += float64(want[i]) * float64(want[i])
	}
	return math.Sqrt(diff / norm), norm
}

// randn returns n standard normal float32s from rng.
func randn(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}
