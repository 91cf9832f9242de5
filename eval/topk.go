package eval

import (
	"cmp"
	"math"
	"slices"
)

// Scored is one candidate item with its score.
type Scored struct {
	Item  uint32
	Score float32
}

// negInf is the score that masks an item out of a score row: TopK never
// returns an entry scoring -Inf (or NaN).
func negInf() float32 { return float32(math.Inf(-1)) }

// Mask writes -Inf into scores at the given item indices so TopK and the
// full-ranking counts skip them.
func Mask(scores []float32, items []uint32) {
	ninf := negInf()
	for _, j := range items {
		scores[j] = ninf
	}
}

// better reports whether a ranks before b: higher score first, ties broken
// by the lower item index. This is the one ordering used everywhere in the
// package (top-K lists, full-ranking MRR, HitRateMRR), so results never
// depend on scan order or partitioning.
func better(a, b Scored) bool {
	return a.Score > b.Score || (a.Score == b.Score && a.Item < b.Item)
}

// TopK appends to dst[:0] the k best entries of scores, best first (score
// descending, ties by ascending item index), and returns it. Entries scoring
// -Inf or NaN (masked items) are never returned, so the result has fewer
// than k entries when fewer valid items exist. Reusing dst across calls
// avoids allocation.
//
// It keeps a k-sized min-heap whose root is the worst kept entry; one pass
// over the row costs one compare per item plus O(log k) per replacement,
// with no full sort (only the k kept entries are sorted at the end).
func TopK(dst []Scored, scores []float32, k int) []Scored {
	h := dst[:0]
	if k <= 0 {
		return h
	}
	ninf := negInf()
	j := 0
	// Fill phase: the first k valid items.
	for ; j < len(scores) && len(h) < k; j++ {
		s := scores[j]
		if !(s > ninf) { // -Inf or NaN
			continue
		}
		h = append(h, Scored{Item: uint32(j), Score: s})
	}
	if len(h) == k {
		for i := k/2 - 1; i >= 0; i-- {
			siftDown(h, i)
		}
		// Scan phase. Items arrive in ascending index order, so an item
		// tying the root's score has a higher index than the root and ranks
		// after it: only a strictly greater score enters.
		thr := h[0].Score
		// Four items per step: one well-predicted branch chain in the
		// common case (nothing enters): ~0.6 ns/item on the 2-core box
		// (BenchmarkEvaluateGowallaSize spends ~1 CPU-s here per eval).
		for ; j+4 <= len(scores); j += 4 {
			q := scores[j : j+4 : j+4]
			if q[0] > thr || q[1] > thr || q[2] > thr || q[3] > thr {
				for o, s := range q {
					if s > thr {
						h[0] = Scored{Item: uint32(j + o), Score: s}
						siftDown(h, 0)
						thr = h[0].Score
					}
				}
			}
		}
		for ; j < len(scores); j++ {
			s := scores[j]
			if s > thr {
				h[0] = Scored{Item: uint32(j), Score: s}
				siftDown(h, 0)
				thr = h[0].Score
			}
		}
	}
	slices.SortFunc(h, func(a, b Scored) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.Item, b.Item)
	})
	return h
}

// siftDown restores the min-heap (root = worst entry) below i.
func siftDown(h []Scored, i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		w := l // the worse child
		if r := l + 1; r < n && better(h[l], h[r]) {
			w = r
		}
		if !better(h[i], h[w]) {
			return
		}
		h[i], h[w] = h[w], h[i]
		i = w
	}
}

// rankOf returns the 1-based rank of item t (score st) among the valid
// entries of scores under the package order: 1 + the number of unmasked
// items that rank before t. Items before t tie-break ahead of it (>=),
// items after it only when strictly greater; the loops are branch-free
// counts (Go compiles the conditional increments to SETcc/ADD).
func rankOf(scores []float32, t uint32, st float32) int {
	// Plain loops: ~0.55 ns/item here; a 4-accumulator unroll measured
	// slower (the SETcc byte writes serialise on one register).
	n := 0
	for _, s := range scores[:t] {
		n += b2i(s >= st)
	}
	for _, s := range scores[t+1:] {
		n += b2i(s > st)
	}
	return n + 1
}

// b2i is 1 for true and 0 for false, without a branch.
func b2i(b bool) int {
	var i int
	if b {
		i = 1
	}
	return i
}
