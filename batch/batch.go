// Package batch holds Batch, the minibatch the producer builds and the
// models consume, and the global node-id convention it uses.
package batch

import (
	"fmt"

	"github.com/trainerd/trainerd/internal/masks"
	"github.com/trainerd/trainerd/modelspec"
)

// Node ids inside a Batch are global: users are 0..NumUsers-1 and items are
// NumUsers..NumUsers+NumItems-1, so one computation graph can mix both sides.
// GlobalItem and LocalItem convert.

// GlobalItem returns the global id of item i.
func GlobalItem(numUsers int, i uint32) uint32 { return uint32(numUsers) + i }

// LocalItem returns the item id of global id g (g must be ≥ numUsers).
func LocalItem(numUsers int, g uint32) uint32 { return g - uint32(numUsers) }

// Batch is one minibatch as the consumer receives it. Batches of one epoch
// are numbered 0,1,2,... and delivered in that order whatever the number of
// producers; a Batch is fully determined by (seed, epoch, index).
//
// All slices are owned by the Batch. The consumer hands it back through
// the producer's Pipeline.Release (or drops it) when done; after that it must not be used.
type Batch struct {
	Epoch int
	Index int
	Kind  modelspec.ExampleKind

	// Query and Pos hold B global node ids: example j is (Query[j], Pos[j]).
	Query []uint32
	Pos   []uint32
	// Neg is the shared negative pool (global item ids; global node ids for
	// WalkPair batches), used by every example. It holds distinct nodes. For
	// ItemItem and WalkPair batches it never holds a Query[j] or Pos[j]. For
	// UserItem batches it may hold items some queries engaged, the batch's
	// positives included: NegMask lists, per example, those to skip.
	Neg []uint32
	// NegMask and NegMaskPtr say which pool slots are false negatives of
	// which example, in CSR form over examples: example j must not use
	// Neg[s] as a negative for any slot s in
	// NegMask[NegMaskPtr[j]:NegMaskPtr[j+1]]. len(NegMaskPtr) is B+1 with
	// NegMaskPtr[0] = 0. For UserItem batches the slots of example j are
	// exactly the pool slots holding a train item of Query[j] (distinct, in
	// no particular order); for the other kinds the pool excludes every
	// query and positive, so the mask is empty.
	NegMask, NegMaskPtr []int32
	// InMask and InMaskPtr do the same for in-batch negatives (the other
	// examples' positives): example j must not use Pos[k] as a negative for
	// any k in InMask[InMaskPtr[j]:InMaskPtr[j+1]] (distinct, in no
	// particular order but the same for the same batch, never j itself;
	// len(InMaskPtr) is B+1). For UserItem batches these are
	// the k ≠ j whose Pos[k] is a train item of Query[j], which includes
	// every k with Pos[k] = Pos[j] and every other example of the same user;
	// for the other kinds, the k ≠ j with Pos[k] = Query[j] or Pos[k] = Pos[j].
	InMask, InMaskPtr []int32
	// Hard holds HardPer hard negatives per example, example j's at
	// Hard[j*HardPer:(j+1)*HardPer] (global item ids). HardPer may be 0.
	Hard    []uint32
	HardPer int

	// The K-hop computation graph, present when the model convolves
	// (PinSage, GraphSAGE); Layers is nil otherwise.
	//
	// Layers[0] are the target nodes: the distinct nodes among Query, Pos,
	// Neg and Hard. Layers[k] (k=1..K) starts with Layers[k-1] (same order)
	// followed by the new nodes first seen as neighbors at hop k, so the node
	// itself is always available one hop deeper (CONVOLVE's z_u).
	Layers [][]uint32
	// T is the number of neighbor slots per node.
	T int
	// NbrIdx[k] has len(Layers[k])*T indices into Layers[k+1]: node n of
	// Layers[k] has neighbors NbrIdx[k][n*T:(n+1)*T]. NbrW[k] holds their
	// importance weights (sum 1 over a node's slots; unused slots have
	// weight 0 and point at the node itself).
	NbrIdx [][]int32
	NbrW   [][]float32
	// QueryIdx, PosIdx, NegIdx and HardIdx index Query, Pos, Neg and Hard
	// into Layers[0].
	QueryIdx, PosIdx, NegIdx, HardIdx []int32

	// Feat holds the input features of Layers[K] (or of Layers[0] when K=0
	// and features are requested), row-major with FeatDim columns: the user
	// feature columns followed by the item feature columns, zeros in the
	// other side's columns. Nil when the store has no features or the model
	// uses none.
	Feat    []float32
	FeatDim int
}

// Size is the number of examples in the batch.
func (b *Batch) Size() int { return len(b.Query) }

// K is the number of convolution layers the batch was built for.
func (b *Batch) K() int {
	if len(b.Layers) == 0 {
		return 0
	}
	return len(b.Layers) - 1
}

// Check validates the example part of a batch for a consumer holding
// numNodes global nodes: as many positives as queries, HardPer hard
// negatives per example, every id in range. The error names the batch.
func (b *Batch) Check(numNodes int) error {
	if len(b.Pos) != len(b.Query) {
		return fmt.Errorf("batch %d/%d: %d queries but %d positives", b.Epoch, b.Index, len(b.Query), len(b.Pos))
	}
	if len(b.Hard) != len(b.Query)*b.HardPer {
		return fmt.Errorf("batch %d/%d: %d hard negatives, want %d×%d", b.Epoch, b.Index, len(b.Hard), len(b.Query), b.HardPer)
	}
	for _, ids := range [][]uint32{b.Query, b.Pos, b.Neg, b.Hard} {
		for _, id := range ids {
			if int(id) >= numNodes {
				return fmt.Errorf("batch %d/%d: node id %d out of range (%d nodes)", b.Epoch, b.Index, id, numNodes)
			}
		}
	}
	return nil
}

// CheckGraph validates the K-hop computation graph of a batch for a model
// with k layers over numNodes global nodes: k+1 layers, each at least as
// long as the one before (it starts with it), T > 0 slots per node of
// layer j indexing layer j+1, every id in range. Errors do not name the
// batch (callers do) and are the only thing it allocates.
func (b *Batch) CheckGraph(k, numNodes int) error {
	if b.K() != k {
		return fmt.Errorf("built for %d layers, model has %d (model.layers)", b.K(), k)
	}
	if b.T <= 0 || len(b.NbrIdx) != k || len(b.NbrW) != k {
		return fmt.Errorf("T=%d with %d/%d hops, want T>0 and %d hops", b.T, len(b.NbrIdx), len(b.NbrW), k)
	}
	for j := 0; j <= k; j++ {
		for _, id := range b.Layers[j] {
			if int(id) >= numNodes {
				return fmt.Errorf("layer %d: node %d out of range (%d nodes)", j, id, numNodes)
			}
		}
		if j > 0 && len(b.Layers[j]) < len(b.Layers[j-1]) {
			return fmt.Errorf("layer %d smaller than layer %d", j, j-1)
		}
	}
	for j := 0; j < k; j++ {
		if len(b.NbrIdx[j]) != len(b.Layers[j])*b.T || len(b.NbrW[j]) != len(b.Layers[j])*b.T {
			return fmt.Errorf("hop %d: %d indices, %d weights for %d nodes × T=%d", j, len(b.NbrIdx[j]), len(b.NbrW[j]), len(b.Layers[j]), b.T)
		}
		for _, ix := range b.NbrIdx[j] {
			if ix < 0 || int(ix) >= len(b.Layers[j+1]) {
				return fmt.Errorf("hop %d: neighbour index %d out of range [0,%d)", j, ix, len(b.Layers[j+1]))
			}
		}
	}
	return nil
}

// CheckTargets validates the example indices into Layers[0] (QueryIdx,
// PosIdx, NegIdx, HardIdx in range; as many positives as queries, HardPer
// hard negatives per example). CheckGraph must have passed.
func (b *Batch) CheckTargets() error {
	n0 := int32(len(b.Layers[0]))
	for _, idx := range [][]int32{b.QueryIdx, b.PosIdx, b.NegIdx, b.HardIdx} {
		for _, ix := range idx {
			if ix < 0 || ix >= n0 {
				return fmt.Errorf("example index %d out of range [0,%d)", ix, n0)
			}
		}
	}
	if len(b.QueryIdx) != len(b.PosIdx) || len(b.HardIdx) != len(b.QueryIdx)*b.HardPer {
		return fmt.Errorf("%d queries, %d positives, %d hard (HardPer %d)", len(b.QueryIdx), len(b.PosIdx), len(b.HardIdx), b.HardPer)
	}
	return nil
}

// CheckMasks validates the collision masks a loss will index with:
// NegMask/NegMaskPtr over the pool (columns in [0, len(Neg))) and, when
// inBatch, InMask/InMaskPtr over the examples (columns in [0, B), never the
// example itself); InMask is not checked when the loss ignores it. A nil
// pointer list means no mask.
func (b *Batch) CheckMasks(inBatch bool) error {
	B := len(b.Query)
	if err := masks.Check("NegMask", b.NegMask, b.NegMaskPtr, B, len(b.Neg), false); err != nil {
		return fmt.Errorf("batch %d/%d: %w", b.Epoch, b.Index, err)
	}
	if inBatch {
		if err := masks.Check("InMask", b.InMask, b.InMaskPtr, B, B, true); err != nil {
			return fmt.Errorf("batch %d/%d: %w", b.Epoch, b.Index, err)
		}
	}
	return nil
}
