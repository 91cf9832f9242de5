// Package infer computes a trained run's embeddings outside the training
// process, in shards, so that a batch array job (one process per shard, e.g.
// a Kubernetes Indexed Job) or a distributed pipeline (the trainerd-beam
// module) embeds a store too large for one process's time budget.
//
// A run is loaded from its checkpoint (SelectCheckpoint picks which), the
// training config (its hash must match the checkpoint's) and the feature
// store (its fingerprint must match): the model is rebuilt exactly as the
// trainer builds it, with the producer's neighbourhoods of the epoch the
// checkpoint last trained, so the rows equal what `trainerd train` writes
// to RUN/embeddings bit for bit. Any node id the store holds can be
// embedded (Model.Embed): nodes are global ids, users 0..U-1 then items
// U..U+I-1, as everywhere in trainerd.
//
// # New nodes
//
// A store grown by featurestore.Append (trainerd ingest --append) from the
// run's store is accepted in its place: its lineage names the run's store,
// whose nodes keep their dense ids. The model is rebuilt over the grown
// store, so PinSage and GraphSAGE reading features embed the new nodes from
// their features and their sampled neighbourhoods in the grown graph with
// the trained weights (Model.GrownFrom tells old from new); with
// model.inputs both a new node's id row is zero (sage.GrowIDTable).
// Models whose embeddings are id tables (MF, LightGCN, NGCF, random walk,
// and PinSage or GraphSAGE with inputs id) have nothing for new nodes and
// are refused with a message saying so.
//
// # Shards
//
// Shard i of N (Shard, ParseShard "i/N", 0-based) covers a contiguous run of
// global node ids. PinSage and GraphSAGE embed only that run (their
// EmbedNodes); shard boundaries fall on the model's embedding chunks, which
// keeps every row bit-identical to the in-process Embed. Models without a
// per-node embedding (MF, random walk, LightGCN, NGCF: their embeddings are
// a table or a whole-graph propagation) compute the full Embed in every
// shard and keep their rows.
//
// # Output layout
//
// Shard i of N writes, into the output directory, with 5-digit indices:
//
//	users-00003-of-00016.npy    float32 '<f4' (rows, dim): the shard's users, in id order
//	users-00003-of-00016.tsv    "dense_id\texternal_id", dense ids local to the shard (global = first + local)
//	items-00003-of-00016.npy    the shard's items
//	items-00003-of-00016.tsv
//	topk-00003-of-00016.npy     optional: int32 '<i4' (users, K), each user's top-K item ids, -1 past the end
//	topk-scores-00003-of-00016.npy  optional: float32 (users, K) their scores, -Inf past the end
//	shard-00003-of-00016.json   ShardManifest: ranges, shapes, files, checkpoint, config hash, store fingerprint
//
// Every file is written atomically (temp file, fsync, rename). The shard
// manifest is removed before a shard's files are replaced and written
// last, so its presence means the shard is complete; a rerun of a shard
// replaces it whole (and removes manifest.json, which described the old
// shard). Merge checks that shards 0..N-1 are all present and consistent
// and writes manifest.json (Manifest), which Read uses to assemble the full
// matrices.
//
// Top-K (TopKShard) scores the shard's users against every item (all
// shards' items must be written first) with linalg.Sgemm in user blocks and
// the evaluator's partial top-K (eval.TopK), the user's train items masked
// out, as `trainerd serve` recommends.
package infer
