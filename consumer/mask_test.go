package consumer

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/internal/testfixture"
	"github.com/trainerd/trainerd/model"
)

// TestStepPassesMasks: every model outside consumer/sage (which has its
// own, on neighbourhood batches) hands the batch's masks to the loss. With
// BPR, no hard negatives and every negative masked, each example has no
// negative left, so the loss is exactly 0; unmasked it is positive.
func TestStepPassesMasks(t *testing.T) {
	c := testfixture.NewCommunities(t, 40, 60, 2, 6, 2, 9)
	for _, name := range []string{"mf", "lightgcn", "ngcf", "deepwalk"} {
		t.Run(name, func(t *testing.T) {
			cfg := model.Config{Model: name, Dim: 8, Hidden: 8, LR: 0.01, Loss: "bpr", InBatch: true, L2: 0, Seed: 1, Inputs: "id"}
			mi, err := New(cfg, model.Info{NumUsers: c.U, NumItems: c.I, Graph: c.Graph})
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(3, 3))
			b := &batch.Batch{}
			for j := 0; j < 16; j++ {
				u := r.IntN(c.U)
				b.Query = append(b.Query, uint32(u))
				b.Pos = append(b.Pos, batch.GlobalItem(c.U, c.Train[u][r.IntN(len(c.Train[u]))]))
			}
			for s := 0; s < 8; s++ {
				b.Neg = append(b.Neg, batch.GlobalItem(c.U, uint32(r.IntN(c.I))))
			}
			masked := *b
			testfixture.MaskAll(&masked)
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
