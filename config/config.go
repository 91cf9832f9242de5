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
// TRAINERD_CURRICULUM_LR_KIND for curriculum.lr.kind. Values are parsed as the
// key's type. Environment variables that name no key are ignored (TRAINERD_DATA
// is used by the tests for the data directory, which is why the data section
// is called dataset).
//
// A struct field tagged `mapstructure:",squash"` (Producer's embedded
// producer.Config) has its keys inlined into the enclosing section, both when
// decoding (mapstructure) and in this package's key listing, strict checking,
// printing and hashing.
package config

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/trainerd/trainerd/consumer"
	"github.com/trainerd/trainerd/curriculum"
	"github.com/trainerd/trainerd/producer"
)

// Config is the full training configuration. Each section's doc names its
// YAML key; configs/reference.yaml documents every key with its default.
type Config struct {
	// Dataset is `dataset:`, where the training data lives.
	Dataset Dataset `mapstructure:"dataset"`
	// Model is `model:`, the model, loss and optimiser (consumer.Config).
	Model consumer.Config `mapstructure:"model"`
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
// The producer section is producer.Config's EnsureDefaults, with two
// exceptions: producer.layers is 2, matching the default model (pinsage, whose
// model.layers 0 means 2), and producer.walk.stop_nodes stays 0, which the
// producer resolves to producer.neighbors.t, so changing t alone moves it too.
func Default() Config {
	var pc producer.Config
	pc.EnsureDefaults()
	pc.Layers = defaultConvLayers
	pc.Walk.StopNodes = 0
	return Config{
		Dataset: Dataset{Store: "store"},
		Model: consumer.Config{
			Model: "pinsage", Dim: 64, Normalize: true,
			Loss: "margin", Margin: 0.1, NegWeight: 1, Temperature: 0.1,
			Optimizer: "adam", LR: 0.001, Seed: 1,
			LRSchedule: "constant", DecayRate: 0.1, InitStd: 0.1,
		},
		Producer:   Producer{Queue: 8, Config: pc},
		Train:      Train{Epochs: 10, EvalEvery: 1, EvalK: 20, Seed: 1, Device: "auto"},
		Checkpoint: Checkpoint{EveryMinutes: 10, KeepLast: 3},
		Curriculum: curriculum.Config{Unit: curriculum.UnitEpoch},
		HTTP:       HTTP{Addr: "127.0.0.1:0"},
	}
}

// defaultConvLayers is what model.layers 0 means for pinsage and graphsage
// (consumer.Config.Layers: "2 otherwise").
const defaultConvLayers = 2

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

var deviceRE = regexp.MustCompile(`^(auto|cpu|cuda|cuda:[0-9]+)$`)

// Validate checks ranges, enums and cross-field rules; the error names the key.
// Zero values documented as "auto" (model.layers, model.hidden,
// model.aggregator, model.inputs, model.threads, producer.workers,
// producer.seed, producer.walk.stop_nodes, producer.hard.steps) are valid.
// The producer.* keys other than workers and queue are checked by
// producer.Config.Validate, on the values as given (a zero that producer
// would replace by its default is refused where the default is not zero, as
// Default() never holds such a zero); every bad producer key is reported, each
// as a *KeyError of kind ErrInvalid, joined with errors.Join when several.
func (c *Config) Validate() error {
	m := c.Model
	enums := []struct {
		key, v  string
		allowed []string
	}{
		{"model.name", m.Model, []string{"mf", "deepwalk", "lightgcn", "ngcf", "graphsage", "pinsage"}},
		{"model.aggregator", m.Aggregator, []string{"", "importance", "mean", "max", "pool", "gcn", "gat"}},
		{"model.inputs", m.Inputs, []string{"", "id", "features", "both"}},
		{"model.loss", m.Loss, []string{"bpr", "margin", "softmax", "ccl"}},
		{"model.optimizer", m.Optimizer, []string{"adam", "sgd", "adagrad"}},
		{"model.lr_schedule", m.LRSchedule, []string{"", "constant", "step", "cosine"}},
	}
	for _, e := range enums {
		found := false
		for _, a := range e.allowed {
			found = found || e.v == a
		}
		if !found {
			return invalid(e.key, "want one of %q, got %q", e.allowed, e.v)
		}
	}
	type bound struct {
		key    string
		v      float64
		min    float64
		strict bool // v > min rather than v ≥ min
	}
	bounds := []bound{
		{"model.dim", float64(m.Dim), 0, true},
		{"model.layers", float64(m.Layers), 0, false},
		{"model.hidden", float64(m.Hidden), 0, false},
		{"model.margin", m.Margin, 0, false},
		{"model.neg_weight", m.NegWeight, 0, true},
		{"model.temperature", m.Temperature, 0, true},
		{"model.history_weight", m.HistoryWeight, 0, false},
		{"model.history_max", float64(m.HistoryMax), 0, false},
		{"model.history_degree_power", m.HistoryDegreePower, 0, false},
		{"model.dropout", m.Dropout, 0, false},
		{"model.l2", m.L2, 0, false},
		{"model.lr", m.LR, 0, true},
		{"model.threads", float64(m.Threads), 0, false},
		{"model.warmup_steps", float64(m.WarmupSteps), 0, false},
		{"model.decay_steps", float64(m.DecaySteps), 0, false},
		{"model.decay_rate", m.DecayRate, 0, false},
		{"model.min_lr", m.MinLR, 0, false},
		{"model.init_std", m.InitStd, 0, true},
		{"producer.workers", float64(c.Producer.Workers), 0, false},
		{"producer.queue", float64(c.Producer.Queue), 0, true},
		{"train.epochs", float64(c.Train.Epochs), 0, true},
		{"train.eval_every", float64(c.Train.EvalEvery), 0, false},
		{"train.eval_k", float64(c.Train.EvalK), 0, true},
		{"checkpoint.every_steps", float64(c.Checkpoint.EverySteps), 0, false},
		{"checkpoint.every_minutes", c.Checkpoint.EveryMinutes, 0, false},
		{"checkpoint.keep_last", float64(c.Checkpoint.KeepLast), 0, true},
	}
	for _, b := range bounds {
		if b.strict && !(b.v > b.min) {
			return invalid(b.key, "must be > %g, got %g", b.min, b.v)
		}
		if !b.strict && !(b.v >= b.min) {
			return invalid(b.key, "must be ≥ %g, got %g", b.min, b.v)
		}
	}
	if m.HistoryWeight > 1 {
		return invalid("model.history_weight", "must be ≤ 1, got %g", m.HistoryWeight)
	}
	if m.Dropout >= 1 {
		return invalid("model.dropout", "must be < 1, got %g", m.Dropout)
	}
	if m.HistoryWeight == 0 {
		if m.HistoryEmbedOnly {
			return invalid("model.history_embed_only", "needs model.history_weight > 0")
		}
		if m.HistoryDegreePower != 0 {
			return invalid("model.history_degree_power", "needs model.history_weight > 0")
		}
	}
	if m.HistoryEmbedOnly && m.HistoryLinear {
		return invalid("model.history_linear", "is learned in training, which model.history_embed_only leaves the aggregation out of")
	}
	if m.HistoryEmbedOnly && m.HistoryMax != 0 {
		return invalid("model.history_max", "samples training histories, which model.history_embed_only leaves out")
	}
	for _, k := range []struct {
		key string
		set bool
	}{{"model.history_weight", m.HistoryWeight > 0}, {"model.dropout", m.Dropout > 0}} {
		if k.set && m.Model != "mf" {
			return invalid(k.key, "is MF's user tower: needs model.name mf, got %q", m.Model)
		}
		if k.set && c.Producer.Examples.Kind != "user_item" {
			return invalid(k.key, "needs user queries: producer.examples.kind user_item, got %q", c.Producer.Examples.Kind)
		}
	}
	if err := producerErrors(c.Producer.Config.Validate()); err != nil {
		return err
	}
	if m.Model == "pinsage" || m.Model == "graphsage" {
		want, what := m.Layers, "model.layers"
		if want == 0 {
			want, what = defaultConvLayers, "model.layers (0 = 2)"
		}
		if c.Producer.Layers != want {
			return invalid("producer.layers", "must equal %s for %s, got %d", what, m.Model, c.Producer.Layers)
		}
	}
	if !deviceRE.MatchString(c.Train.Device) {
		return invalid("train.device", "want auto, cpu, cuda or cuda:N, got %q", c.Train.Device)
	}
	if a := c.HTTP.Addr; a != "" {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return invalid("http.addr", "want host:port or \"\", got %q (%v)", a, err)
		}
	}
	if err := c.Curriculum.Validate(); err != nil {
		return fmt.Errorf("config: %w", &wrapped{err})
	}
	return nil
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
// producer.negatives.pool_size, model.lr and model.margin. They are the same
// values the producer falls back to when an epoch's params leave them zero.
func (c *Config) Base() curriculum.Params {
	return curriculum.Params{
		RankLo: c.Producer.Hard.RankLo, RankHi: c.Producer.Hard.RankHi,
		PoolSize: c.Producer.Negatives.PoolSize, LR: c.Model.LR, Margin: c.Model.Margin,
	}
}

// producerErrors turns producer.Config.Validate's error, a join of messages
// "producer.<key>: <what>", into *KeyErrors of kind ErrInvalid: one, or
// several joined. A message that names no producer key (not expected) keeps
// its text under the key "producer".
func producerErrors(err error) error {
	if err == nil {
		return nil
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]error, 0, len(errs))
	for _, e := range errs {
		key, msg, ok := strings.Cut(e.Error(), ": ")
		if !ok || !strings.HasPrefix(key, "producer.") || strings.ContainsAny(key, " \t") {
			key, msg = "producer", e.Error()
		}
		out = append(out, &KeyError{Key: key, Msg: msg, Kind: ErrInvalid})
	}
	if len(out) == 1 {
		return out[0]
	}
	return errors.Join(out...)
}

// Schedule returns the curriculum schedule of c over c.Base().
func (c *Config) Schedule() (*curriculum.Schedule, error) {
	s, err := curriculum.New(c.Curriculum, c.Base())
	if err != nil {
		return nil, fmt.Errorf("config: %w", &wrapped{err})
	}
	return s, nil
}
