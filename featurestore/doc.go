// Package featurestore owns the on-disk form of a committed data set: one
// Badger v4 database per committed version, switched over atomically, and the
// read API the producers, the consumer and the evaluators use (features by
// dense id, the CSR train graph, interactions, id maps).
//
// It never mutates a committed version: Commit writes a complete new database
// into a staging directory and only then flips the CURRENT pointer, so readers
// always see either the old or the new data set, never a mix.
//
// # Directory layout
//
//	DIR/CURRENT          name of the active version directory ("v-<unix-nanos>-<rand>\n"),
//	                     written via temp file + fsync + rename + fsync(DIR)
//	DIR/v-.../           the Badger database of the active version
//	DIR/staging-.../     a Commit in progress (removed on failure or by the next Commit)
//	DIR/staging-....reserve  disk space a Commit holds (fallocate) until Badger writes it
//	DIR/COMMIT.LOCK      flock(2) held by a running Commit
//
// # Key layout
//
// Every key starts with a one-byte kind; t is the node type byte (0 user,
// 1 item); N is a big-endian uint32; "block value" means a value in the block
// codec below.
//
//	"\x00format"          format version, big-endian uint32 (FormatVersion)
//	"\x00meta"            JSON metaRecord: name, counts, feature dims, fingerprint, block sizes, lineage (Append)
//	's' t                 feature schema of type t, JSON (dataset.Schema)
//	'n' t N(block)        block value: external ids of dense ids [block*IDBlock, (block+1)*IDBlock),
//	                      each as uvarint length + bytes
//	'r' t external        dense id of an external id, big-endian uint32
//	'f' t N(dense)        feature vector of one node: dim little-endian float32 (raw, not compressed,
//	                      so FetchFeatures is one Get and one decode loop per node)
//	'i' s N(block)        block value: interactions [block*InteractionBlock, ...) of split s
//	                      (0 train, 1 test) as columns: users and items as zig-zag delta
//	                      varints, a weight flag (all 1) or raw float32 weights, times as zig-zag
//	                      delta varints
//	'a' t N(block)        block value: train adjacency (CSR, duplicates merged) of the nodes
//	                      [block*AdjBlock, ...) of type t: the degrees as uvarints, then each
//	                      row's ascending neighbours as delta uvarints
//
// A block value is: codec byte (0 raw, 1 zstd), uvarint decoded length,
// CRC-32C (Castagnoli) of the decoded bytes as little-endian uint32, payload.
// A checksum or length mismatch, a missing block or an out-of-range id in a
// block is reported as ErrCorrupt; an unknown format version as ErrFormat.
//
// Commit writes the keys in order through a Badger StreamWriter (SSTables
// built directly, no memtable, WAL or compaction). LoadGraph decodes each
// direction's adjacency blocks concurrently. Measured figures are in
// docs/benchmarks.md.
package featurestore
