// Package consumer trains models on the minibatches the producers deliver.
// New builds any model of modelspec by name: the embedding-table models
// (package consumer/embedding: MF, DeepWalk), the propagation models
// (consumer/propagation: LightGCN, NGCF) and the sample-and-aggregate
// convolutional models (consumer/sage: PinSage, GraphSAGE). Losses,
// optimisers and the parts every model shares are in consumer/loss,
// consumer/optim and consumer/embedcore. The CUDA consumer (package cuda,
// build tag cuda) implements the same model.Model.
//
// The consumer never reads the store or the graph on its hot path: everything
// a step needs arrives in a batch.Batch.
package consumer
