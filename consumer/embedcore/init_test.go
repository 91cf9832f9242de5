package embedcore

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestNormalizeRows(t *testing.T) {
	for _, tc := range []struct {
		name string
		x    []float32
		d    int
		want []float32
	}{
		{"unit rows", []float32{3, 4, 0, 2}, 2, []float32{0.6, 0.8, 0, 1}},
		{"zero row stays zero", []float32{0, 0, 1, 0}, 2, []float32{0, 0, 1, 0}},
		{"zero width is a no-op", []float32{5}, 0, []float32{5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := slices.Clone(tc.x)
			NormalizeRows(x, tc.d)
			for i := range x {
				if math.Abs(float64(x[i]-tc.want[i])) > 1e-6 {
					t.Fatalf("got %v, want %v", x, tc.want)
				}
			}
		})
	}
}

func TestInitNormal(t *testing.T) {
	a, b := InitNormal(4000, 0.1, 7, 1), InitNormal(4000, 0.1, 7, 1)
	if !slices.Equal(a, b) {
		t.Fatal("same seed and stream gave different values")
	}
	if c := InitNormal(4000, 0.1, 7, 2); slices.Equal(a, c) {
		t.Fatal("another stream gave the same values")
	}
	var s, s2 float64
	for _, v := range a {
		s += float64(v)
		s2 += float64(v) * float64(v)
	}
	mean, std := s/4000, math.Sqrt(s2/4000)
	if math.Abs(mean) > 0.01 || math.Abs(std-0.1) > 0.01 {
		t.Fatalf("mean %v, std %v: want about 0 and 0.1", mean, std)
	}
}

func TestGrow(t *testing.T) {
	b := make([]int, 3, 8)
	if g := Grow(b, 6); len(g) != 6 || &g[0] != &b[0] {
		t.Fatal("Grow within capacity must reslice the same array")
	}
	if g := Grow(b, 9); len(g) != 9 || &g[0] == &b[0] {
		t.Fatal("Grow past capacity must allocate")
	}
}

// TestInputs: model.inputs picks id embeddings, features or both; unknown
// values and features on a store without any are errors naming the key.
func TestInputs(t *testing.T) {
	tests := []struct {
		inputs          string
		featDim         int
		wantID, wantFt  bool
		wantErrContains string
	}{
		{"id", 0, true, false, ""},
		{"features", 5, false, true, ""},
		{"both", 5, true, true, ""},
		{"both", 0, false, false, "model.inputs=both but the store has no features"},
		{"features", 0, false, false, "model.inputs=features but the store has no features"},
		{"ids", 5, false, false, `model.inputs: unknown "ids"`},
	}
	for _, tc := range tests {
		id, ft, err := Inputs(tc.inputs, tc.featDim)
		if tc.wantErrContains != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErrContains) {
				t.Errorf("Inputs(%q, %d): error %v, want one containing %q", tc.inputs, tc.featDim, err, tc.wantErrContains)
			}
			continue
		}
		if err != nil || id != tc.wantID || ft != tc.wantFt {
			t.Errorf("Inputs(%q, %d) = %v, %v, %v; want %v, %v, nil", tc.inputs, tc.featDim, id, ft, err, tc.wantID, tc.wantFt)
		}
	}
}
