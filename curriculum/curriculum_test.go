package curriculum

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

var base = Params{HardPer: 0, RankLo: 2000, RankHi: 5000, PoolSize: 500, Margin: 0.1}

func TestAt(t *testing.T) {
	tests := []struct {
		name        string
		cfg         Config
		epoch, step int
		want        Params
	}{
		{"unset keeps base", Config{}, 7, 100, base},
		{"pinsage hard epoch 1", Config{HardNegatives: Spec{Kind: KindLinear, Slope: 1, Cap: 6}}, 1, 0, with(base, func(p *Params) { p.HardPer = 0 })},
		{"pinsage hard epoch 4", Config{HardNegatives: Spec{Kind: KindLinear, Slope: 1, Cap: 6}}, 4, 0, with(base, func(p *Params) { p.HardPer = 3 })},
		{"pinsage hard capped", Config{HardNegatives: Spec{Kind: KindLinear, Slope: 1, Cap: 6}}, 30, 0, with(base, func(p *Params) { p.HardPer = 6 })},
		{"half slope floors", Config{HardNegatives: Spec{Kind: KindLinear, Slope: 0.5}}, 4, 0, with(base, func(p *Params) { p.HardPer = 1 })},
		{"step unit uses step", Config{Unit: UnitStep, HardNegatives: Spec{Kind: KindLinear, Slope: 0.01, Cap: 3}}, 1, 250, with(base, func(p *Params) { p.HardPer = 2 })},
		{"cosine margin start", Config{Margin: Spec{Kind: KindCosine, Start: 1e-3, End: 1e-4, Over: 10}}, 1, 0, with(base, func(p *Params) { p.Margin = 1e-3 })},
		{"cosine margin middle", Config{Margin: Spec{Kind: KindCosine, Start: 1e-3, End: 1e-4, Over: 10}}, 6, 0, with(base, func(p *Params) { p.Margin = 5.5e-4 })},
		{"cosine margin after end", Config{Margin: Spec{Kind: KindCosine, Start: 1e-3, End: 1e-4, Over: 10}}, 40, 0, with(base, func(p *Params) { p.Margin = 1e-4 })},
		{"steps margin", Config{Margin: Spec{Kind: KindSteps, Values: [][]float64{{0, 1e-3}, {10, 5e-4}}}}, 11, 0, with(base, func(p *Params) { p.Margin = 5e-4 })},
		{"steps margin before", Config{Margin: Spec{Kind: KindSteps, Values: [][]float64{{0, 1e-3}, {10, 5e-4}}}}, 10, 0, with(base, func(p *Params) { p.Margin = 1e-3 })},
		{"constant margin", Config{Margin: Spec{Kind: KindConstant, Value: 0.3}}, 3, 0, with(base, func(p *Params) { p.Margin = 0.3 })},
		{"constant window", Config{RankWindow: Window{Kind: KindConstant, Lo: 100, Hi: 200}}, 3, 0, with(base, func(p *Params) { p.RankLo, p.RankHi = 100, 200 })},
		{"linear window floor", Config{RankWindow: Window{Kind: KindLinear, Lo: 2000, Hi: 5000, Slope: -500, MinLo: 500}}, 5, 0, with(base, func(p *Params) { p.RankLo, p.RankHi = 500, 3500 })},
		{"steps window", Config{RankWindow: Window{Kind: KindSteps, Values: [][]float64{{0, 2000, 5000}, {3, 1000, 3000}}}}, 4, 0, with(base, func(p *Params) { p.RankLo, p.RankHi = 1000, 3000 })},
		{"pool linear", Config{PoolSize: Spec{Kind: KindLinear, Start: 100, Slope: 50, Cap: 300}}, 3, 0, with(base, func(p *Params) { p.PoolSize = 200 })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg, base)
			if err != nil {
				t.Fatal(err)
			}
			got := s.At(tt.epoch, tt.step)
			if math.Abs(got.Margin-tt.want.Margin) > 1e-12 {
				t.Fatalf("Margin = %g, want %g", got.Margin, tt.want.Margin)
			}
			got.Margin = tt.want.Margin
			if got != tt.want {
				t.Fatalf("At(%d,%d) = %+v, want %+v", tt.epoch, tt.step, got, tt.want)
			}
			// Pure: a second call (and a fresh schedule) agree.
			s2, _ := New(tt.cfg, base)
			if a, b := s.At(tt.epoch, tt.step), s2.At(tt.epoch, tt.step); a != b {
				t.Fatalf("not pure: %+v vs %+v", a, b)
			}
		})
	}
}

func with(p Params, f func(*Params)) Params { f(&p); return p }

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		key  string
	}{
		{"bad unit", Config{Unit: "minute"}, "curriculum.unit"},
		{"bad kind", Config{Margin: Spec{Kind: "exp"}}, "curriculum.margin.kind"},
		{"cosine no over", Config{Margin: Spec{Kind: KindCosine, Start: 1, End: 0.1}}, "curriculum.margin.over"},
		{"negative margin", Config{Margin: Spec{Kind: KindConstant, Value: -1}}, "curriculum.margin.value"},
		{"unused field", Config{HardNegatives: Spec{Kind: KindConstant, Value: 1, Slope: 2}}, "curriculum.hard_negatives.slope"},
		{"steps empty", Config{Margin: Spec{Kind: KindSteps}}, "curriculum.margin.values"},
		{"steps first at", Config{Margin: Spec{Kind: KindSteps, Values: [][]float64{{1, 0.1}}}}, "curriculum.margin.values[0]"},
		{"steps not increasing", Config{Margin: Spec{Kind: KindSteps, Values: [][]float64{{0, 0.1}, {0, 0.2}}}}, "curriculum.margin.values[1]"},
		{"steps width", Config{PoolSize: Spec{Kind: KindSteps, Values: [][]float64{{0, 1, 2}}}}, "curriculum.pool_size.values[0]"},
		{"window hi<=lo", Config{RankWindow: Window{Kind: KindConstant, Lo: 10, Hi: 10}}, "curriculum.rank_window"},
		{"window no kind", Config{RankWindow: Window{Lo: 10, Hi: 20}}, "curriculum.rank_window.kind"},
		{"hard negative start", Config{HardNegatives: Spec{Kind: KindLinear, Start: -1}}, "curriculum.hard_negatives.start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, base)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.HasPrefix(err.Error(), tt.key) {
				t.Fatalf("error %q does not name %s", err, tt.key)
			}
		})
	}
}

func TestTable(t *testing.T) {
	s, err := New(Config{HardNegatives: Spec{Kind: KindLinear, Slope: 1, Cap: 2}, Margin: Spec{Kind: KindCosine, Start: 1e-3, End: 1e-4, Over: 4}}, base)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Table(&buf, 5, 10); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 6 {
		t.Fatalf("want header + 5 rows, got %d lines:\n%s", len(lines), buf.String())
	}
	for e, wantHard := range []string{"0", "1", "2", "2", "2"} {
		f := strings.Fields(lines[e+1])
		if f[1] != wantHard {
			t.Fatalf("epoch %d hard/ex = %s, want %s\n%s", e+1, f[1], wantHard, buf.String())
		}
	}
	if f := strings.Fields(lines[5]); f[5] != "0.0001" {
		t.Fatalf("epoch 5 margin = %s, want 0.0001", f[5])
	}
}

func TestTableStepUnit(t *testing.T) {
	s, err := New(Config{Unit: UnitStep, HardNegatives: Spec{Kind: KindLinear, Slope: 0.01, Cap: 5}}, base)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Table(&buf, 3, 150); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if f := strings.Fields(lines[0]); f[1] != "step" {
		t.Fatalf("no step column:\n%s", buf.String())
	}
	if f := strings.Fields(lines[3]); f[1] != "300" || f[2] != "3" {
		t.Fatalf("epoch 3 row %v, want step 300 hard 3", f)
	}
}
