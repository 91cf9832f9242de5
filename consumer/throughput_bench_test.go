//go:build !cuda

package consumer

import (
	"context"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/internal/testfixture"
	"github.com/trainerd/trainerd/linalg"
	"github.com/trainerd/trainerd/model"
)

// BenchmarkModelStep times one training step of every model outside
// consumer/sage (which has its own BenchmarkModelStep) as the shipped
// Gowalla configs run it (batch, pool, dim, loss), on the generated
// Gowalla-size graph, and reports examples/s. Run it twice, by default and
// with -tags noopenblas, for the GEMM backends side by side (the README's
// throughput table); seconds per Gowalla epoch are 810,128 / (examples/s).
// OpenBLAS runs one thread per call unless OPENBLAS_NUM_THREADS says
// otherwise, as in trainerd: the models parallelise over model.threads
// themselves.
func BenchmarkModelStep(b *testing.B) {
	if os.Getenv("OPENBLAS_NUM_THREADS") == "" {
		linalg.SetThreads(1)
	}
	g := testfixture.GowallaSizeGraph(b)
	info := model.Info{NumUsers: g.NumUsers, NumItems: g.NumItems, Graph: g}
	for _, tc := range []struct {
		name string
		cfg  model.Config
		B, P int
	}{
		{"mf-bpr", model.Config{Model: "mf", Dim: 64, Loss: "bpr", LR: 0.001}, 2048, 64},
		{"mf-ccl-d64", model.Config{Model: "mf", Dim: 64, Loss: "ccl", Normalize: true, Margin: 0.9, NegWeight: 150}, 512, 1000},
		{"mf-ccl-d192", model.Config{Model: "mf", Dim: 192, Loss: "ccl", Normalize: true, Margin: 0.9, NegWeight: 150}, 512, 1000},
		{"mf-ccl-d64-tower", model.Config{Model: "mf", Dim: 64, Loss: "ccl", Normalize: true, Margin: 0.9, NegWeight: 150,
			History: model.History{Weight: 0.5, Max: 32}}, 512, 1000},
		{"deepwalk-sgns", model.Config{Model: "deepwalk", Dim: 64, Loss: "sgns"}, 2048, 64},
		{"lightgcn-softmax", model.Config{Model: "lightgcn", Dim: 64, Layers: 3, Loss: "softmax", Temperature: 1, L2: 5e-2}, 8192, 2048},
		{"ngcf-bpr", model.Config{Model: "ngcf", Dim: 64, Layers: 3, Loss: "bpr"}, 4096, 64},
	} {
		b.Run(tc.name, func(b *testing.B) {
			tc.cfg.Seed = 1
			m, err := New(tc.cfg, info)
			if err != nil {
				b.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, 2))
			batches := make([]*batch.Batch, 4)
			for i := range batches {
				batches[i] = testfixture.GowallaSizeBatch(g, r, tc.B, tc.P)
			}
			ctx := context.Background()
			for _, bt := range batches { // warm-up: compiled graphs, grown buffers
				if _, err := m.Step(ctx, bt); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			cpu0 := testfixture.CPUTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := m.Step(ctx, batches[i%len(batches)]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(tc.B*b.N)/b.Elapsed().Seconds(), "examples/s")
			// CPU time of the whole process (every thread) per step: on a
			// shared machine it moves less with the load than wall time.
			b.ReportMetric((testfixture.CPUTime()-cpu0).Seconds()*1e3/float64(b.N), "cpu-ms/op")
		})
	}
}
