package probe

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestProbeDoesNotCrash(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := Probe(ctx)
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	t.Logf("probe: %s (driver %d)", r, r.DriverVersion)
	if r.Available {
		if r.Devices < 1 || r.Name == "" {
			t.Fatalf("available but Devices=%d Name=%q", r.Devices, r.Name)
		}
		if r.Reason != "" {
			t.Fatalf("available with reason %q", r.Reason)
		}
		return
	}
	if r.Reason == "" {
		t.Fatal("unavailable without a reason")
	}
	if os.Getenv("TRAINERD_EXPECT_GPU") == "1" {
		t.Fatalf("TRAINERD_EXPECT_GPU=1 but %s", r)
	}
}

func TestProbeCases(t *testing.T) {
	tests := []struct {
		name       string
		lib        string
		wantReason string
	}{
		{"missing library", "libcuda-does-not-exist.so.1", "libcuda-does-not-exist.so.1"},
		// libc has none of the cu* symbols.
		{"library without driver symbols", "libc.so.6", "symbol cuInit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ProbeWith(context.Background(), Options{Library: tt.lib})
			if err != nil {
				t.Fatalf("ProbeWith: %v", err)
			}
			if r.Available || !strings.Contains(r.Reason, tt.wantReason) {
				t.Fatalf("got %+v, want unavailable with reason containing %q", r, tt.wantReason)
			}
		})
	}
}

func TestProbeCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Probe(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestRequire(t *testing.T) {
	r, err := Require(context.Background())
	if r.Available != (err == nil) {
		t.Fatalf("Available=%v but err=%v", r.Available, err)
	}
	if err != nil && !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err %v does not wrap ErrUnavailable", err)
	}
}

func TestCUResultString(t *testing.T) {
	tests := []struct {
		code int32
		want string
	}{
		{100, "CUDA_ERROR_NO_DEVICE (100)"},
		{999, "CUDA_ERROR_UNKNOWN (999)"},
		{12345, "CUresult 12345"},
	}
	for _, tt := range tests {
		if got := CUResultString(tt.code); got != tt.want {
			t.Errorf("CUResultString(%d) = %q, want %q", tt.code, got, tt.want)
		}
	}
}

// repoRoot walks up from the package dir to the dir holding go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	d, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		p := filepath.Dir(d)
		if p == d {
			t.Fatal("go.mod not found above the test directory")
		}
		d = p
	}
}

// deps lists the packages cmd/trainerd links with the given build tags.
func deps(t *testing.T, tags string) []string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	args := []string{"list", "-deps"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	args = append(args, "./cmd/trainerd")
	cmd := exec.Command(gobin, args...)
	cmd.Dir = repoRoot(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.Fields(string(out))
}

// The default trainerd must start on machines without a GPU, so it must not
// link gorgonia.org/cu (whose init exits without a device) nor libcuda.
func TestDefaultBuildDoesNotLinkCU(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	for _, p := range deps(t, "") {
		if p == "gorgonia.org/cu" || strings.HasPrefix(p, "gorgonia.org/cu/") {
			t.Fatalf("default build of cmd/trainerd depends on %s", p)
		}
	}
}

// trainerd-cuda (-tags cuda) links cu, but neither cu/dnn nor gorgonia:
// gorgonia v0.9.18 has its own files under the tag cuda that import cuDNN,
// which the build machines lack, so every gorgonia-based file of ours is
// tagged !cuda.
func TestCUDABuildLinksCUWithoutGorgonia(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	hasCU := false
	for _, p := range deps(t, "cuda") {
		switch {
		case p == "gorgonia.org/cu":
			hasCU = true
		case p == "gorgonia.org/cu/dnn", p == "gorgonia.org/gorgonia", strings.HasPrefix(p, "gorgonia.org/gorgonia/"):
			t.Fatalf("-tags cuda build of cmd/trainerd depends on %s", p)
		}
	}
	if !hasCU {
		t.Fatal("-tags cuda build of cmd/trainerd does not link gorgonia.org/cu")
	}
}

func TestHasCUDAConsumer(t *testing.T) {
	tests := []struct {
		model string
		want  bool
	}{
		{"mf", true},
		{"lightgcn", true},
		{"pinsage", true},
		{"graphsage", false},
		{"ngcf", false},
		{"deepwalk", false},
		{"", false},
		{"MF", false},
	}
	for _, tt := range tests {
		if got := HasCUDAConsumer(tt.model); got != tt.want {
			t.Errorf("HasCUDAConsumer(%q) = %v, want %v", tt.model, got, tt.want)
		}
	}
	l := CUDAModels()
	l[0] = "changed"
	if !HasCUDAConsumer("mf") {
		t.Fatal("CUDAModels returned the list itself, not a copy")
	}
}

func TestCUDAUnsupported(t *testing.T) {
	tests := []struct {
		model, loss string
		want        string // substring of the reason; "" means supported
	}{
		{"mf", "", ""},
		{"mf", "bpr", ""},
		{"lightgcn", "softmax", ""},
		{"mf", "sgns", ""},
		{"mf", "ccl", "loss ccl has no CUDA kernel"},
		{"pinsage", "margin", ""},
		{"pinsage", "ccl", "loss ccl has no CUDA kernel"},
		{"ngcf", "margin", "model ngcf has no CUDA consumer"},
		{"graphsage", "ccl", "model graphsage"},
	}
	for _, tt := range tests {
		got := CUDAUnsupported(tt.model, tt.loss)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("CUDAUnsupported(%q, %q) = %q, want %q", tt.model, tt.loss, got, tt.want)
		}
	}
}
