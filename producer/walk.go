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
const maxLanes = 8

// defaultLanes is the number of walks a walker interleaves: enough
// independent row reads in flight to hide most of a cache miss (see
// BenchmarkWalk's lanes=1 vs lanes=4).
const defaultLanes = 4

// pixie runs PinSage Algorithm 2 from node q of side qs: walks restart at q
// after each step with probability α (threshold alphaT), a step is two hops
// (q's side → other side → q's side), and each step counts one visit: the
// node it lands on (opposite=false) or the middle node (opposite=true). It
// stops, at walk boundaries, once maxSteps steps were taken or more than
// stopNodes nodes other than q reached minVisits visits (stopNodes < 0:
// never). The counts stay in w.cnt[w.side] / w.touched until reset.
//
// w.lanes walks run interleaved, one step of each in turn, so their CSR
// reads overlap instead of waiting on each other; a lane starts a new walk
// only while the stopping rule allows and retires otherwise, so every walk
// is complete and the counts keep the law of independent walks from q. The
// random draws are consumed in a fixed order, so results depend only on r.
// The loop is two dependent CSR row reads per hop and no allocation; it
// reaches the figures in BenchmarkWalk.
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
	touched := w.touched
	nv := uint32(minVisits)
	self := q
	if opposite {
		self = math.MaxUint32 // the query is never on the counted side
	}
	lanes := min(max(w.lanes, 1), maxLanes)
	var cur [maxLanes]uint32
	for l := range lanes {
		cur[l] = q
	}
	total, high, walks := 0, 0, lanes
	for live := lanes; live > 0; {
		for l := 0; l < live; l++ {
			r1 := r.next()
			c0 := cur[l]
			s0, e0 := fromPtr[c0], fromPtr[c0+1]
			mid := fromAdj[s0+uint32((r1&0xffffffff)*uint64(e0-s0)>>32)]
			s1, e1 := backPtr[mid], backPtr[mid+1]
			nxt := backAdj[s1+uint32((r1>>32)*uint64(e1-s1)>>32)]
			cur[l] = nxt
			v := nxt
			if opposite {
				v = mid
			}
			c := cnt[v] + 1
			cnt[v] = c
			if c == 1 {
				touched = append(touched, v)
			}
			if c == nv && v != self {
				high++
			}
			total++
			if uint32(r.next()) < alphaT { // this walk ends
				if total < maxSteps && (stopNodes < 0 || high <= stopNodes) {
					walks++
					cur[l] = q
				} else { // retire the lane: move the last live one here
					live--
					cur[l] = cur[live]
					l--
				}
			}
		}
	}
	w.touched = touched
	w.walks += uint64(walks)
	w.steps += uint64(total)
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
