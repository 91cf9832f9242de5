package model

// NeighborFunc fills nbr and w (both of length T) with the neighbourhood of
// global node id node — PinSage's top-T importance neighbours with weights
// summing to 1, or GraphSAGE's uniform sample — and returns the number of
// valid slots (the rest are ignored). Embed calls it from one goroutine.
type NeighborFunc func(node uint32, nbr []uint32, w []float32) int

// NeighborSetter is implemented by the convolutional models (PinSage,
// GraphSAGE). The daemon wires the producer's neighbourhoods into it so that
// Embed convolves over the same kind of neighbourhoods training saw. Without
// it Embed uses the training graph's direct neighbours (up to T, evenly
// spaced over the adjacency list, uniform weights).
type NeighborSetter interface {
	// SetNeighbors makes Embed use fn with t slots per node.
	SetNeighbors(fn NeighborFunc, t int)
}
