package producer

import (
	"fmt"
	"math"
	"time"

	"github.com/trainerd/trainerd/batch"
	"github.com/trainerd/trainerd/dataset"
)

// hard draws HardPer hard negatives per example from the personalized
// PageRank rank window [RankLo, RankHi) of its query (see hardFor).
func (s *Sampler) hard(sc *scratch, epoch, index int, p EpochParams, dst *batch.Batch) error {
	dst.HardPer = p.HardPer
	dst.Hard = dst.Hard[:0]
	if p.HardPer == 0 {
		return nil
	}
	t0 := time.Now()
	defer func() { s.hardNS.Add(int64(time.Since(t0))) }()
	for j := range dst.Query {
		var err error
		dst.Hard, err = s.hardFor(sc, epoch, index, j, p, dst.Query[j], dst.Pos[j], dst.Hard)
		if err != nil {
			return err
		}
	}
	return nil
}

// hardFor appends p.HardPer hard negatives of example j (query q, positive
// pos, global ids). Items are ranked by Monte-Carlo PPR from q (Pixie walks
// with restart α, Hard.Steps steps, counting items; ties by smaller id,
// unvisited items last by id) after removing the query's positives (a user's
// train items; for an item query the query and pos). The window is clamped
// to the number of ranked items, keeping its width when it falls beyond.
func (s *Sampler) hardFor(sc *scratch, epoch, index, j int, p EpochParams, q, pos uint32, out []uint32) ([]uint32, error) {
	nextGen(&sc.hgen, sc.hmark)
	hm, hg := sc.hmark, sc.hgen
	nu := uint32(s.nu)
	side, local := s.split(q)
	positives := 0
	markPos := func(v uint32) {
		if v >= nu && hm[v] != hg {
			hm[v] = hg
			positives++
		}
	}
	if side == dataset.User {
		for _, it := range s.g.ItemsOf(local) {
			markPos(nu + it)
		}
	} else {
		markPos(q)
	}
	cached := s.cfg.Hard.Candidates > 0
	if !cached {
		// Cached candidates must not depend on the example: an item
		// query's pos is skipped when picking instead.
		markPos(pos)
	}
	allowed := s.ni - positives
	if allowed <= 0 {
		return out, fmt.Errorf("producer: epoch %d batch %d example %d: query %d has no non-positive item for hard negatives", epoch, index, j, q)
	}
	hi := min(p.RankHi, allowed)
	lo := p.RankLo
	if lo >= hi {
		lo = max(0, hi-(p.RankHi-p.RankLo))
	}
	pick := newRNG(streamKey(s.cfg.Seed, tagHard, uint64(epoch), uint64(index), uint64(j)))
	if C := s.cfg.Hard.Candidates; cached {
		// The walk depends on (seed, epoch, q, window) only, so one walk per
		// query and epoch serves all its examples through the cache.
		cands := sc.cands[:C]
		if !s.hcache.get(epoch, q, cands) {
			s.windowSample(sc, epoch, side, local, lo, hi, p.RankHi, cands)
			s.hcache.put(epoch, q, cands)
		}
		for h := 0; h < p.HardPer; h++ {
			v := cands[pick.intn(uint32(C))]
			for tries := 0; v == pos && tries < 4*C; tries++ { // an item query's pos
				v = cands[pick.intn(uint32(C))]
			}
			out = append(out, v)
		}
		return out, nil
	}
	w := s.pprRank(sc, epoch, side, local, p.RankHi)
	ranked := w.ranked(func(v uint32) bool { return hm[nu+v] == hg })
	for h := 0; h < p.HardPer; h++ {
		out = append(out, s.atRank(sc, w, ranked, lo+int(pick.intn(uint32(hi-lo)))))
	}
	w.reset()
	return out, nil
}

// pprRank runs the Monte-Carlo PPR walks of a query (randomness from
// (seed, epoch, q)) and returns the walker holding the item visit counts.
func (s *Sampler) pprRank(sc *scratch, epoch int, side dataset.NodeType, local uint32, rankHi int) *walker {
	steps := s.cfg.Hard.Steps
	if steps == 0 {
		steps = 4 * rankHi
	}
	w := sc.w
	r := newRNG(streamKey(s.cfg.Seed, tagPPR, uint64(epoch), uint64(s.global(side, local)), 0))
	w.pixie(side, local, side == dataset.User, s.alphaT, steps, math.MaxInt32, -1, &r)
	return w
}

// atRank returns the global id of the item at rank rk: a visited item by
// visit count, or beyond them the unvisited non-positive items in id order.
// The current hard query's positives are marked in sc.hmark.
func (s *Sampler) atRank(sc *scratch, w *walker, ranked []uint64, rk int) uint32 {
	nu := uint32(s.nu)
	if rk < len(ranked) {
		return nu + uint32(ranked[rk])
	}
	want := rk - len(ranked)
	cnt := w.cnt[dataset.Item]
	last := uint32(0)
	for it := 0; it < s.ni; it++ {
		if cnt[it] != 0 || sc.hmark[nu+uint32(it)] == sc.hgen {
			continue
		}
		last = nu + uint32(it)
		if want == 0 {
			return last
		}
		want--
	}
	return last
}

// windowSample fills cands with a uniform sample (with replacement) of the
// rank window [lo, hi) of the query's PPR ranking, positives removed; its
// randomness derives from (seed, epoch, query) so that every producer
// computes the same candidates.
func (s *Sampler) windowSample(sc *scratch, epoch int, side dataset.NodeType, local uint32, lo, hi, rankHi int, cands []uint32) {
	nu := uint32(s.nu)
	w := s.pprRank(sc, epoch, side, local, rankHi)
	ranked := w.ranked(func(v uint32) bool { return sc.hmark[nu+v] == sc.hgen })
	r := newRNG(streamKey(s.cfg.Seed, tagHard, uint64(epoch), uint64(s.global(side, local)), 1<<40))
	for c := range cands {
		cands[c] = s.atRank(sc, w, ranked, lo+int(r.intn(uint32(hi-lo))))
	}
	w.reset()
}
