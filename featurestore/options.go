package featurestore

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// FormatVersion is the on-disk format this build writes and reads.
const FormatVersion = 1

// Block sizes of the packed values (see the key layout in the package doc).
const (
	// IDBlock is the number of external ids per 'n' block.
	IDBlock = 4096
	// InteractionBlock is the number of interactions per 'i' block.
	InteractionBlock = 1 << 16
	// AdjBlock is the number of nodes per 'a' adjacency block.
	AdjBlock = 8192
)

// MaxIDBytes is the longest external id a store holds. Every id is also a
// key ('r' type id), and Badger's table format caps keys at 64 KiB; ids are
// names, not payloads, so the limit is far below that.
const MaxIDBytes = 1024

// Sentinel errors; test with errors.Is.
var (
	// ErrNoDataset means the directory holds no committed data set.
	ErrNoDataset = errors.New("featurestore: no committed data set")
	// ErrUnknownID means a dense id is out of range or an external id is not
	// in the store.
	ErrUnknownID = errors.New("featurestore: unknown id")
	// ErrCorrupt means stored content failed a consistency check (checksum,
	// missing key, out-of-range value).
	ErrCorrupt = errors.New("featurestore: corrupt store")
	// ErrFormat means the store was written in a format version this build
	// cannot read.
	ErrFormat = errors.New("featurestore: unsupported format version")
)

// Options configures Open. The zero value opens the store read-write with
// slog.Default() as logger.
type Options struct {
	// InMemory opens an empty in-memory Badger instead of dir; only useful
	// together with OpenMemory. Default false.
	InMemory bool
	// ReadOnly opens the version with a shared lock so several processes can
	// read it at once; nothing is written. Default false (exclusive lock).
	ReadOnly bool
	// Logger receives Badger's warnings and errors (its info lines go to
	// Debug). Default nil: slog.Default().
	Logger *slog.Logger
	// FeatureCacheBytes bounds the in-memory feature cache: a node type
	// whose whole feature matrix fits is read once (one sequential scan, on
	// first use) and FetchFeatures then copies from memory instead of doing
	// one Badger Get per node. Default 0 means DefaultFeatureCacheBytes;
	// negative disables the cache.
	FeatureCacheBytes int64
}

// DefaultFeatureCacheBytes is the feature cache bound used when
// Options.FeatureCacheBytes is 0 (256 MiB per node type).
const DefaultFeatureCacheBytes = 256 << 20

// WithFeatureCacheBytes returns a copy of opt with FeatureCacheBytes set.
// Default 0 (DefaultFeatureCacheBytes); negative disables the cache.
func (opt Options) WithFeatureCacheBytes(n int64) Options { opt.FeatureCacheBytes = n; return opt }

func (opt Options) cacheLimit() int64 {
	if opt.FeatureCacheBytes == 0 {
		return DefaultFeatureCacheBytes
	}
	return opt.FeatureCacheBytes
}

// WithInMemory returns a copy of opt with InMemory set. Default false.
func (opt Options) WithInMemory(b bool) Options { opt.InMemory = b; return opt }

// WithReadOnly returns a copy of opt with ReadOnly set. Default false.
func (opt Options) WithReadOnly(b bool) Options { opt.ReadOnly = b; return opt }

// WithLogger returns a copy of opt with Logger set. Default nil (slog.Default()).
func (opt Options) WithLogger(l *slog.Logger) Options { opt.Logger = l; return opt }

func (opt Options) logger() *slog.Logger {
	if opt.Logger != nil {
		return opt.Logger
	}
	return slog.Default()
}

// badgerLogger adapts slog to badger.Logger. Badger's info lines are chatty
// (one per compaction), so they go to Debug.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) msg(f string, a []any) string { return strings.TrimSpace(fmt.Sprintf(f, a...)) }

func (b badgerLogger) Errorf(f string, a ...any)   { b.l.Error(b.msg(f, a), "component", "badger") }
func (b badgerLogger) Warningf(f string, a ...any) { b.l.Warn(b.msg(f, a), "component", "badger") }
func (b badgerLogger) Infof(f string, a ...any)    { b.l.Debug(b.msg(f, a), "component", "badger") }
func (b badgerLogger) Debugf(f string, a ...any)   { b.l.Debug(b.msg(f, a), "component", "badger") }
