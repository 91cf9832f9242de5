package consumer

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/internal/testfixture"
	"github.com/trainerd/trainerd/model"
)

// TestSetHyper checks that a curriculum's learning rate and margin reach
// the models: an override changes the next step's result; a zero override
// keeps the configured values exactly.
func TestSetHyper(t *testing.T) {
	for _, name := range []string{"mf", "lightgcn", "ngcf"} {
		t.Run(name, func(t *testing.T) {
			run := func(h *model.Hyper) []float32 {
				m, b := hyperModel(t, name)
				if h != nil {
					m.(model.Tunable).SetHyper(*h)
				}
				if _, err := m.Step(context.Background(), b); err != nil {
					t.Fatal(err)
				}
				return m.State()[0].Data
			}
			base, zero := run(nil), run(&model.Hyper{})
			for i := range base {
				if base[i] != zero[i] {
					t.Fatalf("zero Hyper changed the step at %d", i)
				}
			}
			for _, h := range []model.Hyper{{LR: 0.5}, {Margin: 1e-4}} {
				got := run(&h)
				same := true
				for i := range base {
					same = same && base[i] == got[i]
				}
				if same {
					t.Fatalf("%+v had no effect", h)
				}
			}
		})
	}
}

// hyperModel builds a small margin-loss model and its first batch.
func hyperModel(t *testing.T, name string) (model.Model, *batch.Batch) {
	t.Helper()
	const U, I = 40, 50
	edges, _, _ := testfixture.Planted(U, I, 2, 8, 2)
	g, err := graph.Build(U, I, edges)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(model.Config{Model: name, Loss: "margin", Margin: 0.1, Layers: 2, Dim: 8, Seed: 3},
		model.Info{NumUsers: U, NumItems: I, Graph: g})
	if err != nil {
		t.Fatal(err)
	}
	s := &testfixture.Sampler{U: U, I: I, Edges: edges, B: 16, P: 10, Rng: rand.New(rand.NewPCG(1, 1))}
	return m, s.Epoch(0)[0]
}
