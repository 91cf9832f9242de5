//go:build !cuda

package sage

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/trainerd/trainerd/internal/testfixture"
	"github.com/trainerd/trainerd/model"
)

// TestStepPassesMasks: PinSage and GraphSAGE hand the batch's masks to the
// loss. With BPR, no hard negatives and every negative masked, each example
// has no negative left, so the loss is exactly 0; unmasked it is positive.
func TestStepPassesMasks(t *testing.T) {
	p := newGNNPlanted(t, 40, 60, 2, 6, 2, 9)
	for _, name := range []string{"pinsage", "graphsage"} {
		t.Run(name, func(t *testing.T) {
			cfg := model.Config{Model: name, Dim: 8, Hidden: 8, LR: 0.01, Loss: "bpr", InBatch: true, L2: 0, Seed: 1, Inputs: "id"}
			mi, err := newModel(cfg, model.Info{NumUsers: p.U, NumItems: p.I, Graph: p.g})
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(3, 3))
			b := p.batch(r, mi.(*convModel), 16, 8, 3)
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
