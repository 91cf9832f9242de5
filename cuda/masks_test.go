//go:build !cuda

// Untagged builds only: with -tags cuda a test binary of this package links
// gorgonia.org/cu, which exits at init without a GPU (see doc.go).

package cuda

import (
	"math/rand/v2"
	"testing"

	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/producer"
)

func TestCheckBatchMasks(t *testing.T) {
	// 3 examples, a pool of 4.
	base := func() *producer.Batch {
		return &producer.Batch{Epoch: 2, Index: 7,
			Query: []uint32{0, 1, 2}, Pos: []uint32{10, 11, 12}, Neg: []uint32{20, 21, 22, 23},
			NegMask: []int32{0, 3, 3, 1}, NegMaskPtr: []int32{0, 2, 2, 4}, // repeats allowed
			InMask: []int32{1, 0, 2, 1}, InMaskPtr: []int32{0, 1, 3, 4},
		}
	}
	for _, tc := range []struct {
		name    string
		edit    func(b *producer.Batch)
		inBatch bool
		ok      bool
	}{
		{"valid", func(*producer.Batch) {}, true, true},
		{"no masks", func(b *producer.Batch) { b.NegMask, b.NegMaskPtr, b.InMask, b.InMaskPtr = nil, nil, nil, nil }, true, true},
		{"neg entries without ptr", func(b *producer.Batch) { b.NegMaskPtr = nil }, false, false},
		{"neg ptr too short", func(b *producer.Batch) { b.NegMaskPtr = b.NegMaskPtr[:3] }, false, false},
		{"neg ptr empty", func(b *producer.Batch) { b.NegMaskPtr = []int32{} }, false, false},
		{"neg ptr not from 0", func(b *producer.Batch) { b.NegMaskPtr[0] = 1 }, false, false},
		{"neg ptr end", func(b *producer.Batch) { b.NegMaskPtr[3] = 3 }, false, false},
		{"neg ptr decreases", func(b *producer.Batch) { b.NegMaskPtr = []int32{0, 3, 2, 4} }, false, false},
		{"neg ptr passes end", func(b *producer.Batch) { b.NegMaskPtr = []int32{0, 9, 2, 4} }, false, false},
		{"neg column past pool", func(b *producer.Batch) { b.NegMask[1] = 4 }, false, false},
		{"neg column negative", func(b *producer.Batch) { b.NegMask[1] = -1 }, false, false},
		{"in mask ignored without in-batch", func(b *producer.Batch) { b.InMask[0] = 0; b.InMaskPtr = nil }, false, true},
		{"in mask names own positive", func(b *producer.Batch) { b.InMask[0] = 0 }, true, false},
		{"in column past batch", func(b *producer.Batch) { b.InMask[3] = 3 }, true, false},
		{"in entries without ptr", func(b *producer.Batch) { b.InMaskPtr = nil }, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := base()
			tc.edit(b)
			err := checkBatchMasks(b, tc.inBatch)
			if (err == nil) != tc.ok {
				t.Fatalf("checkBatchMasks: err %v, want ok=%v", err, tc.ok)
			}
			if err != nil {
				t.Log(err)
			}
		})
	}
}

// The producer's batches pass: the GPU models never reject a real batch.
func TestCheckBatchMasksAcceptsProducerBatches(t *testing.T) {
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
		cfg := producer.Config{Seed: 3, BatchSize: 32}
		cfg.Examples.Kind = kind
		cfg.Negatives.PoolSize = 30
		s, err := producer.New(g, nil, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var b producer.Batch
		neg, in := 0, 0
		for i := 0; i < s.BatchesPerEpoch(); i++ {
			if err := s.Batch(0, i, producer.EpochParams{PoolSize: 30}, &b); err != nil {
				t.Fatal(err)
			}
			if err := checkBatchMasks(&b, true); err != nil {
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
