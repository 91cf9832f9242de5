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
func (l Loss) String() string {
	if n := lossNames(); int(l) < len(n) {
		return n[l]
	}
	return fmt.Sprintf("Loss(%d)", int(l))
}

// ParseLoss maps a model.loss value to its Loss.
func ParseLoss(name string) (Loss, error) {
	for i, n := range lossNames() {
		if n == name {
			return Loss(i), nil
		}
	}
	return 0, fmt.Errorf("unknown loss %q (want %s)", name, orList(lossNames()))
}

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
func (k ExampleKind) String() string {
	if n := exampleNames(); int(k) < len(n) {
		return n[k]
	}
	return fmt.Sprintf("ExampleKind(%d)", int(k))
}

// ParseExampleKind maps a producer.examples.kind value to its ExampleKind.
func ParseExampleKind(name string) (ExampleKind, error) {
	for i, n := range exampleNames() {
		if n == name {
			return ExampleKind(i), nil
		}
	}
	return 0, fmt.Errorf("unknown example kind %q (want %s)", name, orList(exampleNames()))
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
func (s Schedule) String() string {
	if n := scheduleNames(); int(s) < len(n) {
		return n[s]
	}
	return fmt.Sprintf("Schedule(%d)", int(s))
}

// Schedules returns every Schedule, in order.
func Schedules() []Schedule { return []Schedule{ScheduleConstant, ScheduleStep, ScheduleCosine} }

// ExampleKinds returns every ExampleKind, in order.
func ExampleKinds() []ExampleKind { return []ExampleKind{UserItem, ItemItem, Walks} }

// ParseSchedule maps a model.lr_schedule value to its Schedule; "" is
// ScheduleConstant.
func ParseSchedule(name string) (Schedule, error) {
	if name == "" {
		return ScheduleConstant, nil
	}
	for i, n := range scheduleNames() {
		if n == name {
			return Schedule(i), nil
		}
	}
	return 0, fmt.Errorf("unknown lr schedule %q (want %s)", name, orList(scheduleNames()))
}

// orList joins names as "a, b or c".
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
