// Package config owns trainerd's training configuration: one struct tree
// (Config) whose mapstructure tags are the YAML keys, its defaults, the layered
// loading (defaults < YAML file < TRAINERD_* environment < --set overrides),
// strict checking (unknown keys, wrong types, out-of-range values and invalid
// enums are refused with the full key path), the effective config printed as
// YAML that loads back to the identical struct, and the resume hash.
//
// The package reads files and the environment only inside Load; it keeps no
// package-level mutable state and never starts training.
//
// Environment variables: every key k has TRAINERD_<K> where K is k upper-cased
// with "." replaced by "_", e.g. TRAINERD_MODEL_LR for model.lr and
// TRAINERD_CURRICULUM_MARGIN_KIND for curriculum.margin.kind. Values are parsed as the
// key's type. A TRAINERD_* variable that names no key is refused (a misspelled
// key must not be ignored), except the few non-config variables NonConfigEnv
// lists (TRAINERD_DATA, the tests' data directory, is why the data section is
// called dataset).
//
// A struct field tagged `mapstructure:",squash"` (Producer's embedded
// producer.Config) has its keys inlined into the enclosing section, both when
// decoding (mapstructure) and in this package's key listing, strict checking,
// printing and hashing.
package config

import (
	"errors"
	"fmt"

	"github.com/trainerd/trainerd/curriculum"
	"github.com/trainerd/trainerd/model"
	"github.com/trainerd/trainerd/modelspec"
	"github.com/trainerd/trainerd/producer"
)

// Config is the full training configuration. Each section's doc names its
// YAML key; configs/reference.yaml documents every key with its default.
type Config struct {
	// Dataset is `dataset:`, where the training data lives.
	Dataset Dataset `mapstructure:"dataset"`
	// Model is `model:`, the model, loss and optimiser (model.Config).
	Model model.Config `mapstructure:"model"`
	// Producer is `producer:`, the minibatch producers.
	Producer Producer `mapstructure:"producer"`
	// Train is `train:`, the training loop.
	Train Train `mapstructure:"train"`
	// Checkpoint is `checkpoint:`, when checkpoints are written and kept.
	Checkpoint Checkpoint `mapstructure:"checkpoint"`
	// Curriculum is `curriculum:`, the schedules over epochs or steps.
	Curriculum curriculum.Config `mapstructure:"curriculum"`
	// HTTP is `http:`, the metrics and status server.
	HTTP HTTP `mapstructure:"http"`
}

// Dataset says where the training data is.
type Dataset struct {
	// Store is the Badger feature store directory (made by `trainerd ingest`
	// or `trainerd gen`). Default "store".
	Store string `mapstructure:"store"`
}

// Producer configures the CPU producers: the sampling itself is
// producer.Config, inlined (`,squash`) so its keys sit directly under
// `producer:` (producer.batch_size, producer.walk.steps, producer.neighbors.t,
// producer.negatives.pool_size, producer.hard.rank_lo, ...), next to the two
// keys that only size the pipeline.
//
// producer.seed 0 means "use train.seed" (the trainer substitutes it).
type Producer struct {
	// Workers is the number of producer goroutines; 0 = GOMAXPROCS. Batches
	// are identical for any value, so it is excluded from the hash.
	Workers int `mapstructure:"workers"`
	// Queue is the capacity, in batches, of the bounded queue to the
	// consumer. Default 8. Excluded from the hash.
	Queue int `mapstructure:"queue"`
	// Config is the sampler's configuration; see package producer for each
	// key's meaning and default.
	producer.Config `mapstructure:",squash"`
}

// Train configures the training loop.
type Train struct {
	// Epochs is the number of epochs. Default 10.
	Epochs int `mapstructure:"epochs"`
	// EvalEvery evaluates every N epochs; 0 = only after the last. Default 1.
	EvalEvery int `mapstructure:"eval_every"`
	// EvalK is the cut-off of recall@K and NDCG@K. Default 20.
	EvalK int `mapstructure:"eval_k"`
	// Seed seeds the producers' sampling when producer.seed is 0 (and the
	// model's initialisation when model.seed is 0). Default 1.
	Seed uint64 `mapstructure:"seed"`
	// Device is auto (CUDA when available), cpu, cuda or cuda:N. Default auto.
	Device string `mapstructure:"device"`
	// CUDABinary is the path of the CUDA-enabled trainerd binary the CPU build
	// hands off to; "" = trainerd-cuda beside the running executable.
	CUDABinary string `mapstructure:"cuda_binary"`
	// Validation is `train.validation:`, the held-out validation split
	// evaluations during training score (see Validation).
	Validation Validation `mapstructure:"validation"`
	// Select is the validation metric that picks the best checkpoint, kept
	// beside the latest: METRIC@K (recall, ndcg, precision, hit, mrr) or
	// mrr. Default recall@20.
	Select string `mapstructure:"select"`
	// Patience stops training after this many evaluations without a new
	// best train.select on validation; 0 = never stop early. Default 0.
	Patience int `mapstructure:"patience"`
	// Tune is `train.tune:`, one key chosen on the validation split by short
	// pilot runs before the run itself (see Tune).
	Tune Tune `mapstructure:"tune"`
}

// Checkpoint configures checkpointing.
type Checkpoint struct {
	// EverySteps writes a checkpoint every N optimiser steps; 0 = off.
	// Default 0.
	EverySteps int `mapstructure:"every_steps"`
	// EveryMinutes writes a checkpoint every N minutes of wall time; 0 = off.
	// A checkpoint is always written at the end of each epoch. Default 10.
	EveryMinutes float64 `mapstructure:"every_minutes"`
	// KeepLast is how many checkpoints to keep. Default 3.
	KeepLast int `mapstructure:"keep_last"`
}

// HTTP configures the metrics and status server.
type HTTP struct {
	// Addr is the listen address. Default "127.0.0.1:0": loopback only, on a
	// free port the daemon logs (and reports at /status), so runs side by
	// side never collide; set e.g. ":9090" for a fixed, scrapeable port.
	// "" disables the server.
	Addr string `mapstructure:"addr"`
}

// Default returns the default configuration, the one an empty YAML file gives.
// Its sections are their packages' defaults (model.Default,
// producer.Default, with model-specific values in modelspec). The producer
// section is producer.Default, with two
// exceptions: producer.layers is derived from the model (Resolve: the default
// model, pinsage, has model.layers 0, which means 2), and
// producer.walk.stop_nodes stays 0, which the producer resolves to
// producer.neighbors.t, so changing t alone moves it too.
func Default() Config {
	c := unresolvedDefault()
	c.Resolve()
	return c
}

// unresolvedDefault is Default before Resolve: the layer of defaults Load
// starts from, where producer.layers 0 means "derive it from the model".
func unresolvedDefault() Config {
	pc := producer.Default()
	pc.Layers = 0
	pc.Walk.StopNodes = 0
	return Config{
		Dataset:    Dataset{Store: "store"},
		Model:      model.Default(),
		Producer:   Producer{Queue: 8, Config: pc},
		Train:      Train{Epochs: 10, EvalEvery: 1, EvalK: 20, Seed: 1, Device: "auto", Validation: Validation{Fraction: 0.1}, Select: DefaultSelect},
		Checkpoint: Checkpoint{EveryMinutes: 10, KeepLast: 3},
		Curriculum: curriculum.Config{Unit: curriculum.UnitEpoch},
		HTTP:       HTTP{Addr: "127.0.0.1:0"},
	}
}

// Resolve fills the keys whose zero value means "derived from another key"
// and which the producer cannot derive itself: producer.layers 0 becomes
// model.layers (0 there = the model's default) for the models that convolve
// over the producer's computation graph (modelspec.Spec.Convolves: pinsage,
// graphsage); for the others it stays 0, as they build none. Load calls it
// before Validate; it is idempotent.
func (c *Config) Resolve() {
	if c.Producer.Layers == 0 && modelspec.Convolves(c.Model.Model) {
		c.Producer.Layers = c.ConvLayers()
	}
}

// Convolves reports whether model (a model.name) convolves over the
// producer's K-hop computation graph, so producer.layers must equal its
// model.layers (modelspec.Spec.Convolves).
func Convolves(model string) bool { return modelspec.Convolves(model) }

// ConvLayers is the number of layers the model has: model.layers, or the
// model's default (modelspec.Spec.DefaultLayers; 2 for pinsage and
// graphsage) when it is 0.
func (c *Config) ConvLayers() int {
	s, ok := modelspec.Lookup(c.Model.Model)
	if !ok {
		return c.Model.Layers
	}
	return s.Layers(c.Model.Layers)
}

// Sentinel errors, matched with errors.Is on what Load and Validate return.
var (
	// ErrUnknownKey: a key that is not in Config.
	ErrUnknownKey = errors.New("unknown key")
	// ErrType: a value of the wrong type.
	ErrType = errors.New("wrong type")
	// ErrInvalid: a value out of range or not one of the allowed names.
	ErrInvalid = errors.New("invalid value")
)

// KeyError is a problem with one key. Its message is
// "config: <key>: <what>", e.g. `config: model.lr: must be > 0, got -1`.
type KeyError struct {
	// Key is the full dotted key path.
	Key string
	// Msg says what is wrong.
	Msg string
	// Kind is ErrUnknownKey, ErrType or ErrInvalid.
	Kind error
}

// Error formats the key and message.
func (e *KeyError) Error() string { return "config: " + e.Key + ": " + e.Msg }

// Unwrap returns the sentinel.
func (e *KeyError) Unwrap() error { return e.Kind }

func invalid(key, format string, args ...any) error {
	return &KeyError{Key: key, Msg: fmt.Sprintf(format, args...), Kind: ErrInvalid}
}

// wrapped marks a curriculum error as ErrInvalid while keeping its message
// (which already names the curriculum.* key).
type wrapped struct{ err error }

func (w *wrapped) Error() string { return w.err.Error() }
func (w *wrapped) Unwrap() []error {
	return []error{w.err, ErrInvalid}
}

// Base returns the unscheduled values the curriculum starts from: no hard
// negatives, the rank window [producer.hard.rank_lo, producer.hard.rank_hi),
// producer.negatives.pool_size and model.margin. They are the same
// values the producer falls back to when an epoch's params leave them zero.
func (c *Config) Base() curriculum.Params {
	return curriculum.Params{
		RankLo: c.Producer.Hard.RankLo, RankHi: c.Producer.Hard.RankHi,
		PoolSize: c.Producer.Negatives.PoolSize, Margin: c.Model.Margin,
	}
}

// Schedule returns the curriculum schedule of c over c.Base().
func (c *Config) Schedule() (*curriculum.Schedule, error) {
	s, err := curriculum.New(c.Curriculum, c.Base())
	if err != nil {
		return nil, fmt.Errorf("config: %w", &wrapped{err})
	}
	return s, nil
}
