// Package ingest owns the parsers that turn interaction files into a
// *dataset.Dataset: LightGCN "user item item ..." lists (Gowalla, Yelp2018,
// Amazon-Book), the MovieLens 100K directory (u.data, u.item, u.user) and
// generic delimited files (CSV/TSV edges plus optional feature files), and the
// train/test splits applied when no test file is given.
//
// Parsers read and validate everything in memory and return either a complete
// Dataset or exactly one *Error naming the offending FILE:LINE. They never
// touch a store: cmd/trainerd hands the result to featurestore.Commit only
// after parsing succeeded, so bad input leaves the store unchanged.
//
// Dense ids. Numeric-id formats (lightgcn, movielens) give users and items
// dense ids in ascending order of their integer external id, so already-dense
// sources such as Gowalla keep their ids (external "17" is dense 17). The
// external id stored in the Dataset is the canonical decimal form of the
// integer ("007" and "7" are the same node, recorded as "7"). The csv format
// treats ids as opaque strings and numbers them in order of first appearance
// (edges file first, train before test).
package ingest

import (
	"context"
	"sync/atomic"
)

// Progress receives parse progress. Parsers add to its counters as they go
// (in chunks, not per row); a UI polls them from another goroutine. A nil
// *Progress is valid and records nothing.
type Progress struct {
	// Bytes is the number of input bytes consumed so far, over all files.
	Bytes atomic.Int64
	// Rows is the number of data rows (lines or records) parsed so far.
	Rows atomic.Int64
}

func (p *Progress) add(bytes, rows int64) {
	if p == nil {
		return
	}
	p.Bytes.Add(bytes)
	p.Rows.Add(rows)
}

// ctxCheckEvery is how many rows a parser reads between context checks.
const ctxCheckEvery = 1 << 14

func ctxErr(ctx context.Context) error {
	if ctx == nil {
		return nil
	}
	return ctx.Err()
}
