// Package model holds the types every recommender model shares, whatever
// implements it (package consumer on CPU, package cuda on the GPU): the
// Model and Tunable interfaces, the model configuration and its defaults,
// the data-set Info a model is built from, and the tensors, embeddings and
// step statistics a model hands back.
package model

import (
	"context"

	"github.com/trainerd/trainerd/batch"
)

// Tensor is one named array of model or optimiser state, float32 row-major.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// StepStats is what one training step reports.
type StepStats struct {
	Loss     float64
	Examples int
}

// Embeddings are the final user and item vectors of a model, row-major.
type Embeddings struct {
	Dim   int
	Users []float32 // NumUsers × Dim
	Items []float32 // NumItems × Dim
}

// Model is one trainable recommender.
type Model interface {
	// Name is the model's config name ("mf", "lightgcn", "pinsage", ...).
	Name() string
	// Step runs forward, backward and one optimiser update on b.
	Step(ctx context.Context, b *batch.Batch) (StepStats, error)
	// Embed computes the embeddings of every user and item for evaluation,
	// export and serving.
	Embed(ctx context.Context) (*Embeddings, error)
	// State returns parameters and optimiser state, everything needed to
	// continue training bit-identically. Parameter tensors come first and
	// are named "param/..."; optimiser tensors are named "opt/...".
	State() []Tensor
	// Load restores what State returned.
	Load(state []Tensor) error
}

// Hyper are the hyper-parameters a curriculum may change between steps.
// A zero field leaves the model's configured value.
type Hyper struct {
	// LR is the learning rate of the next step.
	LR float64
	// Margin is the max-margin loss's Δ for the next step.
	Margin float64
}

// Tunable is implemented by models whose learning rate and margin follow a
// curriculum; the trainer calls SetHyper before every step.
type Tunable interface {
	SetHyper(h Hyper)
}
