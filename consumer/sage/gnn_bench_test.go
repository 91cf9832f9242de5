//go:build !cuda

package sage

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/model"
)

// BenchmarkPinSageStep: 2 layers, T=10, batch 512, 500 shared negatives,
// dim 64, hidden 128, id inputs, on a random 50k×50k graph (degree 20).
func BenchmarkPinSageStep(b *testing.B) {
	const U, I, deg = 50000, 50000, 20
	r := rand.New(rand.NewPCG(1, 2))
	edges := make([]graph.Edge, 0, U*deg)
	for u := 0; u < U; u++ {
		for k := 0; k < deg; k++ {
			edges = append(edges, graph.Edge{User: uint32(u), Item: uint32(r.IntN(I))})
		}
	}
	g, err := graph.Build(U, I, edges)
	if err != nil {
		b.Fatal(err)
	}
	mi, err := NewPinSage(model.Config{Dim: 64, Hidden: 128, Layers: 2, Loss: "softmax", Seed: 1}, model.Info{NumUsers: U, NumItems: I, Graph: g})
	if err != nil {
		b.Fatal(err)
	}
	m := mi.(*convModel)
	p := &gnnPlanted{U: U, I: I, g: g, train: make([][]uint32, U)}
	for u := 0; u < U; u++ {
		p.train[u] = g.ItemsOf(uint32(u))
	}
	batches := make([]*batch.Batch, 4)
	for i := range batches {
		batches[i] = p.batch(r, m, 512, 500, 10)
	}
	b.Logf("layer sizes %d %d %d", len(batches[0].Layers[0]), len(batches[0].Layers[1]), len(batches[0].Layers[2]))
	ctx := context.Background()
	for _, bt := range batches { // compile the machines outside the timing
		if _, err := m.Step(ctx, bt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Step(ctx, batches[i%len(batches)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(512*b.N)/b.Elapsed().Seconds(), "examples/s")
}
