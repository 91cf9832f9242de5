package cpufeat

import (
	"runtime"
	"testing"
)

func TestHas(t *testing.T) {
	for _, tc := range []struct {
		name string
		fs   []Feature
		want func() bool
	}{
		{"none", nil, func() bool { return true }},
		{"unknown", []Feature{0}, func() bool { return false }},
		{"both AVX-512 parts", []Feature{AVX512F, AVX512DQ},
			func() bool { return Has(AVX512F) && Has(AVX512DQ) }},
		{"pair is the and of its parts", []Feature{AVX, AVX2}, func() bool { return Has(AVX) && Has(AVX2) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := Has(tc.fs...), tc.want(); got != want {
				t.Fatalf("Has(%v) = %v, want %v", tc.fs, got, want)
			}
		})
	}
	if runtime.GOARCH != "amd64" {
		for _, f := range []Feature{AVX, AVX2, AVX512F, AVX512DQ} {
			if Has(f) {
				t.Errorf("Has(%v) on %s, want false", f, runtime.GOARCH)
			}
		}
	}
	// A CPU with AVX2 has AVX (AVX2 extends it); a detection that says
	// otherwise would run a kernel the CPU cannot.
	if Has(AVX2) && !Has(AVX) {
		t.Error("AVX2 without AVX")
	}
	if Has(AVX512F) && !Has(AVX2) {
		t.Error("AVX-512F without AVX2")
	}
}

func TestString(t *testing.T) {
	for f, want := range map[Feature]string{AVX: "AVX", AVX2: "AVX2", AVX512F: "AVX-512F", AVX512DQ: "AVX-512DQ", 9: "unknown feature"} {
		if got := f.String(); got != want {
			t.Errorf("Feature(%d).String() = %q, want %q", f, got, want)
		}
	}
}
