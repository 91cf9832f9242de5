package modelspec

import (
	"fmt"
	"strings"
)

// Loss is a training loss of consumer/loss (and, for some, of the CUDA
// consumer). Its String is the model.loss value.
type Loss uint8

// The losses. Their order is consumer/loss's row dispatch order.
const (
	// LossBPR is Bayesian personalised ranking.
	LossBPR Loss = iota
	// LossMargin is the max-margin (hinge) loss with margin Δ.
	LossMargin
	// LossSoftmax is the sampled softmax over the shared pool.
	LossSoftmax
	// LossSGNS is skip-gram negative sampling (DeepWalk).
	LossSGNS
	// LossCCL is SimpleX's cosine contrastive loss.
	LossCCL
)

// lossNames are the config names of the losses, indexed by Loss.
func lossNames() []string { return []string{"bpr", "margin", "softmax", "sgns", "ccl"} }

// String is the loss's config name ("bpr", "margin", ...).
func (l Loss) String() string { return name(lossNames(), l, "Loss") }

// ParseLoss maps a model.loss value to its Loss.
func ParseLoss(s string) (Loss, error) { return parse[Loss](lossNames(), s, "loss") }

// ConfigLosses returns the losses model.loss accepts, in the order the
// config documents them (sgns, DeepWalk's built-in default, is not a
// configurable value), as a fresh slice.
func ConfigLosses() []Loss { return []Loss{LossBPR, LossMargin, LossSoftmax, LossCCL} }

// CUDALosses returns the losses the CUDA consumer implements, as a fresh
// slice.
func CUDALosses() []Loss { return []Loss{LossBPR, LossMargin, LossSoftmax, LossSGNS} }

// ExampleKind says what a training example pairs. The values are those of
// producer.ExampleKind, which is this type.
type ExampleKind uint8

// The example kinds.
const (
	// UserItem examples pair a user (query) with an item it engaged
	// (positive): the train edges.
	UserItem ExampleKind = iota
	// ItemItem examples pair two related items (PinSage's related pins).
	ItemItem
	// Walks examples are DeepWalk skip-gram pairs of one random walk.
	Walks
)

// exampleNames are the producer.examples.kind values, indexed by
// ExampleKind.
func exampleNames() []string { return []string{"user_item", "item_item", "walks"} }

// String is the producer.examples.kind value of k.
func (k ExampleKind) String() string { return name(exampleNames(), k, "ExampleKind") }

// ParseExampleKind maps a producer.examples.kind value to its ExampleKind.
func ParseExampleKind(s string) (ExampleKind, error) {
	return parse[ExampleKind](exampleNames(), s, "example kind")
}

// Schedule is the consumer's own learning-rate schedule (model.lr_schedule).
type Schedule uint8

// The schedules.
const (
	// ScheduleConstant keeps model.lr (after any warm-up).
	ScheduleConstant Schedule = iota
	// ScheduleStep multiplies the rate by model.decay_rate every
	// model.decay_steps steps.
	ScheduleStep
	// ScheduleCosine anneals the rate from model.lr to model.min_lr over
	// model.decay_steps steps.
	ScheduleCosine
)

// scheduleNames are the model.lr_schedule values, indexed by Schedule.
func scheduleNames() []string { return []string{"constant", "step", "cosine"} }

// String is the model.lr_schedule value of s.
func (s Schedule) String() string { return name(scheduleNames(), s, "Schedule") }

// Schedules returns every Schedule, in order.
func Schedules() []Schedule { return []Schedule{ScheduleConstant, ScheduleStep, ScheduleCosine} }

// ExampleKinds returns every ExampleKind, in order.
func ExampleKinds() []ExampleKind { return []ExampleKind{UserItem, ItemItem, Walks} }

// ParseSchedule maps a model.lr_schedule value to its Schedule; "" is
// ScheduleConstant.
func ParseSchedule(s string) (Schedule, error) {
	if s == "" {
		return ScheduleConstant, nil
	}
	return parse[Schedule](scheduleNames(), s, "lr schedule")
}

// name is names[v], or Type(v) when v has no name.
func name[T ~uint8](names []string, v T, typ string) string {
	if int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, int(v))
}

// parse returns the T whose name is s, or an error saying what (a loss,
// an example kind, ...) s failed to name and which names are valid.
func parse[T ~uint8](names []string, s, what string) (T, error) {
	for i, n := range names {
		if n == s {
			return T(i), nil
		}
	}
	return 0, fmt.Errorf("unknown %s %q (want %s)", what, s, orList(names))
}

// orList joins names as "a, b or c".
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
