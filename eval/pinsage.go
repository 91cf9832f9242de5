package eval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/trainerd/trainerd/linalg"
)

// Pair is one PinSage evaluation pair: a query (a row of the query matrix,
// e.g. a user or a pin) and the item that truly followed it.
type Pair struct {
	Query uint32
	Item  uint32
}

// RankOptions configures HitRateMRR. The zero value ranks every true item
// among all items, reports hit@20 and plain MRR.
type RankOptions struct {
	// K is the hit-rate cutoff: a pair is a hit when its true item ranks
	// ≤ K. Default 0: DefaultK (PinSage reported K=500 among millions).
	K int
	// Candidates is the number of negatives sampled per pair, uniformly
	// without replacement from the items other than the true item and the
	// excluded ones; the true item is ranked among them (Candidates+1
	// items). Default 0: all items are candidates (full ranking).
	Candidates int
	// Seed makes sampling deterministic: pair i draws from a PCG seeded
	// with (Seed, i), so results do not depend on the worker count.
	Seed uint64
	// Exclude, when not nil, returns items removed from query q's
	// candidate set (e.g. the query user's train items); the true item is
	// never removed and ids ≥ the item count are ignored. It is called
	// from several goroutines at once. Default nil: nothing excluded.
	Exclude func(query uint32) []uint32
	// MRRScale, when > 1, adds the PinSage "scaled MRR" mean 1/⌈r/MRRScale⌉
	// under key "mrr_scaled" (PinSage used 100). Default 0: not reported.
	MRRScale float64
	// BlockSize is the number of pairs scored per GEMM block in full
	// ranking. Default 0: DefaultBlockSize.
	BlockSize int
	// Workers is the number of goroutines. Default 0: GOMAXPROCS.
	Workers int
}

// HitRateMRR runs the PinSage protocol: for each pair, the true item is
// ranked among the candidate set by inner product with the query's row of
// queries (NumQueries×dim), in the package order (score descending, ties
// by lower item id), giving its 1-based rank r. It returns Metrics with
// "hit@K" (fraction of pairs with r ≤ K), "mrr" (mean 1/r over the whole
// candidate ranking, not truncated), "mrr_scaled" when opts.MRRScale > 1,
// and "pairs" (the number of pairs).
func HitRateMRR(ctx context.Context, queries, items []float32, dim int, pairs []Pair, opts RankOptions) (Metrics, error) {
	if opts.K == 0 {
		opts.K = DefaultK
	}
	if opts.K < 0 || opts.Candidates < 0 {
		return nil, fmt.Errorf("eval: HitRateMRR: negative K (%d) or Candidates (%d)", opts.K, opts.Candidates)
	}
	if opts.BlockSize <= 0 {
		opts.BlockSize = DefaultBlockSize
	}
	eo := Options{Workers: opts.Workers}.EnsureDefaults()
	if dim <= 0 || len(queries)%dim != 0 || len(items)%dim != 0 {
		return nil, fmt.Errorf("eval: HitRateMRR: %d query and %d item values do not divide into dim %d", len(queries), len(items), dim)
	}
	nq, ni := len(queries)/dim, len(items)/dim
	if ni == 0 {
		return nil, errors.New("eval: HitRateMRR: no items")
	}
	for i, p := range pairs {
		if int(p.Query) >= nq || int(p.Item) >= ni {
			return nil, fmt.Errorf("eval: HitRateMRR: pair %d (%d,%d) out of range (%d queries, %d items)", i, p.Query, p.Item, nq, ni)
		}
	}
	ranks := make([]int, len(pairs))
	var err error
	if opts.Candidates == 0 {
		err = fullRanks(ctx, queries, items, dim, pairs, opts, eo.Workers, ranks)
	} else {
		err = sampledRanks(ctx, queries, items, dim, pairs, opts, eo.Workers, ranks)
	}
	if err != nil {
		return nil, err
	}
	var hits, rr, scaled float64
	for _, r := range ranks {
		if r <= opts.K {
			hits++
		}
		rr += 1 / float64(r)
		if opts.MRRScale > 1 {
			scaled += 1 / math.Ceil(float64(r)/opts.MRRScale)
		}
	}
	n := float64(len(pairs))
	m := Metrics{"pairs": n, Key("hit", opts.K): 0, "mrr": 0}
	if n > 0 {
		m[Key("hit", opts.K)] = hits / n
		m["mrr"] = rr / n
	}
	if opts.MRRScale > 1 {
		m["mrr_scaled"] = 0
		if n > 0 {
			m["mrr_scaled"] = scaled / n
		}
	}
	return m, nil
}

// fullRanks ranks each true item among all items, blocks of pairs per GEMM.
func fullRanks(ctx context.Context, queries, items []float32, dim int, pairs []Pair, opts RankOptions, workers int, ranks []int) error {
	ni := len(items) / dim
	bs := opts.BlockSize
	nBlocks := (len(pairs) + bs - 1) / bs
	type state struct{ qblock, scores []float32 }
	workers = min(workers, max(nBlocks, 1))
	states := make([]state, workers)
	return parallelBlocks(ctx, nBlocks, workers, func(w, b int) {
		st := &states[w]
		if st.scores == nil {
			st.qblock = make([]float32, bs*dim)
			st.scores = make([]float32, bs*ni)
		}
		blk := pairs[b*bs : min((b+1)*bs, len(pairs))]
		for r, p := range blk {
			copy(st.qblock[r*dim:(r+1)*dim], queries[int(p.Query)*dim:int(p.Query+1)*dim])
		}
		linalg.Sgemm(false, true, len(blk), ni, dim, 1, st.qblock, dim, items, dim, 0, st.scores, ni)
		for r, p := range blk {
			row := st.scores[r*ni : (r+1)*ni]
			s := row[p.Item]
			if opts.Exclude != nil {
				for _, j := range opts.Exclude(p.Query) {
					if int(j) < ni { // ignore out-of-range ids, as the sampled path does
						row[j] = negInf()
					}
				}
			}
			ranks[b*bs+r] = rankOf(row, p.Item, s)
		}
	})
}

// sampledRanks ranks each true item among opts.Candidates sampled items.
func sampledRanks(ctx context.Context, queries, items []float32, dim int, pairs []Pair, opts RankOptions, workers int, ranks []int) error {
	ni := len(items) / dim
	const bs = 256 // pairs per work unit
	nBlocks := (len(pairs) + bs - 1) / bs
	type state struct {
		stamp []uint32 // stamp[j] == gen: item j is taken or excluded for this pair
		gen   uint32
	}
	workers = min(workers, max(nBlocks, 1))
	states := make([]state, workers)
	return parallelBlocks(ctx, nBlocks, workers, func(w, b int) {
		st := &states[w]
		if st.stamp == nil {
			st.stamp = make([]uint32, ni)
		}
		for i := b * bs; i < min((b+1)*bs, len(pairs)); i++ {
			p := pairs[i]
			st.gen++
			if st.gen == 0 { // wrapped: clear stale stamps
				clear(st.stamp)
				st.gen = 1
			}
			st.stamp[p.Item] = st.gen
			avail := ni - 1
			if opts.Exclude != nil {
				for _, j := range opts.Exclude(p.Query) {
					if int(j) < ni && st.stamp[j] != st.gen {
						st.stamp[j] = st.gen
						avail--
					}
				}
			}
			q := queries[int(p.Query)*dim : int(p.Query+1)*dim]
			truth := Scored{Item: p.Item, Score: dot(q, items[int(p.Item)*dim:int(p.Item+1)*dim])}
			rank := 1
			count := func(j int) {
				if better(Scored{Item: uint32(j), Score: dot(q, items[j*dim:(j+1)*dim])}, truth) {
					rank++
				}
			}
			if opts.Candidates >= avail {
				// Every remaining item is a candidate.
				for j := 0; j < ni; j++ {
					if st.stamp[j] != st.gen {
						count(j)
					}
				}
			} else {
				rng := rand.New(rand.NewPCG(opts.Seed, uint64(i)))
				for c := 0; c < opts.Candidates; {
					j := rng.IntN(ni)
					if st.stamp[j] == st.gen {
						continue
					}
					st.stamp[j] = st.gen
					count(j)
					c++
				}
			}
			ranks[i] = rank
		}
	})
}

// dot is the float32 inner product, accumulated in order.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s float32
	for i, x := range a {
		s += x * b[i]
	}
	return s
}
