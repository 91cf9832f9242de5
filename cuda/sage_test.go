//go:build cuda && cudadevice

package cuda

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/cuda/sageref"
	"github.com/trainerd/trainerd/model"
)

// sageRef reads the CPU PinSage results cuda/cmd/sageref wrote (the CPU
// network is compiled out of -tags cuda binaries, so it cannot run here):
// $TRAINERD_SAGEREF, else bin/sageref.gob from the repository root or the
// package directory. Without the env variable a missing file skips.
func sageRef(tb testing.TB) *sageref.File {
	tb.Helper()
	path, set := os.LookupEnv("TRAINERD_SAGEREF")
	if !set {
		for _, p := range []string{filepath.Join("bin", "sageref.gob"), filepath.Join("..", "bin", "sageref.gob")} {
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
		if path == "" {
			tb.Skip("no bin/sageref.gob: run `go run ./cuda/cmd/sageref -o bin/sageref.gob` (cuda/build-devicecheck.sh does) or set TRAINERD_SAGEREF")
		}
	}
	f, err := sageref.Read(path)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// assertState compares every tensor of want (the CPU's) with got's tensor
// of the same name and shape, and that got has no other tensors.
func assertState(t *testing.T, what string, got, want []model.Tensor) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: GPU state has %d tensors, CPU %d", what, len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.Name || fmt.Sprint(g.Shape) != fmt.Sprint(w.Shape) {
			t.Fatalf("%s: tensor %d is %s %v on the GPU, %s %v on the CPU", what, i, g.Name, g.Shape, w.Name, w.Shape)
		}
		assertClose(t, what+" "+w.Name, g.Data, to64(w.Data))
	}
}

// TestPinSageMatchesCPU runs the GPU PinSage on the batches of each
// sageref case and compares it with the CPU model's results: the initial
// parameters (same seed, same values), the state after one step (the Adam
// first moments are 0.1 × the gradients, so this is one forward and
// backward), every step's loss, the state after all steps and Embed.
func TestPinSageMatchesCPU(t *testing.T) {
	dev := testDevice(t)
	ref := sageRef(t)
	for _, c := range ref.Cases {
		t.Run(c.Name, func(t *testing.T) {
			ctx := context.Background()
			info, err := c.Info()
			if err != nil {
				t.Fatal(err)
			}
			gm, err := NewPinSage(dev, c.Config, info)
			if err != nil {
				t.Fatal(err)
			}
			defer gm.Close()
			assertState(t, "initial", gm.State(), c.Initial)
			for i, b := range c.Batches {
				var next *batch.Batch
				if i+1 < len(c.Batches) {
					next = c.Batches[i+1]
				}
				s, err := gm.StepNext(ctx, b, next)
				if err != nil {
					t.Fatal(err)
				}
				want := c.Losses[i]
				if s.Examples != len(b.QueryIdx) || math.Abs(s.Loss-want) > 1e-4*math.Max(1, math.Abs(want)) {
					t.Fatalf("step %d: gpu loss %v (%d examples), cpu %v", i, s.Loss, s.Examples, want)
				}
				if i == 0 {
					assertState(t, "after one step", gm.State(), c.AfterFirst)
				}
			}
			if tm := gm.Timing(); tm.Steps != len(c.Batches) || tm.Prefetched != len(c.Batches)-1 {
				t.Fatalf("timing %+v: want %d steps, %d prefetched", tm, len(c.Batches), len(c.Batches)-1)
			}
			final := gm.State()
			assertState(t, "final", final, c.Final)
			e, err := gm.Embed(ctx)
			if err != nil {
				t.Fatal(err)
			}
			assertClose(t, "user embeddings", e.Users, to64(c.Users))
			assertClose(t, "item embeddings", e.Items, to64(c.Items))
			// Load: a second GPU model continues identically.
			g2, err := NewPinSage(dev, c.Config, info)
			if err != nil {
				t.Fatal(err)
			}
			defer g2.Close()
			if err := g2.Load(final); err != nil {
				t.Fatal(err)
			}
			s1, err := gm.Step(ctx, c.Batches[0])
			if err != nil {
				t.Fatal(err)
			}
			s2, err := g2.Step(ctx, c.Batches[0])
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(s1.Loss-s2.Loss) > 1e-6*math.Max(1, math.Abs(s1.Loss)) {
				t.Fatalf("after Load: loss %v vs %v", s2.Loss, s1.Loss)
			}
			// Load rejects a state missing a tensor, and keeps its own.
			if err := g2.Load(final[1:]); err == nil {
				t.Fatal("Load accepted a state without " + final[0].Name)
			}
		})
	}
}

func TestPinSageRejectsBadInput(t *testing.T) {
	dev := testDevice(t)
	ref := sageRef(t)
	c := ref.Cases[0]
	info, err := c.Info()
	if err != nil {
		t.Fatal(err)
	}
	for _, agg := range []string{"max", "sum"} {
		cfg := c.Config
		cfg.Aggregator = agg
		if m, err := NewPinSage(dev, cfg, info); err == nil {
			m.Close()
			t.Errorf("aggregator %s accepted", agg)
		}
	}
	m, err := NewPinSage(dev, c.Config, info)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	good := c.Batches[0]
	bad := func(f func(b *batch.Batch)) *batch.Batch {
		b := *good
		b.NbrIdx = append([][]int32(nil), good.NbrIdx...)
		f(&b)
		return &b
	}
	for name, b := range map[string]*batch.Batch{
		"neighbour index out of range": bad(func(b *batch.Batch) {
			idx := append([]int32(nil), b.NbrIdx[0]...)
			idx[0] = int32(len(b.Layers[1]))
			b.NbrIdx[0] = idx
		}),
		"wrong layer count": bad(func(b *batch.Batch) { b.Layers = b.Layers[:1] }),
		"example index out of range": bad(func(b *batch.Batch) {
			b.QueryIdx = append([]int32{int32(len(b.Layers[0]))}, b.QueryIdx[1:]...)
		}),
		"mask past the pool": bad(func(b *batch.Batch) {
			b.NegMask = append([]int32{int32(len(b.NegIdx))}, b.NegMask[1:]...)
		}),
	} {
		if _, err := m.Step(context.Background(), b); err == nil {
			t.Errorf("%s: batch accepted", name)
		}
	}
	if _, err := m.Step(context.Background(), good); err != nil {
		t.Fatalf("good batch after bad ones: %v", err)
	}
}

// BenchmarkPinSageStep measures GPU PinSage examples/s (with and without
// prefetching the next batch) on sageref.Bench's Gowalla-shaped workload;
// cuda/cmd/sageref -bench times the CPU model on the same batches (the
// CPU network is not in this binary).
func BenchmarkPinSageStep(b *testing.B) {
	dev := testDevice(b)
	cfg, info, batches := sageref.Bench(8)
	for _, mode := range []string{"gpu", "gpu-prefetch"} {
		b.Run("synthetic-gowalla/B=512/"+mode, func(b *testing.B) {
			ctx := context.Background()
			m, err := NewPinSage(dev, cfg, info)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			if _, err := m.Step(ctx, batches[0]); err != nil { // warm up: module JIT, buffers
				b.Fatal(err)
			}
			t0 := m.Timing()
			ex := 0
			start := time.Now()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				cur := batches[i%len(batches)]
				var s model.StepStats
				var err error
				if mode == "gpu-prefetch" {
					s, err = m.StepNext(ctx, cur, batches[(i+1)%len(batches)])
				} else {
					s, err = m.Step(ctx, cur)
				}
				if err != nil {
					b.Fatal(err)
				}
				ex += s.Examples
			}
			b.StopTimer()
			el := time.Since(start).Seconds()
			b.ReportMetric(float64(ex)/el, "examples/s")
			t1 := m.Timing()
			d := Timing{Steps: t1.Steps - t0.Steps, Step: t1.Step - t0.Step, CopyWait: t1.CopyWait - t0.CopyWait}
			b.ReportMetric(d.WaitFraction(), "copywait-frac")
			b.ReportMetric(float64(d.Step.Microseconds())/float64(max(d.Steps, 1)), "gpu-us/step")
		})
	}
}
