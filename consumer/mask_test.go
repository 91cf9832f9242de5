//go:build !cuda

package consumer

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/model"
)

// maskAll sets b's masks to exclude every pool slot and every in-batch
// column of every example.
func maskAll(b *batch.Batch) {
	B, P := len(b.Query), len(b.Neg)
	b.NegMask, b.NegMaskPtr, b.InMask, b.InMaskPtr = nil, []int32{0}, nil, []int32{0}
	for j := 0; j < B; j++ {
		for s := 0; s < P; s++ {
			b.NegMask = append(b.NegMask, int32(s))
		}
		for k := 0; k < B; k++ {
			if k != j {
				b.InMask = append(b.InMask, int32(k))
			}
		}
		b.NegMaskPtr = append(b.NegMaskPtr, int32(len(b.NegMask)))
		b.InMaskPtr = append(b.InMaskPtr, int32(len(b.InMask)))
	}
}

// TestStepPassesMasks: every model hands the batch's masks to the loss. With
// BPR, no hard negatives and every negative masked, each example has no
// negative left, so the loss is exactly 0; unmasked it is positive.
func TestStepPassesMasks(t *testing.T) {
	p := newGNNPlanted(t, 40, 60, 2, 6, 2, 9)
	for _, name := range []string{"mf", "lightgcn", "ngcf", "deepwalk", "pinsage", "graphsage"} {
		t.Run(name, func(t *testing.T) {
			cfg := model.Config{Model: name, Dim: 8, Hidden: 8, LR: 0.01, Loss: "bpr", InBatch: true, L2: 0, Seed: 1, Inputs: "id"}
			mi, err := New(cfg, model.Info{NumUsers: p.U, NumItems: p.I, Graph: p.g})
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(3, 3))
			var b *batch.Batch
			if m, ok := mi.(*convModel); ok {
				b = p.batch(r, m, 16, 8, 3)
			} else {
				b = &batch.Batch{}
				for j := 0; j < 16; j++ {
					u := r.IntN(p.U)
					b.Query = append(b.Query, uint32(u))
					b.Pos = append(b.Pos, batch.GlobalItem(p.U, p.train[u][r.IntN(len(p.train[u]))]))
				}
				for s := 0; s < 8; s++ {
					b.Neg = append(b.Neg, batch.GlobalItem(p.U, uint32(r.IntN(p.I))))
				}
			}
			masked := *b
			maskAll(&masked)
			st, err := mi.Step(context.Background(), &masked)
			if err != nil {
				t.Fatal(err)
			}
			if st.Loss != 0 {
				t.Errorf("all negatives masked: loss %v, want 0", st.Loss)
			}
			st, err = mi.Step(context.Background(), b)
			if err != nil {
				t.Fatal(err)
			}
			if !(st.Loss > 0) {
				t.Errorf("unmasked loss %v, want > 0", st.Loss)
			}
			bad := *b
			bad.NegMask, bad.NegMaskPtr = []int32{int32(len(b.Neg))}, make([]int32, len(b.Query)+1)
			for j := 1; j <= len(b.Query); j++ {
				bad.NegMaskPtr[j] = 1
			}
			if _, err := mi.Step(context.Background(), &bad); err == nil {
				t.Error("mask naming a slot outside the pool accepted")
			}
		})
	}
}
