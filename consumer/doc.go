// Package consumer trains models on the minibatches the producers deliver:
// the models (MF, random-walk embeddings, LightGCN, NGCF, GraphSAGE, PinSage),
// their losses and the optimisers. On CPU the dense math runs through
// gorgonia (with hand-written kernels where gorgonia is wrong or slow); the
// CUDA consumer (package cuda, build tag cuda) implements the same model.Model.
//
// The consumer never reads the store or the graph on its hot path: everything
// a step needs arrives in a batch.Batch.
package consumer
