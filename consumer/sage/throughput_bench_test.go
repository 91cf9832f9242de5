//go:build !cuda

package sage

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

// BenchmarkModelStep times one training step of PinSage and GraphSAGE
// (mean; consumer's BenchmarkModelStep has the other models) as the shipped
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
	conv := &gnnPlanted{U: g.NumUsers, I: g.NumItems, g: g, train: make([][]uint32, g.NumUsers)}
	for u := range conv.train {
		conv.train[u] = g.ItemsOf(uint32(u))
	}
	for _, tc := range []struct {
		name    string
		cfg     model.Config
		B, P, T int
	}{
		{"pinsage-softmax", model.Config{Model: "pinsage", Dim: 64, Hidden: 128, Layers: 2, Loss: "softmax"}, 512, 500, 10},
		{"graphsage-mean", model.Config{Model: "graphsage", Dim: 64, Hidden: 128, Layers: 2, Aggregator: "mean", Loss: "softmax"}, 512, 500, 10},
	} {
		b.Run(tc.name, func(b *testing.B) {
			tc.cfg.Seed = 1
			m, err := newModel(tc.cfg, info)
			if err != nil {
				b.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, 2))
			batches := make([]*batch.Batch, 4)
			for i := range batches {
				batches[i] = conv.batch(r, m.(*convModel), tc.B, tc.P, tc.T)
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
