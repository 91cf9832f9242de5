package featurestore

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"syscall"

	"github.com/trainerd/trainerd/dataset"
)

// Disk space. Badger writes its tables and value log through mmap: a write
// into a page the filesystem cannot back raises SIGBUS and kills the process
// instead of returning ENOSPC. Commit therefore bounds the bytes the new
// version will take before it opens Badger, refuses with an error wrapping
// syscall.ENOSPC when the filesystem lacks them, and holds them in a
// reservation file (fallocate) that it shrinks as it hands keys to Badger,
// so that another writer on the same filesystem cannot take the space either.
//
// The bound follows Badger's table format (table/builder.go): an entry is a
// 4-byte header, the key with its 8-byte version, a value struct (meta,
// user meta, uvarint expiry: 3 bytes) and the value, plus a 4-byte offset in
// its block and about 10 bits in the table's bloom filter. A block (4 KiB)
// ends with its offsets, count and checksum and costs its base key plus 40
// bytes in the table index; a block closes only when the next entry would
// overflow it, so either the block or the entry that follows it holds over
// 2 KiB: at most one block per KiB of entries, plus one per table. A value over the value threshold (1 MiB) goes to the value log
// with a header, the key and a checksum, and the table holds a 12-byte
// pointer. Each file wastes up to one filesystem block.
const (
	// spaceEntry bounds the per-entry table bytes besides the key and value.
	spaceEntry = 4 + 8 + 3 + 4 + 2
	// spaceBlockEntries is the entry bytes per block the count of blocks is
	// bounded by.
	spaceBlockEntries = 1 << 10
	// spaceBlock bounds a block's trailer (count, checksum, its length) and
	// index entry (40 bytes, base key rounded up to 4) besides the base key.
	spaceBlock = 4 + 16 + 4 + 40 + 4
	// spaceTableCap is less than the data Badger puts in one table
	// (0.95 × BaseTableSize, 2 MiB), so tables ≤ bytes/spaceTableCap + 1.
	spaceTableCap = 1 << 20
	// spaceTable bounds a table's index header, bloom header and checksums.
	spaceTable = 1 << 10
	// spaceVlogThreshold is Badger's default value threshold: larger values
	// go to the value log.
	spaceVlogThreshold = 1 << 20
	// spaceVlogEntry bounds a value-log entry's header and checksum.
	spaceVlogEntry = 22 + 4
	// spaceFixed bounds what Badger writes besides tables and value-log
	// entries: MANIFEST, KEYREGISTRY, DISCARD, the value-log and memtable
	// headers, in spaceFixedFiles files.
	spaceFixed      = 64 << 10
	spaceFixedFiles = 16
	// sealOverhead bounds sealBlock's header: codec, uvarint length, CRC.
	sealOverhead = 1 + 10 + 4
)

// spaceUse accumulates the keys of a version for the disk bound.
type spaceUse struct {
	entries int64
	bytes   int64 // keys and values
	vlog    int64 // extra bytes of values in the value log
	maxKey  int
}

// add records one key of k bytes with a value of v bytes.
func (u *spaceUse) add(k, v int) {
	u.entries++
	u.bytes += int64(k + v)
	u.maxKey = max(u.maxKey, k)
	if v > spaceVlogThreshold {
		u.vlog += int64(k + spaceVlogEntry + 12)
	}
}

// bound is the most bytes Badger's tables and value log take for the keys
// recorded, on a filesystem with blocks of fsBlock bytes. It grows
// monotonically as keys are added, so the difference between two calls
// bounds what the keys added in between cost.
func (u *spaceUse) bound(fsBlock int64) int64 {
	if u.entries == 0 {
		return 0
	}
	entryBytes := u.bytes + u.entries*spaceEntry
	tables := entryBytes/spaceTableCap + 1
	blocks := entryBytes/spaceBlockEntries + tables
	return entryBytes + u.vlog +
		blocks*int64(spaceBlock+u.maxKey+8) +
		tables*(spaceTable+fsBlock)
}

// fixedBound is the most bytes Badger writes outside tables and value-log
// entries.
func fixedBound(fsBlock int64) int64 { return spaceFixed + spaceFixedFiles*fsBlock }

// uvarintLen is the length of binary.AppendUvarint(nil, x).
func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

// varintLen is the length of binary.AppendVarint(nil, x).
func varintLen(x int64) int { return uvarintLen(uint64(x<<1) ^ uint64(x>>63)) }

// idsLen is len(encodeIDs(ids)).
func idsLen(ids []string) int {
	n := 0
	for _, s := range ids {
		n += uvarintLen(uint64(len(s))) + len(s)
	}
	return n
}

// interactionsLen is len(encodeInteractions(es)).
func interactionsLen(es []dataset.Interaction) int {
	n := uvarintLen(uint64(len(es))) + 1
	var pu, pi, pt int64
	allOne := true
	for _, e := range es {
		n += varintLen(int64(e.User)-pu) + varintLen(int64(e.Item)-pi) + varintLen(e.Time-pt)
		pu, pi, pt = int64(e.User), int64(e.Item), e.Time
		allOne = allOne && e.Weight == 1
	}
	if !allOne {
		n += 4 * len(es)
	}
	return n
}

// adjacencyLen is len(encodeAdjacency(ptr, adj, lo, hi)).
func adjacencyLen(ptr, adj []uint32, lo, hi int) int {
	n := 0
	for r := lo; r < hi; r++ {
		n += uvarintLen(uint64(ptr[r+1] - ptr[r]))
		prev := uint32(0)
		for _, v := range adj[ptr[r]:ptr[r+1]] {
			n += uvarintLen(uint64(v - prev))
			prev = v
		}
	}
	return n
}

// errNoSpace builds the error Commit returns when dir's filesystem lacks
// need bytes; it wraps syscall.ENOSPC.
func errNoSpace(dir string, need, free int64) error {
	return fmt.Errorf("featurestore: commit %s: %w: the new version needs up to %s and the filesystem has %s free "+
		"(the current version stays until the new one is complete)", dir, syscall.ENOSPC, mib(need), mib(free))
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// reservation holds disk space in a file until it is handed to Badger.
type reservation struct {
	f    *os.File // nil when the filesystem cannot preallocate
	size int64
}

// reserve checks that avail, the bytes free on dir's filesystem (negative:
// unknown), covers need and holds need bytes in a new file at path.
func reserve(dir, path string, need, avail int64) (*reservation, error) {
	if avail >= 0 && avail < need {
		return nil, errNoSpace(dir, need, avail)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("featurestore: commit %s: reserve space: %w", dir, err)
	}
	r := &reservation{f: f, size: need}
	if err := fallocate(f, need); err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			r.close()
			if avail < 0 {
				return nil, fmt.Errorf("featurestore: commit %s: %w: the new version needs up to %s", dir, syscall.ENOSPC, mib(need))
			}
			return nil, errNoSpace(dir, need, avail)
		}
		if !errors.Is(err, errors.ErrUnsupported) {
			r.close()
			return nil, fmt.Errorf("featurestore: commit %s: reserve %s: %w", dir, mib(need), err)
		}
		// No preallocation here: the statfs check above is all there is.
		r.f.Close()
		os.Remove(path)
		r.f = nil
	}
	return r, nil
}

// release gives n reserved bytes back to the filesystem for Badger to use.
func (r *reservation) release(n int64) error {
	if r == nil || n <= 0 {
		return nil
	}
	r.size = max(r.size-n, 0)
	if r.f == nil {
		return nil
	}
	if err := r.f.Truncate(r.size); err != nil {
		return fmt.Errorf("featurestore: release reserved space: %w", err)
	}
	return nil
}

// close releases all that is left and removes the file.
func (r *reservation) close() {
	if r == nil || r.f == nil {
		return
	}
	r.f.Close()
	os.Remove(r.f.Name())
	r.f = nil
}
