//go:build !cuda

// Package nn owns the gorgonia building blocks of trainerd's convolutional
// models (PinSage, GraphSAGE): dense layers, PinSage's CONVOLVE with
// importance, mean and max pooling, the GraphSAGE mean, pool, GCN and GAT
// aggregators, the final dense pair, L2 normalisation, and the fused
// weighted-gather op (GatherSum) those layers rest on.
//
// Every builder is dtype-generic (float32 for training, float64 for the
// numeric-gradient tests). Gorgonia v0.9.18 has ops that are silently wrong
// (merged Slice nodes, SoftMax/LogSoftMax merged, ByIndices off axis 0); this package never builds several
// Slices of one parent, never builds SoftMax and LogSoftMax of one node, and
// uses ByIndices on axis 0 only. Its tests prove, forward against plain Go and
// backward against finite differences, every gorgonia op it uses.
//
// The package builds graphs; it never owns parameters' storage, optimiser
// state or batches.
package nn
