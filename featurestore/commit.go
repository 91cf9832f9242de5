package featurestore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/ristretto/v2/z"
	"github.com/klauspost/compress/zstd"

	"github.com/trainerd/trainerd/dataset"
	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/internal/atomicfile"
)

const (
	currentFile   = "CURRENT"
	lockFile      = "COMMIT.LOCK"
	stagingPrefix = "staging-"
	versionPrefix = "v-"
)

// metaRecord is the JSON value of "\x00meta".
type metaRecord struct {
	FormatVersion    int       `json:"format_version"`
	Name             string    `json:"name"`
	Users            int       `json:"users"`
	Items            int       `json:"items"`
	TrainEdges       int       `json:"train_edges"`
	TestEdges        int       `json:"test_edges"`
	GraphEdges       int       `json:"graph_edges"`
	UserFeatureDim   int       `json:"user_feature_dim"`
	ItemFeatureDim   int       `json:"item_feature_dim"`
	Fingerprint      string    `json:"fingerprint"`
	IDBlock          int       `json:"id_block"`
	InteractionBlock int       `json:"interaction_block"`
	AdjBlock         int       `json:"adj_block"`
	CreatedAt        time.Time `json:"created_at"`
	// Lineage lists the versions this one grew from by Append, oldest
	// first; empty for a data set committed whole.
	Lineage []Ancestor `json:"lineage,omitempty"`
}

// Summary reports one Commit: the committed data set's Stats plus the wall
// time the Commit took.
type Summary struct {
	Stats
	// Seconds is the wall time of the whole Commit (encode, write, sync, switch).
	Seconds float64 `json:"seconds"`
}

// DatasetFingerprint is the stable digest Store.Fingerprint returns for a
// store holding ds: SHA-256 (hex) over the name, the id maps, the schemas,
// the feature values and the train and test interactions, in order. It does
// not depend on the on-disk encoding or on when the data set was committed.
func DatasetFingerprint(ds *dataset.Dataset) string {
	h := sha256.New()
	buf := make([]byte, 0, 1<<16)
	flush := func() {
		h.Write(buf)
		buf = buf[:0]
	}
	putStr := func(s string) {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
		if len(buf) > 1<<15 {
			flush()
		}
	}
	putStr(fmt.Sprintf("trainerd-dataset-fingerprint-v%d", 1))
	putStr(ds.Name)
	for _, ids := range [][]string{ds.UserIDs, ds.ItemIDs} {
		buf = binary.AppendUvarint(buf, uint64(len(ids)))
		for _, id := range ids {
			putStr(id)
		}
	}
	for _, f := range []*dataset.Features{ds.UserFeatures, ds.ItemFeatures} {
		if f == nil {
			putStr("")
			continue
		}
		js, _ := json.Marshal(f.Schema) // a Schema always marshals
		putStr(string(js))
		buf = binary.AppendUvarint(buf, uint64(len(f.Data)))
		for _, v := range f.Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if len(buf) > 1<<15 {
				flush()
			}
		}
	}
	for _, es := range [][]dataset.Interaction{ds.Train, ds.Test} {
		buf = binary.AppendUvarint(buf, uint64(len(es)))
		for _, e := range es {
			buf = binary.LittleEndian.AppendUint32(buf, e.User)
			buf = binary.LittleEndian.AppendUint32(buf, e.Item)
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(e.Weight))
			buf = binary.LittleEndian.AppendUint64(buf, uint64(e.Time))
			if len(buf) > 1<<15 {
				flush()
			}
		}
	}
	flush()
	return hex.EncodeToString(h.Sum(nil))
}

// commitBadgerOptions are tuned for one bulk load of an immutable data set:
// small memtables and value-log files so the directory stays compact, no
// Badger compression (big values are zstd blocks already, feature vectors are
// incompressible floats), quiet logging.
func commitBadgerOptions(dir string, log *slog.Logger) badger.Options {
	return badger.DefaultOptions(dir).
		WithLogger(badgerLogger{log}).
		WithLoggingLevel(badger.WARNING).
		WithCompression(options.None).
		WithMemTableSize(32 << 20).
		WithNumMemtables(2).
		WithValueLogFileSize(64 << 20).
		WithBlockCacheSize(0).
		WithNumCompactors(2).
		WithMetricsEnabled(false).
		WithDetectConflicts(false)
}

// Commit validates ds, writes it as a complete new Badger database into a
// staging directory under dir, and only when everything is written and synced
// switches dir/CURRENT to it and deletes the previous version. On any error,
// including ctx being cancelled, the store is left exactly as before and the
// staging directory is removed. Concurrent Commits to one dir fail fast on
// the commit lock.
//
// Before writing, Commit bounds the bytes the new version takes and fails
// with an error wrapping syscall.ENOSPC when dir's filesystem lacks them (the
// previous version stays on disk until the switch, so both must fit); on
// Linux the bytes are held by fallocate until Badger writes them. External
// ids longer than MaxIDBytes are refused.
//
// Readers that have the previous version open keep reading it (its files are
// unlinked, not overwritten); reopen to see the new data set.
func Commit(ctx context.Context, dir string, ds *dataset.Dataset) (sum *Summary, err error) {
	return commit(ctx, dir, ds, commitEnv{free: statfsFree})
}

// commitEnv is what Commit takes from the system; tests substitute it.
type commitEnv struct {
	// free returns the bytes free for writing on dir's filesystem (negative:
	// unknown) and its block size.
	free func(dir string) (free, block int64, err error)
}

func commit(ctx context.Context, dir string, ds *dataset.Dataset, env commitEnv) (sum *Summary, err error) {
	return commitChild(ctx, dir, ds, env, nil)
}

// childOf names the version a Commit grows from (Append): the commit fails
// unless dir/CURRENT still names it once the commit lock is held, and the
// new version records lineage.
type childOf struct {
	version string
	lineage []Ancestor
}

// commitChild is commit, for a child version when parent is non-nil.
func commitChild(ctx context.Context, dir string, ds *dataset.Dataset, env commitEnv, parent *childOf) (sum *Summary, err error) {
	start := time.Now()
	log := slog.Default()
	if ds == nil {
		return nil, fmt.Errorf("featurestore: commit %s: nil data set", dir)
	}
	if err := ds.Validate(); err != nil {
		return nil, fmt.Errorf("featurestore: commit %s: %w", dir, err)
	}
	if err := checkIDs(ds); err != nil {
		return nil, fmt.Errorf("featurestore: commit %s: %w", dir, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("featurestore: commit %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("featurestore: commit: %w", err)
	}
	unlock, err := lockDir(filepath.Join(dir, lockFile))
	if err != nil {
		return nil, fmt.Errorf("featurestore: commit %s: %w", dir, err)
	}
	defer unlock()
	removeMatching(dir, stagingPrefix, "", log) // left by a crashed Commit

	var lineage []Ancestor
	if parent != nil {
		raw, err := os.ReadFile(filepath.Join(dir, currentFile))
		if err != nil {
			return nil, fmt.Errorf("featurestore: append to %s: %w", dir, err)
		}
		if cur := strings.TrimSpace(string(raw)); cur != parent.version {
			return nil, fmt.Errorf("featurestore: append to %s: the store changed to version %s while appending to %s; append again", dir, cur, parent.version)
		}
		lineage = parent.lineage
	}
	p, err := planVersion(ds, lineage...)
	if err != nil {
		return nil, err
	}
	free, block, err := env.free(dir)
	if err != nil {
		return nil, fmt.Errorf("featurestore: commit %s: free space: %w", dir, err)
	}
	need := fixedBound(block) + p.space.bound(block)

	staging, err := os.MkdirTemp(dir, stagingPrefix)
	if err == nil {
		err = os.Chmod(staging, 0o755)
	}
	if err != nil {
		return nil, fmt.Errorf("featurestore: commit: %w", err)
	}
	switched := false
	defer func() {
		if !switched {
			if rmErr := os.RemoveAll(staging); rmErr != nil {
				log.Warn("featurestore: removing staging dir", "dir", staging, "err", rmErr)
			}
		}
	}()
	res, err := reserve(dir, staging+".reserve", need, free)
	if err != nil {
		return nil, err
	}
	defer res.close()
	if err := res.release(fixedBound(block)); err != nil {
		return nil, err
	}

	db, err := badger.Open(commitBadgerOptions(staging, log))
	if err != nil {
		return nil, fmt.Errorf("featurestore: commit: open staging db %s: %w", staging, err)
	}
	dbOpen := true
	defer func() { // a panic while writing: close before the staging dir goes
		if dbOpen {
			db.Close()
		}
	}()
	meta, err := writeDataset(ctx, db, p, res, block)
	res.close()
	dbOpen = false
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("featurestore: commit: close staging db %s: %w", staging, cerr)
	}
	if err != nil {
		return nil, err
	}
	written := time.Now()
	if err := syncTree(staging); err != nil {
		return nil, fmt.Errorf("featurestore: commit: %w", err)
	}
	log.Debug("featurestore: commit phases", "write_close_s", written.Sub(start).Seconds(), "fsync_s", time.Since(written).Seconds())
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("featurestore: commit %s: %w", dir, err)
	}
	version := fmt.Sprintf("%s%d-%08x", versionPrefix, time.Now().UnixNano(), rand.Uint32())
	vdir := filepath.Join(dir, version)
	if err := os.Rename(staging, vdir); err != nil {
		return nil, fmt.Errorf("featurestore: commit: %w", err)
	}
	staging = vdir // the deferred cleanup now removes the renamed dir on failure
	if err := atomicfile.SyncDir(dir); err != nil {
		return nil, fmt.Errorf("featurestore: commit: %w", err)
	}
	if err := writeCurrent(dir, version); err != nil {
		return nil, fmt.Errorf("featurestore: commit: %w", err)
	}
	switched = true
	removeMatching(dir, versionPrefix, version, log)

	size, _ := dirBytes(vdir)
	sum = &Summary{Stats: meta.stats(version, size), Seconds: time.Since(start).Seconds()}
	log.Debug("featurestore: committed", "dir", dir, "version", version, "name", ds.Name,
		"users", meta.Users, "items", meta.Items, "train", meta.TrainEdges, "test", meta.TestEdges,
		"bytes", size, "need_bound", need, "seconds", sum.Seconds)
	return sum, nil
}

// checkIDs refuses external ids longer than MaxIDBytes, so that no key
// reaches Badger's key-size limits.
func checkIDs(ds *dataset.Dataset) error {
	for t, ids := range [2][]string{ds.UserIDs, ds.ItemIDs} {
		for i, id := range ids {
			if len(id) > MaxIDBytes {
				return fmt.Errorf("data set %q: %s %d has an external id of %d bytes (%q...), over the %d-byte limit",
					ds.Name, dataset.NodeType(t), i, len(id), id[:64], MaxIDBytes)
			}
		}
	}
	return nil
}

// sortedSink feeds keys, which must come in strictly increasing order, to a
// Badger StreamWriter: it builds the SSTables directly, with no memtable,
// write-ahead log or compaction (about 10× faster than a WriteBatch for the
// millions of small feature and reverse-id keys of the "large" gen preset).
type sortedSink struct {
	sw   *badger.StreamWriter
	buf  *z.Buffer
	last []byte
	name string
	// Space: use counts the keys set so far; released is use.bound at the
	// last write, what res has given back to the filesystem for them.
	res      *reservation
	fsBlock  int64
	use      spaceUse
	released int64
	finished bool // finish succeeded
}

const sinkFlushBytes = 16 << 20

func newSortedSink(db *badger.DB, name string, res *reservation, fsBlock int64) (*sortedSink, error) {
	sw := db.NewStreamWriter()
	if err := sw.Prepare(); err != nil {
		return nil, fmt.Errorf("featurestore: commit %q: stream writer: %w", name, err)
	}
	return &sortedSink{sw: sw, buf: z.NewBuffer(sinkFlushBytes+(1<<20), "featurestore.commit"), name: name,
		res: res, fsBlock: fsBlock}, nil
}

func (s *sortedSink) set(k, v []byte) error {
	if s.last != nil && bytes.Compare(k, s.last) <= 0 {
		return fmt.Errorf("featurestore: commit %q: key %q after %q: keys out of order", s.name, k, s.last)
	}
	s.last = k
	s.use.add(len(k), len(v))
	badger.KVToBuffer(&pb.KV{Key: k, Value: v, Version: 1}, s.buf)
	if s.buf.LenNoPadding() >= sinkFlushBytes {
		return s.write()
	}
	return nil
}

func (s *sortedSink) write() error {
	// Give Badger the space its tables take for these keys first: it
	// writes them through mmap, where a full disk is SIGBUS, not ENOSPC.
	b := s.use.bound(s.fsBlock)
	if err := s.res.release(b - s.released); err != nil {
		return fmt.Errorf("featurestore: commit %q: %w", s.name, err)
	}
	s.released = b
	if err := s.sw.Write(s.buf); err != nil {
		return fmt.Errorf("featurestore: commit %q: stream write: %w", s.name, err)
	}
	s.buf.Reset()
	return nil
}

// finish writes what is buffered and flushes the stream writer.
func (s *sortedSink) finish() error {
	if err := s.write(); err != nil {
		return err
	}
	if err := s.sw.Flush(); err != nil {
		return fmt.Errorf("featurestore: commit %q: stream flush: %w", s.name, err)
	}
	s.finished = true
	return nil
}

// close releases the buffer; unless finish succeeded (an error, a panic)
// it also cancels the writer.
func (s *sortedSink) close() {
	if !s.finished {
		s.sw.Cancel()
	}
	_ = s.buf.Release()
}

// versionPlan is what Commit derives from a data set before it writes:
// the meta record, the train graph, the schemas and the bound on the keys'
// sizes.
type versionPlan struct {
	ds      *dataset.Dataset
	meta    metaRecord
	metaJS  []byte
	g       *graph.Bipartite
	schemas [2]dataset.Schema
	space   spaceUse // every key with its largest possible value
}

// planVersion builds the train graph and meta record of ds and bounds the
// sizes of every key writeDataset will write (block values at their raw,
// uncompressed size, which sealBlock never exceeds by more than its header).
func planVersion(ds *dataset.Dataset, lineage ...Ancestor) (*versionPlan, error) {
	p := &versionPlan{ds: ds, meta: metaRecord{
		FormatVersion:    FormatVersion,
		Name:             ds.Name,
		Users:            ds.NumUsers(),
		Items:            ds.NumItems(),
		TrainEdges:       len(ds.Train),
		TestEdges:        len(ds.Test),
		Fingerprint:      DatasetFingerprint(ds),
		IDBlock:          IDBlock,
		InteractionBlock: InteractionBlock,
		AdjBlock:         AdjBlock,
		CreatedAt:        time.Now().UTC(),
		Lineage:          lineage,
	}}
	edges := make([]graph.Edge, len(ds.Train))
	for i, e := range ds.Train {
		edges[i] = graph.Edge{User: e.User, Item: e.Item}
	}
	g, err := graph.Build(ds.NumUsers(), ds.NumItems(), edges)
	if err != nil {
		return nil, fmt.Errorf("featurestore: commit %q: %w", ds.Name, err)
	}
	p.g = g
	p.meta.GraphEdges = g.NumEdges()
	for t, f := range [2]*dataset.Features{ds.UserFeatures, ds.ItemFeatures} {
		if f != nil {
			p.schemas[t] = f.Schema
		}
	}
	p.meta.UserFeatureDim, p.meta.ItemFeatureDim = p.schemas[0].Dim(), p.schemas[1].Dim()
	if p.metaJS, err = json.Marshal(p.meta); err != nil {
		return nil, fmt.Errorf("featurestore: commit %q: meta: %w", ds.Name, err)
	}

	// The meta record is bounded with the widest timestamp, so that the
	// bound does not depend on the clock.
	wide := p.meta
	wide.CreatedAt = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
	wideJS, err := json.Marshal(wide)
	if err != nil {
		return nil, fmt.Errorf("featurestore: commit %q: meta: %w", ds.Name, err)
	}
	u := &p.space
	u.add(len(keyFormat), 4)
	u.add(len(keyMeta), len(wideJS))
	for _, side := range [2]struct {
		n        int
		ptr, adj []uint32
	}{{g.NumUsers, g.UserPtr, g.UserAdj}, {g.NumItems, g.ItemPtr, g.ItemAdj}} {
		for lo := 0; lo < side.n; lo += AdjBlock {
			u.add(6, sealOverhead+adjacencyLen(side.ptr, side.adj, lo, min(lo+AdjBlock, side.n)))
		}
	}
	for t, n := range [2]int{ds.NumUsers(), ds.NumItems()} {
		if dim := p.schemas[t].Dim(); dim > 0 {
			for range n {
				u.add(6, 4*dim)
			}
		}
	}
	for _, es := range [2][]dataset.Interaction{ds.Train, ds.Test} {
		for lo := 0; lo < len(es); lo += InteractionBlock {
			u.add(6, sealOverhead+interactionsLen(es[lo:min(lo+InteractionBlock, len(es))]))
		}
	}
	for _, ids := range [2][]string{ds.UserIDs, ds.ItemIDs} {
		for lo := 0; lo < len(ids); lo += IDBlock {
			u.add(6, sealOverhead+idsLen(ids[lo:min(lo+IDBlock, len(ids))]))
		}
		for _, id := range ids {
			u.add(2+len(id), 4)
		}
	}
	for t := range p.schemas {
		js, err := json.Marshal(p.schemas[t])
		if err != nil {
			return nil, fmt.Errorf("featurestore: commit %q: %s schema: %w", ds.Name, dataset.NodeType(t), err)
		}
		u.add(2, len(js))
	}
	return p, nil
}

// writeDataset writes every key of p's data set into the empty db, in key
// order (see the key layout), releasing reserved space (for a filesystem
// with blocks of fsBlock bytes) before it hands keys to Badger, and returns
// the meta record it stored. ctx is checked between blocks.
func writeDataset(ctx context.Context, db *badger.DB, p *versionPlan, res *reservation, fsBlock int64) (meta metaRecord, err error) {
	ds, g, meta, schemas := p.ds, p.g, p.meta, p.schemas
	feats := [2]*dataset.Features{ds.UserFeatures, ds.ItemFeatures}
	canceled := func() error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("featurestore: commit %q: %w", ds.Name, err)
		}
		return nil
	}
	if err := canceled(); err != nil {
		return meta, err
	}

	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return meta, fmt.Errorf("featurestore: zstd encoder: %w", err)
	}
	defer enc.Close()
	sink, err := newSortedSink(db, ds.Name, res, fsBlock)
	if err != nil {
		return meta, err
	}
	defer sink.close()
	set := sink.set

	// "\x00format", "\x00meta"
	fv := make([]byte, 4)
	binary.BigEndian.PutUint32(fv, FormatVersion)
	if err := set(append([]byte(nil), keyFormat...), fv); err != nil {
		return meta, err
	}
	if err := set(append([]byte(nil), keyMeta...), p.metaJS); err != nil {
		return meta, err
	}
	// 'a': adjacency, users then items.
	for _, side := range []struct {
		t        dataset.NodeType
		n        int
		ptr, adj []uint32
	}{{dataset.User, g.NumUsers, g.UserPtr, g.UserAdj}, {dataset.Item, g.NumItems, g.ItemPtr, g.ItemAdj}} {
		for b := 0; b*AdjBlock < side.n; b++ {
			if err := canceled(); err != nil {
				return meta, err
			}
			lo, hi := b*AdjBlock, min((b+1)*AdjBlock, side.n)
			if err := set(key2N(kindAdjacency, byte(side.t), uint32(b)), sealBlock(enc, encodeAdjacency(side.ptr, side.adj, lo, hi))); err != nil {
				return meta, err
			}
		}
	}
	// 'f': one raw vector per node.
	for t, f := range feats {
		dim := schemas[t].Dim()
		if dim == 0 {
			continue
		}
		for i := 0; i*dim < len(f.Data); i++ {
			if i%IDBlock == 0 {
				if err := canceled(); err != nil {
					return meta, err
				}
			}
			if err := set(key2N(kindFeature, byte(t), uint32(i)), encodeFloats(f.Data[i*dim:(i+1)*dim])); err != nil {
				return meta, err
			}
		}
	}
	// 'i': interactions, train then test.
	for sp, es := range [][]dataset.Interaction{ds.Train, ds.Test} {
		for b := 0; b*InteractionBlock < len(es); b++ {
			if err := canceled(); err != nil {
				return meta, err
			}
			chunk := es[b*InteractionBlock : min((b+1)*InteractionBlock, len(es))]
			if err := set(key2N(kindInteraction, byte(sp), uint32(b)), sealBlock(enc, encodeInteractions(chunk))); err != nil {
				return meta, err
			}
		}
	}
	idLists := [2][]string{ds.UserIDs, ds.ItemIDs}
	// 'n': id blocks.
	for t, ids := range idLists {
		for b := 0; b*IDBlock < len(ids); b++ {
			if err := canceled(); err != nil {
				return meta, err
			}
			chunk := ids[b*IDBlock : min((b+1)*IDBlock, len(ids))]
			if err := set(key2N(kindIDs, byte(t), uint32(b)), sealBlock(enc, encodeIDs(chunk))); err != nil {
				return meta, err
			}
		}
	}
	// 'r': reverse ids in external-id order.
	for t, ids := range idLists {
		order := make([]uint32, len(ids))
		for i := range order {
			order[i] = uint32(i)
		}
		slices.SortFunc(order, func(a, b uint32) int { return strings.Compare(ids[a], ids[b]) })
		for k, i := range order {
			if k%IDBlock == 0 {
				if err := canceled(); err != nil {
					return meta, err
				}
			}
			v := make([]byte, 4)
			binary.BigEndian.PutUint32(v, i)
			if err := set(reverseKey(dataset.NodeType(t), ids[i]), v); err != nil {
				return meta, err
			}
		}
	}
	// 's': schemas.
	for t := range schemas {
		js, err := json.Marshal(schemas[t])
		if err != nil {
			return meta, fmt.Errorf("featurestore: commit %q: %s schema: %w", ds.Name, dataset.NodeType(t), err)
		}
		if err := set(key2(kindSchema, byte(t)), js); err != nil {
			return meta, err
		}
	}
	if err := canceled(); err != nil {
		return meta, err
	}
	if err := sink.finish(); err != nil {
		return meta, err
	}
	return meta, nil
}

func (m metaRecord) stats(version string, bytes int64) Stats {
	return Stats{
		Name:           m.Name,
		FormatVersion:  m.FormatVersion,
		Fingerprint:    m.Fingerprint,
		Users:          m.Users,
		Items:          m.Items,
		TrainEdges:     m.TrainEdges,
		TestEdges:      m.TestEdges,
		GraphEdges:     m.GraphEdges,
		UserFeatureDim: m.UserFeatureDim,
		ItemFeatureDim: m.ItemFeatureDim,
		Version:        version,
		BytesOnDisk:    bytes,
		CreatedAt:      m.CreatedAt,
	}
}

// lockDir takes an exclusive, non-blocking flock on path.
func lockDir(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s (another commit running?): %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// removeMatching removes the entries of dir named prefix* except keep.
func removeMatching(dir, prefix, keep string, log *slog.Logger) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		log.Warn("featurestore: listing store dir", "dir", dir, "err", err)
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) && e.Name() != keep {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				log.Warn("featurestore: removing old dir", "dir", e.Name(), "err", err)
			}
		}
	}
}

// writeCurrent points dir/CURRENT at version, atomically and durably
// (atomicfile: temp file, fsync, rename, fsync of dir).
func writeCurrent(dir, version string) error {
	o := atomicfile.Options{TempPattern: currentFile + ".tmp-*"}
	return o.Write(filepath.Join(dir, currentFile), func(w io.Writer) error {
		_, err := io.WriteString(w, version+"\n")
		return err
	})
}

// syncTree fsyncs every file under dir and dir itself.
func syncTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := f.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
			return fmt.Errorf("sync %s: %w", p, err)
		}
		return nil
	})
}

// dirBytes sums the sizes of the regular files under dir.
func dirBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n, err
}
