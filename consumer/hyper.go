package consumer

import (
	"github.com/trainerd/trainerd/consumer/loss"
	"github.com/trainerd/trainerd/consumer/optim"
	"github.com/trainerd/trainerd/model"
)

// hyperOverride holds a curriculum's per-step learning rate and margin
// (Tunable). Zero fields keep the model's own schedule and margin.
type hyperOverride struct{ h model.Hyper }

// SetHyper implements Tunable.
func (o *hyperOverride) SetHyper(h model.Hyper) { o.h = h }

// lrAt is the learning rate of step: the override when set, else the
// model's schedule.
func (o *hyperOverride) lrAt(s optim.Schedule, step int) float32 {
	if o.h.LR > 0 {
		return float32(o.h.LR)
	}
	return float32(s.LR(step))
}

// applyMargin hands an overridden margin to the loss before a step.
func (o *hyperOverride) applyMargin(l *loss.Loss) {
	if o.h.Margin > 0 {
		l.SetMargin(float32(o.h.Margin))
	}
}
