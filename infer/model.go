package infer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/trainerd/trainerd/checkpoints"
	"github.com/trainerd/trainerd/config"
	"github.com/trainerd/trainerd/consumer"
	"github.com/trainerd/trainerd/consumer/sage"
	"github.com/trainerd/trainerd/dataset"
	"github.com/trainerd/trainerd/featurestore"
	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/model"
	"github.com/trainerd/trainerd/producer"
	"github.com/trainerd/trainerd/trainer"
)

// NodeEmbedder is implemented by models that embed a chosen set of nodes
// on their own (PinSage and GraphSAGE on CPU): EmbedNodes returns the
// len(nodes)×dim rows and dim; its rows equal Embed's bit for bit for a run
// of consecutive ids starting at a multiple of EmbedChunk.
type NodeEmbedder interface {
	EmbedNodes(ctx context.Context, nodes []uint32) ([]float32, int, error)
	EmbedChunk() int
}

// Options say which run to load.
type Options struct {
	// Config is the run's training config, validated (config.Load); its
	// hash must equal the checkpoint's.
	Config *config.Config
	// RunDir is the training run directory (its checkpoints/).
	RunDir string
	// StoreDir is the feature store; its fingerprint must equal the
	// checkpoint's.
	StoreDir string
	// Checkpoint is CheckpointBest ("" too) or CheckpointLatest; see
	// SelectCheckpoint.
	Checkpoint string
	// Force uses a config or store that does not match the checkpoint,
	// with a warning.
	Force bool
	// ColdNeighbors says how nodes without train edges (new nodes of a
	// grown store, held-out cold items) are embedded: ColdNeighborsNone
	// ("" too) from their features and an empty neighbourhood,
	// ColdNeighborsSimilar with the neighbourhood of the most similar node
	// by features that has edges. Only models that sample neighbourhoods
	// (PinSage, GraphSAGE) use it.
	ColdNeighbors string
	// NewModel builds the model; nil means consumer.New (CPU).
	NewModel func(model.Config, model.Info) (model.Model, error)
	// Logger receives structured logs; nil means slog.Default().
	Logger *slog.Logger
}

// Values of Options.Checkpoint.
const (
	// CheckpointBest is the checkpoint train.select picked on the
	// validation split (RUN/best), or the latest for a run without one.
	CheckpointBest = "best"
	// CheckpointLatest is the newest valid checkpoint.
	CheckpointLatest = "latest"
)

// SelectCheckpoint returns the checkpoint of runDir that inference uses;
// it is the one place that chooses. which is CheckpointBest (the default
// when ""): RUN/best/checkpoint.trd when the run has kept a best; a run
// without a validation split has none and gets its latest (logged); a run
// with one that has not kept a best yet is refused. CheckpointLatest: the
// newest valid checkpoint in RUN/checkpoints (unusable files are skipped
// with a warning). This mirrors what eval, export and serve load.
func SelectCheckpoint(runDir, which string, log *slog.Logger) (*checkpoints.Checkpoint, error) {
	if log == nil {
		log = slog.Default()
	}
	switch which {
	case CheckpointLatest:
		return latestCheckpoint(runDir)
	case CheckpointBest, "":
	default:
		return nil, fmt.Errorf("infer: checkpoint %q: want %s or %s", which, CheckpointBest, CheckpointLatest)
	}
	bestFile := filepath.Join(runDir, trainer.BestDir, trainer.BestFile)
	b, err := trainer.ReadBest(runDir)
	if err == nil {
		ck, err := checkpoints.Read(filepath.Join(runDir, trainer.BestDir, trainer.BestCheckpoint))
		if err != nil {
			return nil, fmt.Errorf("infer: run %s's best checkpoint (epoch %d, %s): %w", runDir, b.Epoch, bestFile, err)
		}
		return ck, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("infer: %w", err)
	}
	validation := false
	if r, err := trainer.ReadResult(runDir); err == nil && r.Split == trainer.SplitValidation {
		validation = true
	}
	if recs, err := trainer.ReadCurve(runDir); err == nil && len(recs) > 0 && recs[len(recs)-1].Split == trainer.SplitValidation {
		validation = true
	}
	if validation {
		return nil, fmt.Errorf("infer: run %s evaluates on a validation split but has no best checkpoint (%s missing): "+
			"resume training to write it, or use the latest checkpoint: %w", runDir, bestFile, fs.ErrNotExist)
	}
	log.Info("infer: run has no validation split, so no best checkpoint: using the latest", "run_dir", runDir)
	return latestCheckpoint(runDir)
}

// latestCheckpoint is the newest valid checkpoint of runDir.
func latestCheckpoint(runDir string) (*checkpoints.Checkpoint, error) {
	dir := checkpoints.Dir(runDir)
	ck, _, err := checkpoints.Latest(dir)
	if err != nil {
		if errors.Is(err, checkpoints.ErrNoCheckpoint) {
			return nil, fmt.Errorf("infer: run %s has no usable checkpoint in %s (train it first with `trainerd train --run-dir %s`): %w",
				runDir, dir, runDir, err)
		}
		return nil, fmt.Errorf("infer: %w", err)
	}
	return ck, nil
}

// Model is a run loaded for inference: the store, the rebuilt model with
// the checkpoint's parameters and the producer's neighbourhoods. Close
// releases the store. Embed is not safe for concurrent use.
type Model struct {
	cfg      *config.Config
	ck       *checkpoints.Checkpoint
	store    *featurestore.Store
	storeDir string
	train    *graph.Bipartite
	model    model.Model
	nodes    NodeEmbedder // nil: full Embed, cached in full
	full     *model.Embeddings
	epoch    int
	numUsers int
	numItems int
	hash     string
	params   string // checkpoints.ParamsSHA256 of ck, computed once
	log      *slog.Logger
	// grownFrom is the run's store as recorded in the store's lineage when
	// the store grew from it by Append; nil when it is the run's store.
	grownFrom *featurestore.Ancestor
}

// GrownFrom returns the run's training store (fingerprint and node
// counts) when the store given grew from it by Append: nodes with dense
// ids below those counts are the trained ones, the rest new. ok is false
// when the store is the run's own.
func (m *Model) GrownFrom() (a featurestore.Ancestor, ok bool) {
	if m.grownFrom == nil {
		return featurestore.Ancestor{}, false
	}
	return *m.grownFrom, true
}

// Open loads the run: it selects the checkpoint, checks the config hash and
// the store fingerprint against it, rebuilds the model as the trainer does
// and loads the checkpoint's state.
func Open(o Options) (*Model, error) {
	if o.Config == nil {
		return nil, errors.New("infer: no config: pass the run's training config")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.NewModel == nil {
		o.NewModel = consumer.New
	}
	ck, err := SelectCheckpoint(o.RunDir, o.Checkpoint, o.Logger)
	if err != nil {
		return nil, err
	}
	st, err := featurestore.Open(o.StoreDir, featurestore.Options{ReadOnly: true, Logger: o.Logger})
	if err != nil {
		return nil, fmt.Errorf("infer: store %s: %w", o.StoreDir, err)
	}
	m := &Model{cfg: o.Config, ck: ck, store: st, storeDir: o.StoreDir, log: o.Logger}
	if err := m.wire(o); err != nil {
		st.Close()
		return nil, err
	}
	return m, nil
}

// Close releases the store.
func (m *Model) Close() error { return m.store.Close() }

// neighborEpoch is the epoch whose neighbourhoods the trainer's embeddings
// of this checkpoint use: the last epoch it has trained in (a checkpoint at
// the start of epoch e+1 holds epoch e trained).
func neighborEpoch(pos checkpoints.Position) int {
	if pos.BatchCursor == 0 && pos.Epoch > 1 {
		return pos.Epoch - 1
	}
	return max(pos.Epoch, 1)
}

// trainingGraph is the graph a run trains on: the store's train split, less
// the validation edges trainer.Holdout holds out when
// train.validation.fraction > 0.
func trainingGraph(cfg *config.Config, st *featurestore.Store, full *graph.Bipartite, storeDir string) (*graph.Bipartite, error) {
	f := cfg.Train.Validation.Fraction
	if f <= 0 {
		return full, nil
	}
	ints, err := st.Interactions("test")
	if err != nil {
		return nil, fmt.Errorf("infer: store %s: test split: %w", storeDir, err)
	}
	es := make([]graph.Edge, len(ints))
	for i, e := range ints {
		es[i] = graph.Edge{User: e.User, Item: e.Item}
	}
	test, err := graph.Build(full.NumUsers, full.NumItems, es)
	if err != nil {
		return nil, fmt.Errorf("infer: store %s: test graph: %w", storeDir, err)
	}
	rest, _, err := trainer.Holdout(full, test, f, cfg.ValidationSeed())
	if err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	return rest, nil
}

// wire builds the sampler and the model as trainer does: the same graph
// (validation edges held out), sampler and model configs, features.
func (m *Model) wire(o Options) error {
	cfg, st, ck := o.Config, m.store, m.ck
	// A store grown by Append from the run's store (featurestore.Append)
	// is accepted as the run's store: its old nodes keep their ids and
	// rows, and its new nodes are embedded from their features and edges.
	fp := st.Fingerprint()
	if a, ok := st.DescendsFrom(ck.Fingerprint); ok && fp != ck.Fingerprint {
		fp = ck.Fingerprint
		m.grownFrom = &a
	}
	stats := st.Stats()
	m.numUsers, m.numItems = stats.Users, stats.Items
	full, err := st.LoadGraph()
	if err != nil {
		return fmt.Errorf("infer: store %s: load graph: %w", o.StoreDir, err)
	}
	m.train = full
	g, err := trainingGraph(cfg, st, full, o.StoreDir)
	if err != nil {
		return err
	}
	pcfg := cfg.SamplerConfig()
	// Inference samples neighbourhoods only: no hard negatives, so no
	// per-node candidate cache (4 + 4·candidates bytes per node).
	pcfg.Hard.Candidates = -1
	var fs producer.FeatureSource
	info := model.Info{NumUsers: stats.Users, NumItems: stats.Items, Graph: g,
		UserFeatDim: stats.UserFeatureDim, ItemFeatDim: stats.ItemFeatureDim}
	if cfg.ReadsFeatures() && stats.UserFeatureDim+stats.ItemFeatureDim > 0 {
		fs = st
		if info.UserFeatures, err = st.FeatureMatrix(dataset.User); err != nil {
			return fmt.Errorf("infer: store %s: %w", o.StoreDir, err)
		}
		if info.ItemFeatures, err = st.FeatureMatrix(dataset.Item); err != nil {
			return fmt.Errorf("infer: store %s: %w", o.StoreDir, err)
		}
	} else {
		info.UserFeatDim, info.ItemFeatDim = 0, 0
	}
	sampler, err := producer.New(g, fs, pcfg)
	if err != nil {
		return fmt.Errorf("infer: producer: %w", err)
	}
	// The checkpoint carries the trainer's hash, with run-relative schedule
	// lengths resolved on this training graph.
	m.hash = cfg.RunHash(sampler.BatchesPerEpoch())
	if err := ck.Check(m.hash, fp, o.Force); err != nil {
		return fmt.Errorf("infer: store %s with the given config: %w", o.StoreDir, err)
	}
	mcfg := cfg.ModelConfig()
	if m.model, err = o.NewModel(mcfg, info); err != nil {
		return fmt.Errorf("infer: model: %w", err)
	}
	m.epoch = neighborEpoch(ck.Position)
	var proxies map[uint32]uint32
	switch o.ColdNeighbors {
	case "", ColdNeighborsNone:
	case ColdNeighborsSimilar:
		if info.UserFeatDim+info.ItemFeatDim == 0 {
			return fmt.Errorf("infer: cold neighbours %q need store features, and %s has none the model reads", o.ColdNeighbors, o.StoreDir)
		}
		proxies = globalProxies(g, info.UserFeatures, info.UserFeatDim, info.ItemFeatures, info.ItemFeatDim)
		m.log.Info("infer: nodes without train edges take the neighbourhood of their most similar node", "nodes", len(proxies))
	default:
		return fmt.Errorf("infer: cold neighbours %q: want %s or %s", o.ColdNeighbors, ColdNeighborsNone, ColdNeighborsSimilar)
	}
	if ns, ok := m.model.(model.NeighborSetter); ok {
		epoch := m.epoch
		ns.SetNeighbors(func(node uint32, nbr []uint32, w []float32) int {
			if p, ok := proxies[node]; ok {
				node = p
			}
			return sampler.Neighborhood(epoch, node, nbr, w)
		}, sampler.Config().Neighbors.T)
	}
	state := make([]model.Tensor, len(ck.Tensors))
	for i, t := range ck.Tensors {
		state[i] = model.Tensor(t)
	}
	_, perNode := m.model.(NodeEmbedder)
	if a := m.grownFrom; a != nil && perNode && info.UserFeatDim+info.ItemFeatDim > 0 {
		// PinSage/GraphSAGE reading features: a new node's id row (inputs
		// both) is zero, so it is embedded from features and neighbourhood.
		if state, err = sage.GrowIDTable(state, a.Users, a.Items, stats.Users, stats.Items); err != nil {
			return fmt.Errorf("infer: %s over store %s grown from %d users, %d items: %w", ck.Path, o.StoreDir, a.Users, a.Items, err)
		}
	}
	if err := m.model.Load(state); err != nil {
		if a := m.grownFrom; a != nil {
			return fmt.Errorf("infer: store %s grew from the run's store (%d users, %d items) to %d users, %d items, and %s "+
				"(model.inputs %q) cannot embed the new nodes: its id tables have rows for the training store's nodes only; "+
				"only PinSage and GraphSAGE reading features (model.inputs features or both) embed nodes from their features and neighbourhoods "+
				"(use the run's own store, or train such a model): %w",
				o.StoreDir, a.Users, a.Items, stats.Users, stats.Items, mcfg.Model, mcfg.Inputs, err)
		}
		return fmt.Errorf("infer: load %s into %s over store %s (%d users, %d items): %w",
			ck.Path, mcfg.Model, o.StoreDir, stats.Users, stats.Items, err)
	}
	// The model holds its own copy now; the checkpoint's tensors (as large
	// as the parameters and optimiser state together) are only hashed.
	m.params = checkpoints.ParamsSHA256(ck.Tensors)
	ck.Tensors = nil
	m.nodes, _ = m.model.(NodeEmbedder)
	if a := m.grownFrom; a != nil {
		m.log.Info("infer: store grew from the run's store", "store", o.StoreDir, "trained_users", a.Users, "trained_items", a.Items,
			"new_users", stats.Users-a.Users, "new_items", stats.Items-a.Items)
	}
	m.log.Info("infer: run loaded", "checkpoint", ck.Path, "epoch", ck.Epoch, "step", ck.Step, "model", mcfg.Model,
		"users", stats.Users, "items", stats.Items, "neighbor_epoch", m.epoch, "per_node", m.nodes != nil)
	return nil
}

// NumUsers and NumItems are the store's node counts; global ids run over
// [0, NumUsers+NumItems).
func (m *Model) NumUsers() int { return m.numUsers }

// NumItems is the store's item count.
func (m *Model) NumItems() int { return m.numItems }

// Checkpoint is the checkpoint the model was loaded from: its header and
// path (its tensors are released once loaded into the model).
func (m *Model) Checkpoint() *checkpoints.Checkpoint { return m.ck }

// Chunk is the granularity at which shard boundaries keep rows bit-identical
// to the in-process Embed (1 for models that embed everything at once).
func (m *Model) Chunk() int {
	if m.nodes != nil {
		return m.nodes.EmbedChunk()
	}
	return 1
}

// Embed returns the embeddings of the given global node ids, row r for
// nodes[r], and the dimension. Models without EmbedNodes compute the full
// embedding set once and serve every later call from it.
func (m *Model) Embed(ctx context.Context, nodes []uint32) ([]float32, int, error) {
	n := uint32(m.numUsers + m.numItems)
	for r, id := range nodes {
		if id >= n {
			return nil, 0, fmt.Errorf("infer: node %d (row %d) is not in store %s (%d users + %d items)", id, r, m.storeDir, m.numUsers, m.numItems)
		}
	}
	if m.nodes != nil {
		v, d, err := m.nodes.EmbedNodes(ctx, nodes)
		if err != nil {
			return nil, 0, fmt.Errorf("infer: %w", err)
		}
		return v, d, nil
	}
	if m.full == nil {
		m.log.Info("infer: model has no per-node embedding: computing every node's embedding once", "model", m.model.Name())
		e, err := m.model.Embed(ctx)
		if err != nil {
			return nil, 0, fmt.Errorf("infer: embed: %w", err)
		}
		if len(e.Users) != m.numUsers*e.Dim || len(e.Items) != m.numItems*e.Dim {
			return nil, 0, fmt.Errorf("infer: %s embedded %d user and %d item values, want %d users and %d items × dim %d",
				m.model.Name(), len(e.Users), len(e.Items), m.numUsers, m.numItems, e.Dim)
		}
		m.full = e
	}
	d := m.full.Dim
	out := make([]float32, len(nodes)*d)
	U := uint32(m.numUsers)
	for r, id := range nodes {
		var src []float32
		if id < U {
			src = m.full.Users[int(id)*d : int(id+1)*d]
		} else {
			src = m.full.Items[int(id-U)*d : int(id-U+1)*d]
		}
		copy(out[r*d:(r+1)*d], src)
	}
	return out, d, nil
}

// removeIfExists removes path, ignoring its absence.
func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("infer: %w", err)
	}
	return nil
}
