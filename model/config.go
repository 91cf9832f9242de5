package model

import (
	"runtime"

	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/modelspec"
)

// Config selects and sizes a model, its loss and its optimiser. The zero
// value of each field means "the documented default" (see Default and
// WithModelDefaults).
// Field tags are the YAML/viper keys under `model:`.
type Config struct {
	// Model is one of mf, deepwalk, lightgcn, ngcf, graphsage, pinsage.
	Model string `mapstructure:"name"`
	// Dim is the embedding / output dimension. Default 64.
	Dim int `mapstructure:"dim"`
	// Layers is the number of propagation or convolution layers (LightGCN,
	// NGCF, GraphSAGE, PinSage). Default 3 for LightGCN/NGCF, 2 otherwise.
	Layers int `mapstructure:"layers"`
	// Hidden is the hidden width of GNN layers. Default 2*Dim.
	Hidden int `mapstructure:"hidden"`
	// Aggregator for GraphSAGE/PinSage: importance (PinSage), mean, max,
	// pool, gcn, gat. Default importance for PinSage, mean for GraphSAGE.
	Aggregator string `mapstructure:"aggregator"`
	// Inputs for GNN models: id (learnable id embeddings), features (store
	// features), both. Default id when the store has no features, else both.
	Inputs string `mapstructure:"inputs"`
	// Residual adds each node's input (its id embedding, projected
	// features, or their sum) to PinSage's output, so the network learns a
	// correction to an embedding-table model. PinSage only; needs the
	// output width model.dim (always so for PinSage). Default false.
	Residual bool `mapstructure:"residual"`
	// Normalize L2-normalises output embeddings (PinSage's z/‖z‖). Scoring
	// is then cosine similarity.
	Normalize bool `mapstructure:"normalize"`

	// Loss is bpr, margin, softmax (sampled softmax over the shared pool)
	// or ccl (SimpleX's cosine contrastive loss; see consumer/loss).
	Loss string `mapstructure:"loss"`
	// Margin Δ of the max-margin loss, m of ccl. Default 0.1.
	Margin float64 `mapstructure:"margin"`
	// NegWeight is w of ccl, the weight of its mean negative term. Default 1.
	NegWeight float64 `mapstructure:"neg_weight"`
	// Temperature of the sampled softmax. Default 0.1.
	Temperature float64 `mapstructure:"temperature"`
	// History is SimpleX's behaviour aggregation on MF's user side
	// (`model.history:`). Its zero value is plain MF.
	History History `mapstructure:"history"`
	// Dropout is the dropout rate on MF's user query vectors during
	// training, in [0,1). Default 0.
	Dropout float64 `mapstructure:"dropout"`
	// L2 is the regularisation weight on the embeddings used by a batch.
	L2 float64 `mapstructure:"l2"`

	// Optimizer is adam, sgd or adagrad. Id-embedding tables always get
	// sparse (lazy) row updates. Default adam.
	Optimizer string `mapstructure:"optimizer"`
	// LR is the base learning rate. Default 0.001 (adam), 0.05 (sgd).
	LR float64 `mapstructure:"lr"`
	// Seed initialises parameters deterministically.
	Seed uint64 `mapstructure:"seed"`
	// Threads bounds the goroutines a step may use. Default GOMAXPROCS.
	Threads int `mapstructure:"threads"`

	// InBatch adds the other examples' positives as extra negatives of each
	// example (in-batch negatives), for every loss. Default false.
	InBatch bool `mapstructure:"in_batch"`
	// LRSchedule is constant, step or cosine (package consumer/optim).
	// Default constant.
	LRSchedule string `mapstructure:"lr_schedule"`
	// LRUnit is how often the rate changes: step (default, every step) or
	// epoch (the trainer holds each epoch at the schedule's value at the
	// epoch's first step and hands it to the model through SetHyper).
	LRUnit string `mapstructure:"lr_unit"`
	// WarmupSteps ramps the learning rate linearly over the first steps.
	// Default 0 (none).
	WarmupSteps int `mapstructure:"warmup_steps"`
	// DecaySteps is the step-decay period, or the cosine length.
	DecaySteps int `mapstructure:"decay_steps"`
	// WarmupEpochs and DecayEpochs are WarmupSteps and DecaySteps in
	// epochs of the run (fractions allowed): the trainer converts them with
	// the data set's batches per epoch, so a schedule carries to another
	// data set. Set a step count or an epoch count, not both. With neither
	// decay key set, a cosine spans the whole run (train.epochs less the
	// warm-up). Default 0.
	WarmupEpochs float64 `mapstructure:"warmup_epochs"`
	DecayEpochs  float64 `mapstructure:"decay_epochs"`
	// DecayRate is the step-decay factor. Default 0.1.
	DecayRate float64 `mapstructure:"decay_rate"`
	// MinLR is the floor of the cosine schedule. Default 0.
	MinLR float64 `mapstructure:"min_lr"`
	// InitStd is the standard deviation of the normal initialisation of
	// id-embedding tables (MF, DeepWalk, LightGCN, NGCF). Default 0.1.
	InitStd float64 `mapstructure:"init_std"`
}

// History configures SimpleX's behaviour aggregation (MF only, user_item
// examples): the user's query vector is (1−w)·e_u + w·mean(e_j over the
// user's train items)·M. Weight 0 turns it off and makes the other fields
// irrelevant (they are ignored, not refused).
type History struct {
	// Weight is w: 0 (default) is plain MF; 1 uses the items alone.
	Weight float64 `mapstructure:"weight"`
	// DegreePower β weights history item j by deg_j^−β in the aggregation
	// (a weighted mean, the weights normalised to sum 1), so popular items
	// count less; 0.5 is LightGCN's symmetric normalisation. Default 0: the
	// plain mean.
	DegreePower float64 `mapstructure:"degree_power"`
	// Max caps the train items averaged per user per step (a uniform
	// sample); 0 (default) averages all of them. Embed always uses all.
	Max int `mapstructure:"max"`
	// Linear learns the d×d matrix M of the aggregation (initialised to the
	// identity); false keeps M = I. Default false.
	Linear bool `mapstructure:"linear"`
	// EmbedOnly applies the aggregation only when embedding (eval, export,
	// serve): training is plain MF at plain MF's cost, and each exported
	// user vector mixes in the weighted mean of its train items. Default
	// false.
	EmbedOnly bool `mapstructure:"embed_only"`
}

// Active reports whether the aggregation is on (Weight > 0).
func (h History) Active() bool { return h.Weight > 0 }

// Info is what a model needs to know about the data set.
type Info struct {
	NumUsers int
	NumItems int
	// Graph is the training graph (LightGCN and NGCF propagate over it).
	Graph *graph.Bipartite
	// UserFeatDim and ItemFeatDim are the store's feature dims; a Batch's
	// FeatDim is their sum.
	UserFeatDim int
	ItemFeatDim int
	// UserFeatures and ItemFeatures are the full feature matrices, needed by
	// Embed for feature-based models (nil when absent).
	UserFeatures []float32
	ItemFeatures []float32
}

// Default returns the `model:` section of the default configuration, the
// one source of every model default (config.Default holds it): the model
// pinsage with its default loss (modelspec), dim 64, normalised outputs,
// margin 0.1, ccl weight 1, temperature 0.1, adam at lr 0.001, seed 1, the
// constant schedule with decay rate 0.1 when another is chosen, init std
// 0.1. The zero fields are "auto" (layers, hidden, aggregator, inputs and
// threads: see WithModelDefaults) or off.
func Default() Config {
	spec, _ := modelspec.Lookup(modelspec.PinSage)
	return Config{
		Model: spec.Name, Dim: 64, Normalize: true,
		Loss: spec.DefaultLoss.String(), Margin: 0.1, NegWeight: 1, Temperature: 0.1,
		Optimizer: "adam", LR: 0.001, Seed: 1,
		LRSchedule: modelspec.ScheduleConstant.String(), LRUnit: LRUnitStep, DecayRate: 0.1, InitStd: 0.1,
	}
}

// model.lr_unit values.
const (
	// LRUnitStep changes the learning rate at every step.
	LRUnitStep = "step"
	// LRUnitEpoch holds the learning rate for each epoch at the schedule's
	// value at the epoch's first step.
	LRUnitEpoch = "epoch"
)

// DefaultOtherLR is model.lr's default for the optimisers other than
// Default's (sgd and adagrad).
const DefaultOtherLR = 0.05

// WithDefaults returns c with the zero fields every model shares filled
// from Default: dim, loss defLoss, margin, ccl weight, temperature,
// optimizer, lr (DefaultOtherLR for an optimizer other than the default),
// init std. Model-specific fields (layers, hidden, aggregator, inputs) are
// WithModelDefaults'.
func (c Config) WithDefaults(defLoss string) Config {
	d := Default()
	if c.Dim <= 0 {
		c.Dim = d.Dim
	}
	if c.Loss == "" {
		c.Loss = defLoss
	}
	if c.Margin == 0 {
		c.Margin = d.Margin
	}
	if c.Temperature == 0 {
		c.Temperature = d.Temperature
	}
	if c.NegWeight == 0 {
		c.NegWeight = d.NegWeight
	}
	if c.Optimizer == "" {
		c.Optimizer = d.Optimizer
	}
	if c.LR == 0 {
		c.LR = d.LR
		if c.Optimizer != d.Optimizer {
			c.LR = DefaultOtherLR
		}
	}
	if c.InitStd == 0 {
		c.InitStd = d.InitStd
	}
	return c
}

// WithModelDefaults returns c with every zero field filled with the
// defaults of model s: WithDefaults with s's default loss, s's default
// layers and threads GOMAXPROCS; for the models with aggregators (the
// convolutional ones) also hidden 2·dim, s's default aggregator and inputs
// id when info has no features, else both.
func (c Config) WithModelDefaults(s modelspec.Spec, info Info) Config {
	c = c.WithDefaults(s.DefaultLoss.String())
	c.Layers = s.Layers(c.Layers)
	if c.Threads <= 0 {
		c.Threads = runtime.GOMAXPROCS(0)
	}
	if len(s.Aggregators) == 0 {
		return c
	}
	if c.Hidden <= 0 {
		c.Hidden = 2 * c.Dim
	}
	if c.Aggregator == "" {
		c.Aggregator = s.DefaultAggregator
	}
	if c.Inputs == "" {
		c.Inputs = "id"
		if s.UsesFeatures && info.UserFeatDim+info.ItemFeatDim > 0 {
			c.Inputs = "both"
		}
	}
	return c
}
