package producer

import (
	"math"
	"slices"

	"github.com/trainerd/trainerd/dataset"
	"github.com/trainerd/trainerd/graph"
)

// walker owns the reusable visit counters of one producer goroutine: a dense
// counter per node of each side plus the list of touched nodes, so a walk
// allocates nothing and resetting costs only what was visited.
type walker struct {
	g       *graph.Bipartite
	cnt     [2][]uint32 // indexed by dataset.NodeType
	touched []uint32    // local ids on side side with cnt > 0
	side    dataset.NodeType
	keys    []uint64 // scratch for ranking

	walks, steps uint64 // local counters, flushed into the Sampler's stats
	lanes        int    // walks interleaved by pixie, in [1, maxLanes]
}

func newWalker(g *graph.Bipartite) *walker {
	return &walker{
		g:       g,
		cnt:     [2][]uint32{make([]uint32, g.NumUsers), make([]uint32, g.NumItems)},
		touched: make([]uint32, 0, 1024),
		lanes:   defaultLanes,
	}
}

// reset zeroes the counters touched by the last walk.
func (w *walker) reset() {
	c := w.cnt[w.side]
	for _, v := range w.touched {
		c[v] = 0
	}
	w.touched = w.touched[:0]
}

// restartThreshold converts α into a 32-bit comparison threshold.
func restartThreshold(alpha float64) uint32 {
	t := alpha * (1 << 32)
	if t >= math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(t)
}

// maxLanes bounds walker.lanes.
const maxLanes = 16

// defaultLanes is the number of walks a walker runs in lockstep: enough
// independent row reads in flight to hide most of a cache miss (see
// BenchmarkWalk's lanes=1, 4, 8 and 16). Lanes stop starting walks once
// the walks in flight are expected to cover the rest of the step budget,
// so the budget stays the mean steps per query for any lane count
// (TestPixieStepBudget).
const defaultLanes = 16

// pixie runs PinSage Algorithm 2 from node q of side qs: walks restart at q
// after each step with probability α (threshold alphaT), a step is two hops
// (q's side → other side → q's side), and each step counts one visit: the
// node it lands on (opposite=false) or the middle node (opposite=true). It
// stops at walk boundaries: a walk that ends is not followed by another
// once the steps taken plus the mean 1/α steps left of each other walk in
// flight reach maxSteps (coverSteps; with one lane, once maxSteps steps
// were taken), or once more than stopNodes nodes other than q reached
// minVisits visits (stopNodes < 0: never). A query therefore takes maxSteps
// steps on average. The counts stay in w.cnt[w.side] / w.touched until
// reset.
//
// w.lanes walks run in lockstep, one step of each per round: first hop of
// every lane, then the second hop of every lane, then the counting. The
// reads of one hop are independent across lanes, so the CPU keeps all of
// them in flight at once instead of waiting out one cache miss per read
// (the chain of a single walk is four dependent reads per step). The coin
// flips (first visit or not, restart or not) are selects, not branches, so
// a mispredicted branch does not flush the next round's reads. A lane
// starts a new walk only while the stopping rule allows and retires
// otherwise, so every walk is complete and the counts keep the law of
// independent walks from q. The random draws are consumed in a fixed
// order, so results depend only on r. No allocation once w.touched has
// grown to the walk's distinct nodes.
func (w *walker) pixie(qs dataset.NodeType, q uint32, opposite bool, alphaT uint32, maxSteps, minVisits, stopNodes int, r *rng) {
	g := w.g
	fromPtr, fromAdj, backPtr, backAdj := g.UserPtr, g.UserAdj, g.ItemPtr, g.ItemAdj
	if qs == dataset.Item {
		fromPtr, fromAdj, backPtr, backAdj = g.ItemPtr, g.ItemAdj, g.UserPtr, g.UserAdj
	}
	w.side = qs
	if opposite {
		w.side = 1 - qs
	}
	if fromPtr[q+1] == fromPtr[q] || maxSteps <= 0 {
		return
	}
	cnt := w.cnt[w.side]
	nv := uint32(minVisits)
	self := q
	if opposite {
		self = math.MaxUint32 // the query is never on the counted side
	}
	lanes := min(max(w.lanes, 1), maxLanes)
	var ln laneState
	cur, mid, end := &ln.cur, &ln.mid, &ln.end
	for l := range lanes {
		cur[l] = q
	}
	touched := w.touched
	n := len(touched)
	total, high, walks := 0, 0, lanes
	cover := coverSteps(lanes-1, alphaT) // steps the other live walks cover
	for live := lanes; live > 0; {
		if cap(touched)-n < live { // room for this round's first visits
			touched = slices.Grow(touched[:n], live)
		}
		buf := touched[:cap(touched)]
		ln.hops(live, fromPtr, fromAdj, backPtr, backAdj, alphaT, r)
		// Count, in lane order; restart or retire the walks that end.
		for l := 0; l < live; l++ {
			v := cur[l]
			if opposite {
				v = mid[l]
			}
			c := cnt[v] + 1
			cnt[v] = c
			buf[n] = v
			n += int(1 - min(c-1, 1)) // keep v on its first visit
			if c == nv && v != self {
				high++
			}
			total++
			// A walk that ends restarts at q (a select, not a branch: it is
			// a coin flip) unless the stopping rule says to retire it.
			e := end[l]
			if (total+cover >= maxSteps || (stopNodes >= 0 && high > stopNodes)) && e != 0 {
				live-- // retire the lane: move the last live one here
				cur[l], mid[l], end[l] = cur[live], mid[live], end[live]
				cover = coverSteps(live-1, alphaT)
				l--
				continue
			}
			walks += int(e)
			m := -e // all ones when the walk ends
			cur[l] = cur[l]&^m | q&m
		}
	}
	w.touched = touched[:n]
	w.walks += uint64(walks)
	w.steps += uint64(total)
}

// coverSteps is how many of the budget's remaining steps the other walks in
// flight cover on average: each has 1/α steps left in expectation, whatever
// it took so far, with α = alphaT/2^32. It is floor(others·2^32/alphaT), so
// for a whole number left of remaining steps, left ≤ coverSteps exactly when
// left·α ≤ others: no rounding decides when a lane retires.
func coverSteps(others int, alphaT uint32) int {
	if others <= 0 {
		return 0
	}
	if alphaT == 0 { // walks never end
		return math.MaxInt32
	}
	return int(uint64(others) << 32 / uint64(alphaT))
}

// laneState holds the walks pixie runs in lockstep.
type laneState struct {
	cur, mid [maxLanes]uint32 // node reached, middle node of the last step
	hop      [maxLanes]uint64 // random bits of the last step's two hops
	end      [maxLanes]uint32 // 1 when the last step ends the walk, else 0
}

// hops takes one step of lanes 0..live-1: the first hop of every lane, then
// the second hop of every lane, so the reads of one hop are in flight
// together. Per lane it draws the hop bits, then the restart bits. The draws
// come first, in a loop of their own, so each hop loop is a few
// instructions per lane: all of its lanes' reads fit in the core's
// out-of-order window at once (docs/design.md).
func (ln *laneState) hops(live int, fromPtr, fromAdj, backPtr, backAdj []uint32, alphaT uint32, r *rng) {
	live = min(live, maxLanes)
	for l := range live {
		ln.hop[l] = r.next()
		// 1 when the draw is below alphaT: the borrow of draw − alphaT.
		ln.end[l] = uint32((uint64(uint32(r.next())) - uint64(alphaT)) >> 63)
	}
	for l := range live {
		c := ln.cur[l]
		s, e := fromPtr[c], fromPtr[c+1]
		ln.mid[l] = fromAdj[s+uint32((ln.hop[l]&0xffffffff)*uint64(e-s)>>32)]
	}
	for l := range live {
		m := ln.mid[l]
		s, e := backPtr[m], backPtr[m+1]
		ln.cur[l] = backAdj[s+uint32((ln.hop[l]>>32)*uint64(e-s)>>32)]
	}
}

// topT writes the (at most T) counted nodes with the highest visit counts,
// ties broken by smaller id, excluding excl, into ids and their counts into
// cnts; it returns how many it wrote. Insertion into a sorted prefix: T is
// small and the touched list a few hundred.
func (w *walker) topT(excl uint32, ids, cnts []uint32) int {
	T := len(ids)
	n := 0
	c := w.cnt[w.side]
	for _, v := range w.touched {
		if v == excl {
			continue
		}
		cv := c[v]
		// position where (cv, v) goes: after entries with larger count or
		// equal count and smaller id.
		if n == T && (cv < cnts[n-1] || (cv == cnts[n-1] && v > ids[n-1])) {
			continue
		}
		j := n
		if n < T {
			n++
		} else {
			j = T - 1
		}
		for j > 0 && (cnts[j-1] < cv || (cnts[j-1] == cv && ids[j-1] > v)) {
			ids[j], cnts[j] = ids[j-1], cnts[j-1]
			j--
		}
		ids[j], cnts[j] = v, cv
	}
	return n
}

// ranked returns the touched nodes with their counts packed as sortable keys
// (count descending, id ascending): key = ^count<<32 | id, sorted ascending.
// skip reports nodes to leave out.
func (w *walker) ranked(skip func(uint32) bool) []uint64 {
	keys := w.keys[:0]
	c := w.cnt[w.side]
	for _, v := range w.touched {
		if skip(v) {
			continue
		}
		keys = append(keys, uint64(^c[v])<<32|uint64(v))
	}
	slices.Sort(keys)
	w.keys = keys
	return keys
}

// sampleDirect fills ids/wts with a uniform sample of the direct neighbors
// nbrs: without replacement when len(nbrs) ≥ T; otherwise all of them (full
// or pad) or T draws with replacement. Empty slots get id self, weight 0.
func sampleDirect(nbrs []uint32, self uint32, mode string, pad bool, ids []uint32, wts []float32, r *rng) {
	T := len(ids)
	d := len(nbrs)
	switch {
	case d == 0:
		for s := range ids {
			ids[s], wts[s] = self, 0
		}
		return
	case d <= T && (mode == "full" || pad || d == T):
		w := 1 / float32(d)
		for s := 0; s < T; s++ {
			if s < d {
				ids[s], wts[s] = nbrs[s], w
			} else {
				ids[s], wts[s] = self, 0
			}
		}
		return
	case d < T: // with replacement
		w := 1 / float32(T)
		for s := range ids {
			ids[s], wts[s] = nbrs[r.intn(uint32(d))], w
		}
		return
	}
	// Floyd's algorithm: T distinct positions of [0,d).
	w := 1 / float32(T)
	n := 0
	for j := d - T; j < d; j++ {
		p := r.intn(uint32(j + 1))
		for s := 0; s < n; s++ {
			if ids[s] == nbrs[p] {
				p = uint32(j)
				break
			}
		}
		ids[n], wts[n] = nbrs[p], w
		n++
	}
}
