// Package producer builds minibatches on CPU goroutines: Pixie random walks on
// the bipartite graph, importance-weighted neighborhoods (top-T by visit
// count), training examples, the shared negative pool and curriculum hard
// negatives from personalized PageRank, the K-hop computation graph and the
// batched feature read. P producers feed a bounded queue that delivers
// batches to the consumer in index order, so training is deterministic for
// any P.
//
// A producer never blocks on the consumer except through the queue.
package producer
