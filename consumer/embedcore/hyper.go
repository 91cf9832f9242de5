package embedcore

import (
	"github.com/trainerd/trainerd/consumer/loss"
	"github.com/trainerd/trainerd/consumer/optim"
	"github.com/trainerd/trainerd/model"
)

// HyperOverride holds a curriculum's per-step learning rate and margin
// (model.Tunable); a model embeds it. Zero fields keep the model's own
// schedule and margin.
type HyperOverride struct{ h model.Hyper }

// SetHyper implements model.Tunable.
func (o *HyperOverride) SetHyper(h model.Hyper) { o.h = h }

// LRAt is the learning rate of step: the override when set, else the
// model's schedule.
func (o *HyperOverride) LRAt(s optim.Schedule, step int) float32 {
	if o.h.LR > 0 {
		return float32(o.h.LR)
	}
	return float32(s.LR(step))
}

// ApplyMargin hands an overridden margin to the loss before a step.
func (o *HyperOverride) ApplyMargin(l *loss.Loss) {
	if o.h.Margin > 0 {
		l.SetMargin(float32(o.h.Margin))
	}
}
