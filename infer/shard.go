package infer

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxShards bounds a shard count (file names carry five-digit indices).
const MaxShards = 99999

// ErrShardSpec: a shard specification is malformed or out of range.
var ErrShardSpec = errors.New("bad shard spec")

// Shard is shard Index (0-based) of Count.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// String is the "i/N" form ParseShard reads.
func (s Shard) String() string { return strconv.Itoa(s.Index) + "/" + strconv.Itoa(s.Count) }

// Validate checks 1 <= Count <= MaxShards and 0 <= Index < Count.
func (s Shard) Validate() error {
	if s.Count < 1 || s.Count > MaxShards {
		return fmt.Errorf("%w: shard count %d must be between 1 and %d", ErrShardSpec, s.Count, MaxShards)
	}
	if s.Index < 0 || s.Index >= s.Count {
		return fmt.Errorf("%w: shard index %d is outside 0..%d (indices are 0-based: i/N with 0 <= i < N)", ErrShardSpec, s.Index, s.Count-1)
	}
	return nil
}

// ParseShard reads "i/N": shard i (0-based) of N, e.g. "0/16" to "15/16".
// Errors wrap ErrShardSpec and quote the input.
func ParseShard(spec string) (Shard, error) {
	is, ns, ok := strings.Cut(spec, "/")
	if !ok {
		return Shard{}, fmt.Errorf("%w: %q is not i/N (shard i of N, 0-based, e.g. 0/16)", ErrShardSpec, spec)
	}
	i, err1 := strconv.Atoi(strings.TrimSpace(is))
	n, err2 := strconv.Atoi(strings.TrimSpace(ns))
	if err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("%w: %q is not i/N with integers i and N (e.g. 0/16)", ErrShardSpec, spec)
	}
	s := Shard{Index: i, Count: n}
	if err := s.Validate(); err != nil {
		return Shard{}, fmt.Errorf("%q: %w", spec, err)
	}
	return s, nil
}

// suffix is the file-name part "00003-of-00016".
func (s Shard) suffix() string { return fmt.Sprintf("%05d-of-%05d", s.Index, s.Count) }

// Range is a run of global node ids [Lo, Hi).
type Range struct{ Lo, Hi int }

// Len is Hi-Lo.
func (r Range) Len() int { return r.Hi - r.Lo }

// NodeRange returns the global ids shard s covers among n nodes whose
// embedding is computed in chunks of chunk ids (1 when any split is
// exact): the ceil(n/chunk) chunks are split as evenly as possible and
// shard i takes chunks [C·i/N, C·(i+1)/N). Shards tile [0, n) in order;
// some are empty when there are fewer chunks than shards.
func NodeRange(n, chunk int, s Shard) Range {
	chunk = max(chunk, 1)
	c := (n + chunk - 1) / chunk
	lo := c * s.Index / s.Count
	hi := c * (s.Index + 1) / s.Count
	return Range{Lo: min(lo*chunk, n), Hi: min(hi*chunk, n)}
}

// split divides a global range into its users part and its items part,
// each in local (per-type) ids.
func split(r Range, numUsers int) (users, items Range) {
	users = Range{Lo: min(r.Lo, numUsers), Hi: min(r.Hi, numUsers)}
	items = Range{Lo: max(r.Lo, numUsers) - numUsers, Hi: max(r.Hi, numUsers) - numUsers}
	return users, items
}
