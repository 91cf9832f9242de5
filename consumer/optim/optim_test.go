package optim

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// textbookAdam is Adam in float64 straight from Kingma & Ba.
func textbookAdam(p, m, v, g []float64, t int, lr, b1, b2, eps float64) {
	for i := range p {
		m[i] = b1*m[i] + (1-b1)*g[i]
		v[i] = b2*v[i] + (1-b2)*g[i]*g[i]
		mh := m[i] / (1 - math.Pow(b1, float64(t)))
		vh := v[i] / (1 - math.Pow(b2, float64(t)))
		p[i] -= lr * mh / (math.Sqrt(vh) + eps)
	}
}

func TestDenseAdamMatchesTextbook(t *testing.T) {
	const rows, dim = 2000, 3 // > 1024 rows so the parallel path runs
	opt, err := New(Params{Kind: "adam", Threads: 4}, rows, dim)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	p32 := make([]float32, rows*dim)
	p64 := make([]float64, rows*dim)
	m, v := make([]float64, rows*dim), make([]float64, rows*dim)
	for i := range p32 {
		p32[i] = float32(rng.NormFloat64())
		p64[i] = float64(p32[i])
	}
	for step := 1; step <= 20; step++ {
		g32 := make([]float32, rows*dim)
		g64 := make([]float64, rows*dim)
		for i := range g32 {
			g32[i] = float32(rng.NormFloat64())
			g64[i] = float64(g32[i])
		}
		opt.Update(p32, nil, g32, 0.01)
		textbookAdam(p64, m, v, g64, step, 0.01, 0.9, 0.999, 1e-8)
	}
	for i := range p32 {
		if math.Abs(float64(p32[i])-p64[i]) > 1e-4 {
			t.Fatalf("param %d: %v want %v", i, p32[i], p64[i])
		}
	}
}

func TestSparseTouchesOnlyListedRows(t *testing.T) {
	for _, kind := range []string{"adam", "sgd", "adagrad"} {
		t.Run(kind, func(t *testing.T) {
			const rows, dim = 10, 4
			opt, err := New(Params{Kind: kind}, rows, dim)
			if err != nil {
				t.Fatal(err)
			}
			p := make([]float32, rows*dim)
			for i := range p {
				p[i] = float32(i)
			}
			before := slices.Clone(p)
			g := []float32{1, 1, 1, 1, -1, -1, -1, -1}
			opt.Update(p, []int32{7, 2}, g, 0.1)
			for r := 0; r < rows; r++ {
				for i := 0; i < dim; i++ {
					k := r*dim + i
					switch r {
					case 7:
						if p[k] >= before[k] {
							t.Fatalf("row 7 not decreased: %v -> %v", before[k], p[k])
						}
					case 2:
						if p[k] <= before[k] {
							t.Fatalf("row 2 not increased: %v -> %v", before[k], p[k])
						}
					default:
						if p[k] != before[k] {
							t.Fatalf("row %d changed", r)
						}
					}
				}
			}
			if a, ok := opt.(*Adam); ok {
				if a.Steps[7] != 1 || a.Steps[2] != 1 || a.Steps[0] != 0 {
					t.Fatalf("per-row steps %v", a.Steps)
				}
			}
		})
	}
}

func TestStateRoundTrip(t *testing.T) {
	for _, kind := range []string{"adam", "sgd", "adagrad"} {
		t.Run(kind, func(t *testing.T) {
			const rows, dim = 6, 3
			a, _ := New(Params{Kind: kind}, rows, dim)
			b, _ := New(Params{Kind: kind}, rows, dim)
			p := make([]float32, rows*dim)
			for i := range p {
				p[i] = float32(i) / 7
			}
			g := []float32{0.3, -0.2, 0.5, 1, 2, 3}
			a.Update(p, []int32{1, 4}, g, 0.05)
			st := a.State("opt/x")
			// Copy so later updates of a do not alias b's state.
			cp := make([]Array, len(st))
			for i, s := range st {
				cp[i] = Array{Name: s.Name, Shape: s.Shape, Data: slices.Clone(s.Data)}
			}
			if err := b.Load("opt/x", cp); err != nil {
				t.Fatal(err)
			}
			pa, pb := slices.Clone(p), slices.Clone(p)
			a.Update(pa, []int32{4, 0}, g, 0.05)
			b.Update(pb, []int32{4, 0}, g, 0.05)
			if !slices.Equal(pa, pb) {
				t.Fatalf("resumed update differs: %v vs %v", pa, pb)
			}
		})
	}
	a, _ := New(Params{}, 3, 2)
	if err := a.Load("opt", nil); err == nil {
		t.Fatal("Load of empty state succeeded")
	}
}

func TestSchedule(t *testing.T) {
	cases := []struct {
		s    Schedule
		step int
		want float64
	}{
		{Schedule{Base: 0.1}, 1000, 0.1},
		{Schedule{Base: 0.1, Warmup: 10}, 0, 0.01},
		{Schedule{Base: 0.1, Warmup: 10}, 9, 0.1},
		{Schedule{Kind: "step", Base: 1, DecaySteps: 10, DecayRate: 0.5}, 25, 0.25},
		{Schedule{Kind: "cosine", Base: 1, DecaySteps: 100}, 50, 0.5},
		{Schedule{Kind: "cosine", Base: 1, DecaySteps: 100, MinLR: 0.1}, 200, 0.1},
		{Schedule{Kind: "cosine", Base: 1, Warmup: 5, DecaySteps: 100}, 5, 1},
	}
	for _, c := range cases {
		if got := c.s.LR(c.step); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%+v step %d: %v want %v", c.s, c.step, got, c.want)
		}
	}
	if (Schedule{Kind: "bogus"}).Validate() == nil {
		t.Error("bogus schedule validated")
	}
}
