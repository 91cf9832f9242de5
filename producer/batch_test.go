package producer

import (
	"math/rand/v2"
	"testing"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/graph"
)

// The sampler's batches pass: consumers never reject a real batch.
func TestCheckMasksAcceptsSamplerBatches(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	users, items := 40, 60
	var es []graph.Edge
	for i := 0; i < 600; i++ {
		f := rng.Float64() // skewed items, so positives collide
		es = append(es, graph.Edge{User: uint32(rng.IntN(users)), Item: uint32(f * f * float64(items))})
	}
	g, err := graph.Build(users, items, es)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"user_item", "item_item", "walks"} {
		cfg := Config{Seed: 3, BatchSize: 32}
		cfg.Examples.Kind = kind
		cfg.Negatives.PoolSize = 30
		s, err := New(g, nil, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var b batch.Batch
		neg, in := 0, 0
		for i := 0; i < s.BatchesPerEpoch(); i++ {
			if err := s.Batch(0, i, EpochParams{PoolSize: 30}, &b); err != nil {
				t.Fatal(err)
			}
			if err := b.CheckMasks(true); err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			neg += len(b.NegMask)
			in += len(b.InMask)
		}
		if kind == "user_item" && (neg == 0 || in == 0) {
			t.Fatalf("user_item batches mask %d pool and %d in-batch negatives; want some of each", neg, in)
		}
	}
}
