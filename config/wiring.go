package config

import (
	"github.com/trainerd/trainerd/model"
	"github.com/trainerd/trainerd/modelspec"
	"github.com/trainerd/trainerd/producer"
)

// SamplerConfig is the producer configuration a run samples with, as the
// model's spec (modelspec) dictates: producer.seed 0 becomes train.seed,
// producer.layers is 0 for the models that build no computation graph
// (Spec.Convolves false), and the model's own example kind replaces
// producer.examples.kind where it has one (deepwalk: walks). Training and
// inference over a checkpoint both build their sampler from it.
func (c *Config) SamplerConfig() producer.Config {
	pc := c.Producer.Config
	if pc.Seed == 0 {
		pc.Seed = c.Train.Seed
	}
	spec, _ := modelspec.Lookup(c.Model.Model)
	if !spec.Convolves {
		pc.Layers = 0 // Validate keeps producer.layers == model.layers for the others
	}
	if spec.ExamplesFixed {
		pc.Examples.Kind = spec.Examples.String()
	}
	return pc
}

// ModelConfig is the model configuration a run builds its model with:
// model.seed 0 becomes train.seed.
func (c *Config) ModelConfig() model.Config {
	mc := c.Model
	if mc.Seed == 0 {
		mc.Seed = c.Train.Seed
	}
	return mc
}

// ReadsFeatures reports whether the model reads the store's node features
// (a model that uses them, with model.inputs other than id), so the run
// loads them when the store has any.
func (c *Config) ReadsFeatures() bool {
	spec, _ := modelspec.Lookup(c.Model.Model)
	return spec.ReadsFeatures(c.Model.Inputs)
}
