// Package producer builds minibatches on CPU goroutines: Pixie random walks on
// the bipartite graph, importance-weighted neighborhoods (top-T by visit
// count), training examples, the shared negative pool and curriculum hard
// negatives from personalized PageRank, the K-hop computation graph and the
// batched feature read. P producers feed a bounded queue that delivers
// batches to the consumer in index order, so training is deterministic for
// any P.
//
// A producer never blocks on the consumer except through the queue.
//
// Files by concern: sampler.go (the Sampler, its scratch and Batch, which
// runs the steps below in order), examples.go (the epoch's examples),
// pool.go (the shared negative pool and its masks; negatives.go its alias
// table), hard.go (PPR hard negatives), neighborhood.go and walk.go
// (neighbourhoods and the Pixie walks behind them), assemble.go (the K-hop
// computation graph and features), cache.go (the per-epoch neighbourhood
// cache), pipeline.go (producers and the ordered queue).
package producer
