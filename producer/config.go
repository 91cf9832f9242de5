package producer

import (
	"errors"
	"fmt"
	"math"
	"reflect"

	"github.com/trainerd/trainerd/modelspec"
)

// ExampleKind says what a training example pairs; its String is the
// producer.examples.kind value.
type ExampleKind = modelspec.ExampleKind

// The example kinds.
const (
	// UserItem examples pair a user (query) with an item it engaged (positive).
	UserItem = modelspec.UserItem
	// ItemItem examples pair two related items (PinSage's related pins).
	ItemItem = modelspec.ItemItem
	// WalkPair examples are DeepWalk skip-gram pairs: Query is the center
	// and Pos a context node within the window of one random walk. Both are
	// global ids of either side, and so is the shared pool Neg (drawn from
	// all nodes ∝ degree^power). Hard negatives are not produced for
	// WalkPair batches (HardPer is 0).
	WalkPair = modelspec.Walks
)

// Config configures a Sampler. viper decodes it under `producer:`; each
// zero field means the documented default, filled by EnsureDefaults.
type Config struct {
	// Seed drives every random choice; a batch is a pure function of
	// (Seed, epoch, index, EpochParams) and the graph.
	Seed uint64 `mapstructure:"seed"`
	// BatchSize is the number of examples per batch. Default 512. The last
	// batch of an epoch holds the remainder.
	BatchSize int `mapstructure:"batch_size"`
	// Layers is K, the number of convolution layers of the computation
	// graph; 0 (MF, LightGCN, DeepWalk) builds none.
	Layers int `mapstructure:"layers"`

	Examples  ExampleConfig  `mapstructure:"examples"`
	Walk      WalkConfig     `mapstructure:"walk"`
	Neighbors NeighborConfig `mapstructure:"neighbors"`
	Negatives NegativeConfig `mapstructure:"negatives"`
	Hard      HardConfig     `mapstructure:"hard"`
}

// ExampleConfig chooses the training examples.
type ExampleConfig struct {
	// Kind is user_item (train edges: query user, positive item; the
	// default), item_item (related item pairs) or walks (DeepWalk pairs).
	Kind string `mapstructure:"kind"`
	// ItemItem is how item_item pairs are made: cooccur (two items of one
	// user; the default) or walk (the first other item a Pixie walk from
	// the anchor item lands on).
	ItemItem string `mapstructure:"item_item"`
	// WalkLength is the number of nodes of a DeepWalk walk. Default 10.
	WalkLength int `mapstructure:"walk_length"`
	// Window is the skip-gram window (context at distance 1..Window).
	// Default 3.
	Window int `mapstructure:"window"`
	// WalksPerNode is the number of DeepWalk walks per node per epoch.
	// Default 1.
	WalksPerNode int `mapstructure:"walks_per_node"`
}

// WalkConfig parameterises Pixie random walks (PinSage Algorithm 2).
type WalkConfig struct {
	// Alpha is the restart probability after each step (walk length is
	// geometric with mean 1/Alpha). Default 0.5; must be in (0,1).
	Alpha float64 `mapstructure:"alpha"`
	// Steps is N, the step budget per query node (a step is two hops,
	// e.g. item→user→item): walks are always complete, and the walks run
	// side by side stop starting once those in flight are expected to
	// cover the rest, so a query takes N steps on average. Default 200.
	Steps int `mapstructure:"steps"`
	// MinVisits is n_v: a node with this many visits counts as
	// high-visited. Default 4.
	MinVisits int `mapstructure:"min_visits"`
	// StopNodes is n_p: walking stops once more than n_p nodes (not
	// counting the query) are high-visited. Default: Neighbors.T; -1
	// disables early stopping.
	StopNodes int `mapstructure:"stop_nodes"`
	// Count says whose visits are counted: same (nodes of the query's
	// side, the classic Pixie: items for items) or opposite (the middle
	// hop: items for a user query). Default same.
	Count string `mapstructure:"count"`
}

// NeighborConfig chooses how neighborhoods are sampled.
type NeighborConfig struct {
	// Mode is pixie (top-T by Pixie visit count, importance weights; the
	// default), uniform (GraphSAGE: T direct neighbors uniformly, without
	// replacement when the degree allows, else with replacement or padded)
	// or full (all direct neighbors when degree ≤ T, else a uniform T).
	Mode string `mapstructure:"mode"`
	// T is the number of neighbor slots per node. Default 10.
	T int `mapstructure:"t"`
	// Pad, in uniform mode, pads low-degree nodes with empty slots
	// instead of sampling with replacement.
	Pad bool `mapstructure:"pad"`
	// Cache keeps each node's neighborhood for the whole epoch (then its
	// randomness derives from (seed, epoch, node), not the batch).
	Cache bool `mapstructure:"cache"`
	// DropItems is the probability, in [0,1), that a training batch
	// empties an item's neighborhood (every slot empty, at every hop where
	// the item is a target), as an item without edges has at inference:
	// the network learns to embed cold items from their features. The
	// draw is per (seed, epoch, batch, item). Default 0.
	DropItems float64 `mapstructure:"drop_items"`
}

// NegativeConfig configures the shared negative pool.
type NegativeConfig struct {
	// PoolSize is the default pool size when EpochParams gives none.
	// Default 500.
	PoolSize int `mapstructure:"pool_size"`
	// Dist is uniform or degree (∝ degree^Power via an alias table).
	// Default degree.
	Dist string `mapstructure:"dist"`
	// Power is the degree exponent of the degree distribution. Default
	// 0.75.
	Power float64 `mapstructure:"power"`
}

// HardConfig configures personalized-PageRank hard negatives.
type HardConfig struct {
	// Steps is the number of Monte-Carlo PPR walk steps per query.
	// Default 4×RankHi of the epoch.
	Steps int `mapstructure:"steps"`
	// RankLo and RankHi are the default rank window [RankLo, RankHi)
	// when EpochParams gives none. Default 2000 and 5000.
	RankLo int `mapstructure:"rank_lo"`
	RankHi int `mapstructure:"rank_hi"`
	// Candidates is how many window items are kept per query and epoch:
	// the PPR walk of a query then runs once per epoch (not once per
	// example) and its examples draw their hard negatives from these
	// candidates, a uniform sample of the rank window. Default 64; -1
	// walks for every example and samples the whole window.
	Candidates int `mapstructure:"candidates"`
}

// EpochParams are the per-epoch knobs the curriculum sets. Zero PoolSize,
// RankLo/RankHi fall back to the Config defaults.
type EpochParams struct {
	// HardPer is the number of hard negatives per example (0: none).
	HardPer int
	// PoolSize is the size of the shared negative pool.
	PoolSize int
	// RankLo and RankHi are the PPR rank window of hard negatives, clamped
	// to the catalogue.
	RankLo, RankHi int
}

// Default returns the documented defaults, the one source of every
// producer default (config.Default holds them, with producer.layers derived
// from the model and producer.walk.stop_nodes left 0 to follow
// neighbors.t): batches of 512 user_item examples (item_item pairs by
// co-occurrence; DeepWalk walks of 10 nodes, window 3, one walk per node),
// Pixie walks with restart 0.5, 200 steps, 4 visits and early stopping at
// neighbors.t high-visited nodes counted on the query's side, pixie
// neighbourhoods of 10 slots, a pool of 500 uniform negatives (power 0.75
// when dist is degree), hard
// negatives from PPR ranks [2000, 5000) with 64 candidates per query.
func Default() Config {
	c := Config{
		BatchSize: 512,
		Examples: ExampleConfig{Kind: UserItem.String(), ItemItem: "cooccur",
			WalkLength: 10, Window: 3, WalksPerNode: 1},
		Walk:      WalkConfig{Alpha: 0.5, Steps: 200, MinVisits: 4, Count: "same"},
		Neighbors: NeighborConfig{Mode: "pixie", T: 10},
		Negatives: NegativeConfig{PoolSize: 500, Dist: "uniform", Power: 0.75},
		Hard:      HardConfig{RankLo: 2000, RankHi: 5000, Candidates: 64},
	}
	c.Walk.StopNodes = c.Neighbors.T
	return c
}

// EnsureDefaults fills zero fields with their Default values
// (walk.stop_nodes with neighbors.t).
func (c *Config) EnsureDefaults() {
	stopAuto := c.Walk.StopNodes == 0
	fillZero(reflect.ValueOf(c).Elem(), reflect.ValueOf(Default()))
	if stopAuto {
		c.Walk.StopNodes = c.Neighbors.T
	}
}

// fillZero sets every zero leaf of dst (a settable struct value) to the
// same leaf of def, a value of the same type.
func fillZero(dst, def reflect.Value) {
	for i := range dst.NumField() {
		f := dst.Field(i)
		switch {
		case f.Kind() == reflect.Struct:
			fillZero(f, def.Field(i))
		case f.IsZero():
			f.Set(def.Field(i))
		}
	}
}

// Validate reports every bad key, naming it as viper sees it
// (producer.walk.alpha: must be in (0,1), got 1.5). Call EnsureDefaults
// first.
func (c *Config) Validate() error {
	var errs []error
	add := func(key, msg string, got any) {
		errs = append(errs, fmt.Errorf("producer.%s: %s, got %v", key, msg, got))
	}
	if c.BatchSize < 1 {
		add("batch_size", "must be ≥ 1", c.BatchSize)
	}
	if c.Layers < 0 || c.Layers > 8 {
		add("layers", "must be in [0,8]", c.Layers)
	}
	if _, err := modelspec.ParseExampleKind(c.Examples.Kind); err != nil {
		add("examples.kind", "must be "+exampleKindList(), fmt.Sprintf("%q", c.Examples.Kind))
	}
	switch c.Examples.ItemItem {
	case "cooccur", "walk":
	default:
		add("examples.item_item", "must be cooccur or walk", fmt.Sprintf("%q", c.Examples.ItemItem))
	}
	if c.Examples.WalkLength < 2 {
		add("examples.walk_length", "must be ≥ 2", c.Examples.WalkLength)
	}
	if c.Examples.Window < 1 {
		add("examples.window", "must be ≥ 1", c.Examples.Window)
	}
	if c.Examples.WalksPerNode < 1 {
		add("examples.walks_per_node", "must be ≥ 1", c.Examples.WalksPerNode)
	}
	if !(c.Walk.Alpha > 0 && c.Walk.Alpha < 1) {
		add("walk.alpha", "must be in (0,1)", c.Walk.Alpha)
	}
	if c.Walk.Steps < 1 {
		add("walk.steps", "must be ≥ 1", c.Walk.Steps)
	}
	if c.Walk.MinVisits < 1 {
		add("walk.min_visits", "must be ≥ 1", c.Walk.MinVisits)
	}
	if c.Walk.StopNodes < -1 {
		add("walk.stop_nodes", "must be ≥ 1, or -1 to disable", c.Walk.StopNodes)
	}
	switch c.Walk.Count {
	case "same", "opposite":
	default:
		add("walk.count", "must be same or opposite", fmt.Sprintf("%q", c.Walk.Count))
	}
	switch c.Neighbors.Mode {
	case "pixie", "uniform", "full":
	default:
		add("neighbors.mode", "must be pixie, uniform or full", fmt.Sprintf("%q", c.Neighbors.Mode))
	}
	if c.Neighbors.T < 1 || c.Neighbors.T > 1024 {
		add("neighbors.t", "must be in [1,1024]", c.Neighbors.T)
	}
	if !(c.Neighbors.DropItems >= 0 && c.Neighbors.DropItems < 1) {
		add("neighbors.drop_items", "must be in [0,1)", c.Neighbors.DropItems)
	}
	if c.Negatives.PoolSize < 0 {
		add("negatives.pool_size", "must be ≥ 0", c.Negatives.PoolSize)
	}
	switch c.Negatives.Dist {
	case "uniform", "degree":
	default:
		add("negatives.dist", "must be uniform or degree", fmt.Sprintf("%q", c.Negatives.Dist))
	}
	if c.Negatives.Power <= 0 || math.IsNaN(c.Negatives.Power) || c.Negatives.Power > 4 {
		add("negatives.power", "must be in (0,4]", c.Negatives.Power)
	}
	if c.Hard.Candidates < -1 {
		add("hard.candidates", "must be ≥ -1", c.Hard.Candidates)
	}
	if c.Hard.Steps < 0 {
		add("hard.steps", "must be ≥ 0", c.Hard.Steps)
	}
	if c.Hard.RankLo < 0 {
		add("hard.rank_lo", "must be ≥ 0", c.Hard.RankLo)
	}
	if c.Hard.RankHi <= c.Hard.RankLo {
		add("hard.rank_hi", fmt.Sprintf("must be > hard.rank_lo (%d)", c.Hard.RankLo), c.Hard.RankHi)
	}
	return errors.Join(errs...)
}

// exampleKindList names the producer.examples.kind values, "a, b or c".
func exampleKindList() string {
	ks := modelspec.ExampleKinds()
	out := ""
	for i, k := range ks {
		switch {
		case i == 0:
		case i == len(ks)-1:
			out += " or "
		default:
			out += ", "
		}
		out += k.String()
	}
	return out
}

// validate checks EpochParams against the config, naming fields.
func (p EpochParams) validate() error {
	var errs []error
	if p.HardPer < 0 {
		errs = append(errs, fmt.Errorf("producer: EpochParams.HardPer must be ≥ 0, got %d", p.HardPer))
	}
	if p.PoolSize < 0 {
		errs = append(errs, fmt.Errorf("producer: EpochParams.PoolSize must be ≥ 0, got %d", p.PoolSize))
	}
	if p.RankLo < 0 || p.RankHi < 0 || (p.RankHi != 0 && p.RankHi <= p.RankLo) {
		errs = append(errs, fmt.Errorf("producer: EpochParams rank window [%d,%d) is empty or negative", p.RankLo, p.RankHi))
	}
	return errors.Join(errs...)
}

// resolve fills zero EpochParams fields from the config.
func (p EpochParams) resolve(c *Config) EpochParams {
	if p.PoolSize == 0 {
		p.PoolSize = c.Negatives.PoolSize
	}
	if p.RankHi == 0 {
		p.RankLo, p.RankHi = c.Hard.RankLo, c.Hard.RankHi
	}
	return p
}
