// Package modelspec is the one registry of trainerd's models: for each
// model.name, its default loss and layers, the losses and aggregators it
// accepts, whether it convolves over the producer's computation graph and
// reads store features, which examples it trains on, and whether the CUDA
// consumer implements it. Config validation, the consumer's constructor
// table, the trainer's wiring, device selection and package cuda query it
// instead of switching on model names. It also holds the typed kinds of the
// model keys (Loss, ExampleKind, Schedule) with their Parse and String.
//
// It is a leaf: it imports nothing of trainerd, so every package may use it.
// Every function returns fresh values; nothing here is mutable.
package modelspec

import "slices"

// The model.name values.
const (
	// MF is matrix factorisation (optionally with SimpleX's user tower).
	MF = "mf"
	// DeepWalk is skip-gram over random-walk pairs.
	DeepWalk = "deepwalk"
	// LightGCN propagates id embeddings over the normalised graph.
	LightGCN = "lightgcn"
	// NGCF propagates with per-layer weights and element-wise interactions.
	NGCF = "ngcf"
	// GraphSAGE convolves over sampled neighbourhoods.
	GraphSAGE = "graphsage"
	// PinSage convolves over Pixie importance neighbourhoods.
	PinSage = "pinsage"
)

// Arch is how a model holds and computes its embeddings; it decides what the
// model allocates (config.ParamBytes).
type Arch uint8

// The architectures.
const (
	// ArchTable is one id-embedding table over all users and items.
	ArchTable Arch = iota
	// ArchPropagation is an id table propagated over the whole normalised
	// graph without weights (LightGCN).
	ArchPropagation
	// ArchTransform is propagation over the whole graph with per-layer
	// weight matrices (NGCF).
	ArchTransform
	// ArchConv is convolution over the producer's K-hop computation graph
	// with dense layers (GraphSAGE, PinSage).
	ArchConv
)

// Spec describes one model.
type Spec struct {
	// Name is the model.name value.
	Name string
	// Arch is how the model computes its embeddings.
	Arch Arch
	// DefaultLoss is the loss the model's constructor uses when
	// model.loss is empty (the config itself always names one).
	DefaultLoss Loss
	// Losses are the model.loss values the config accepts for it.
	Losses []Loss
	// DefaultLayers is what model.layers 0 means.
	DefaultLayers int
	// Convolves is true when the model convolves over the producer's K-hop
	// computation graph, so producer.layers must equal its layers; the
	// other models make the producer build none (producer.layers 0).
	Convolves bool
	// UsesFeatures is true when the model reads the store's node features
	// (unless model.inputs is id).
	UsesFeatures bool
	// Examples is the example kind the model trains on when ExamplesFixed,
	// whatever producer.examples.kind says; otherwise the configured kind
	// applies.
	Examples ExampleKind
	// ExamplesFixed says whether Examples overrides the configured kind.
	ExamplesFixed bool
	// DefaultAggregator is what model.aggregator "" means ("" for models
	// without aggregators).
	DefaultAggregator string
	// Aggregators are the model.aggregator values the model implements.
	Aggregators []string
	// Residual is true when the model implements model.residual (its
	// input added to its output).
	Residual bool
	// UserTower is true for the model with SimpleX's user tower
	// (model.history.weight, model.dropout).
	UserTower bool
	// CUDA is true when the CUDA consumer (package cuda) implements the
	// model; every other model trains on CPU only.
	CUDA bool
	// CUDAUnverified marks a CUDA consumer that has not yet passed
	// cuda/devicecheck.sh on a GPU: train.device auto keeps the model on
	// CPU, train.device cuda[:N] runs it on the GPU.
	CUDAUnverified bool
}

// All returns every model's spec, in the order model.name documents them.
func All() []Spec {
	return []Spec{
		{Name: MF, Arch: ArchTable, DefaultLoss: LossBPR, Losses: ConfigLosses(), DefaultLayers: 3,
			UserTower: true, CUDA: true},
		{Name: DeepWalk, Arch: ArchTable, DefaultLoss: LossSGNS, Losses: ConfigLosses(), DefaultLayers: 3,
			Examples: Walks, ExamplesFixed: true},
		{Name: LightGCN, Arch: ArchPropagation, DefaultLoss: LossBPR, Losses: ConfigLosses(), DefaultLayers: 3,
			CUDA: true},
		{Name: NGCF, Arch: ArchTransform, DefaultLoss: LossBPR, Losses: ConfigLosses(), DefaultLayers: 3},
		{Name: GraphSAGE, Arch: ArchConv, DefaultLoss: LossSoftmax, Losses: ConfigLosses(), DefaultLayers: 2,
			Convolves: true, UsesFeatures: true,
			DefaultAggregator: "mean", Aggregators: []string{"mean", "pool", "gcn", "gat"}},
		{Name: PinSage, Arch: ArchConv, DefaultLoss: LossMargin, Losses: ConfigLosses(), DefaultLayers: 2,
			Convolves: true, UsesFeatures: true,
			DefaultAggregator: "importance", Aggregators: []string{"importance", "mean", "max"}, Residual: true, CUDA: true,
			CUDAUnverified: true},
	}
}

// Lookup returns the spec of model.name name.
func Lookup(name string) (Spec, bool) {
	for _, s := range All() {
		if s.Name == name {
			return s, true
		}
	}
	return Spec{}, false
}

// Names returns every model.name, in All's order.
func Names() []string {
	var out []string
	for _, s := range All() {
		out = append(out, s.Name)
	}
	return out
}

// NameList is Names as prose: "mf, deepwalk, ... or pinsage".
func NameList() string { return orList(Names()) }

// CUDANames returns the models the CUDA consumer implements, in All's order.
func CUDANames() []string {
	var out []string
	for _, s := range All() {
		if s.CUDA {
			out = append(out, s.Name)
		}
	}
	return out
}

// Aggregators returns every model.aggregator value some model implements,
// each once, the last model's first (pinsage's, then graphsage's: the order
// the config documents them).
func Aggregators() []string {
	var out []string
	all := All()
	slices.Reverse(all)
	for _, s := range all {
		for _, a := range s.Aggregators {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// Convolves reports whether model name convolves over the producer's K-hop
// computation graph (false for an unknown name).
func Convolves(name string) bool {
	s, ok := Lookup(name)
	return ok && s.Convolves
}

// Layers is what model.layers means for s: layers, or DefaultLayers when
// layers ≤ 0.
func (s Spec) Layers(layers int) int {
	if layers <= 0 {
		return s.DefaultLayers
	}
	return layers
}

// AllowsLoss reports whether the config accepts loss l for s.
func (s Spec) AllowsLoss(l Loss) bool { return slices.Contains(s.Losses, l) }

// ReadsFeatures reports whether s reads store features with model.inputs
// inputs ("" = the default, which uses them when the store has any).
func (s Spec) ReadsFeatures(inputs string) bool { return s.UsesFeatures && inputs != "id" }

// ExampleKind is the example kind s trains on when configured is
// producer.examples.kind.
func (s Spec) ExampleKind(configured ExampleKind) ExampleKind {
	if s.ExamplesFixed {
		return s.Examples
	}
	return configured
}
