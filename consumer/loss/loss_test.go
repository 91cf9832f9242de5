package loss

import (
	"math"
	"math/rand/v2"
	"testing"
)

// ref is a float64 reference of every loss, written from the formulas in the
// package doc without score matrices or blocking.
func ref(cfg Config, B, P, H, D int, x []float64) float64 {
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
			negs = append(negs, dot(qj, vec(pool, p)))
		}
		if cfg.InBatch {
			for k := 0; k < B; k++ {
				if k != j {
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

func TestGradientsNumeric(t *testing.T) {
	kinds := []Config{
		{Kind: "bpr"}, {Kind: "margin", Margin: 0.5}, {Kind: "sgns"}, {Kind: "softmax", Temperature: 0.5},
	}
	type shape struct{ B, P, H, D int }
	shapes := []shape{{5, 7, 0, 4}, {6, 3, 2, 5}, {4, 0, 3, 3}}
	for _, base := range kinds {
		for _, inBatch := range []bool{false, true} {
			for _, cosine := range []bool{false, true} {
				for _, sh := range shapes {
					cfg := base
					cfg.InBatch, cfg.Cosine = inBatch, cosine
					cfg.BlockRows = 2 // exercise blocking
					cfg.Threads = 2
					checkGrad(t, cfg, sh.B, sh.P, sh.H, sh.D)
				}
			}
		}
	}
}

func checkGrad(t *testing.T, cfg Config, B, P, H, D int) {
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
		Pool: x32[2*B*D : 2*B*D+P*D], Hard: x32[2*B*D+P*D:]}
	got, g, err := l.Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	want := ref(cfg, B, P, H, D, x)
	if math.Abs(got-want) > 1e-4*math.Max(1, math.Abs(want)) {
		t.Fatalf("%+v B%d P%d H%d: loss %v want %v", cfg, B, P, H, want, got)
	}
	ana := append(append(append(append([]float32(nil), g.Q...), g.Pos...), g.Pool...), g.Hard...)
	const eps = 1e-6
	var diff, norm float64
	for i := range x {
		old := x[i]
		x[i] = old + eps
		fp := ref(cfg, B, P, H, D, x)
		x[i] = old - eps
		fm := ref(cfg, B, P, H, D, x)
		x[i] = old
		num := (fp - fm) / (2 * eps)
		diff += (num - float64(ana[i])) * (num - float64(ana[i]))
		norm += num*num + float64(ana[i])*float64(ana[i])
	}
	if norm == 0 {
		t.Fatalf("%+v: all-zero gradient", cfg)
	}
	if rel := math.Sqrt(diff / norm); rel > 1e-4 {
		t.Fatalf("%+v B%d P%d H%d D%d: relative gradient error %.2e", cfg, B, P, H, D, rel)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{{Kind: "nope"}, {Kind: "softmax"}} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	l, _ := New(Config{Kind: "bpr"})
	if _, _, err := l.Compute(Inputs{B: 2, D: 3, Q: make([]float32, 5)}); err == nil {
		t.Error("mismatched sizes accepted")
	}
}

func BenchmarkSoftmax4096x4096(b *testing.B) {
	const B, P, D = 4096, 4096, 64
	rng := rand.New(rand.NewPCG(1, 1))
	mk := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	in := Inputs{B: B, P: P, D: D, Q: mk(B * D), Pos: mk(B * D), Pool: mk(P * D)}
	l, _ := New(Config{Kind: "softmax", Temperature: 0.1, InBatch: true, Cosine: true})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := l.Compute(in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(B*b.N)/b.Elapsed().Seconds(), "examples/s")
}

func TestExpNeg(t *testing.T) {
	for x := -87.0; x <= 0; x += 0.0137 {
		got, want := expNeg(x), math.Exp(x)
		if math.Abs(got-want) > 1e-8*want {
			t.Fatalf("expNeg(%v) = %v want %v", x, got, want)
		}
	}
	if expNeg(-100) != 0 || expNeg(0) != 1 {
		t.Fatal("expNeg edge cases")
	}
}

func BenchmarkExpNeg(b *testing.B) {
	var s float64
	for i := 0; i < b.N; i++ {
		s += expNeg(-float64(i&1023) * 0.01)
	}
	_ = s
}

func BenchmarkMathExp(b *testing.B) {
	var s float64
	for i := 0; i < b.N; i++ {
		s += math.Exp(-float64(i&1023) * 0.01)
	}
	_ = s
}
