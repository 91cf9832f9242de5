// Package sage holds the sample-and-aggregate graph convolutional models,
// PinSage and GraphSAGE: each step convolves the K-hop neighbourhoods the
// producer sampled for the batch (batch.Batch's Layers, NbrIdx and NbrW)
// rather than the whole graph. Inputs are an id table, projected store
// features, or both (model.inputs). PinSage and GraphSAGE mean and pool run
// on the hand-written conv network (convnet.go, GEMMs through linalg, its
// row kernels in internal/vec's assembly); GraphSAGE gcn and gat run on
// gorgonia with the layers of consumer/nn. EmbedNodes embeds a subset of nodes for sharded
// inference, and GrowIDTable adapts a saved state to a store grown by new
// nodes. Package consumer builds the models by model name.
//
// The files that import gorgonia are tagged !cuda (gorgonia's own cuda files
// need cuDNN): in trainerd-cuda NewPinSage and NewGraphSAGE return an error.
package sage
