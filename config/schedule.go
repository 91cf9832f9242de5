package config

import (
	"math"

	"github.com/trainerd/trainerd/consumer/optim"
	"github.com/trainerd/trainerd/model"
)

// validateSchedule checks the run-relative learning-rate schedule keys of
// model.lr_schedule: a warm-up or decay length is given in steps or in
// epochs, not both.
func (c *Config) validateSchedule(add func(error)) {
	m := c.Model
	if m.WarmupSteps > 0 && m.WarmupEpochs > 0 {
		add(invalid("model.warmup_epochs", "conflicts with model.warmup_steps %d: give the warm-up in epochs or in steps, not both", m.WarmupSteps))
	}
	if m.DecaySteps > 0 && m.DecayEpochs > 0 {
		add(invalid("model.decay_epochs", "conflicts with model.decay_steps %d: give the decay in epochs or in steps, not both", m.DecaySteps))
	}
	if we := m.WarmupEpochs; we > 0 && m.LRSchedule == "cosine" && m.DecaySteps == 0 && m.DecayEpochs == 0 && we >= float64(c.Train.Epochs) {
		add(invalid("model.warmup_epochs", "%g leaves no epoch of the whole-run cosine (train.epochs %d)", we, c.Train.Epochs))
	}
}

// RunSchedule is the model's learning-rate schedule in steps, resolved from
// the run-relative keys: model.warmup_epochs and model.decay_epochs times
// batchesPerEpoch (rounded, at least 1 step when set), and a cosine with no
// decay length spanning the whole run (train.epochs × batchesPerEpoch less
// the warm-up). Keys given in steps are kept.
func (c *Config) RunSchedule(batchesPerEpoch int) (warmupSteps, decaySteps int) {
	m := c.Model
	steps := func(epochs float64) int { return max(1, int(math.Round(epochs*float64(batchesPerEpoch)))) }
	warmupSteps, decaySteps = m.WarmupSteps, m.DecaySteps
	if m.WarmupEpochs > 0 {
		warmupSteps = steps(m.WarmupEpochs)
	}
	switch {
	case m.DecayEpochs > 0:
		decaySteps = steps(m.DecayEpochs)
	case decaySteps == 0 && m.LRSchedule == "cosine":
		decaySteps = max(1, c.Train.Epochs*batchesPerEpoch-warmupSteps)
	}
	return warmupSteps, decaySteps
}

// LRSchedule is the model's learning-rate schedule resolved for a data set
// with batchesPerEpoch batches per epoch (RunSchedule's step counts).
func (c *Config) LRSchedule(batchesPerEpoch int) optim.Schedule {
	m := c.Model
	warmup, decay := c.RunSchedule(batchesPerEpoch)
	return optim.Schedule{Kind: m.LRSchedule, Base: m.LR, Warmup: warmup, DecaySteps: decay, DecayRate: m.DecayRate, MinLR: m.MinLR}
}

// EpochLR is the learning rate of every step of epoch (1-based) when
// model.lr_unit is epoch: the schedule's value at the epoch's first step.
// ok is false for lr_unit step, where the model follows its schedule at
// every step itself.
func (c *Config) EpochLR(batchesPerEpoch, epoch int) (lr float64, ok bool) {
	if c.Model.LRUnit != model.LRUnitEpoch {
		return 0, false
	}
	return c.LRSchedule(batchesPerEpoch).LR(max(epoch-1, 0) * batchesPerEpoch), true
}

// RunHash is the config hash a run's checkpoints carry: Hash of the config
// with its run-relative schedule lengths resolved to steps of a data set
// with batchesPerEpoch batches (RunSchedule), so a resume or an inference
// whose resolved schedule differs is told apart. The trainer and infer
// both use it.
func (c *Config) RunHash(batchesPerEpoch int) string {
	h := *c
	h.Model.WarmupSteps, h.Model.DecaySteps = c.RunSchedule(batchesPerEpoch)
	return Hash(&h)
}
