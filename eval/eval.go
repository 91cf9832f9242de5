// Package eval owns offline evaluation of trained user and item embeddings:
// the LightGCN full-ranking protocol (Evaluate: recall, NDCG, precision, hit
// rate and MRR at K over all items, train items removed) and the PinSage
// protocol (HitRateMRR: the rank of one true item among a candidate set).
// It also owns the partial top-K selection (TopK) that package serve reuses.
//
// Scores are inner products computed in blocks with linalg.Sgemm. Every
// ranking in the package uses one total order: higher score first, ties
// broken by the lower item index, so results are deterministic and
// independent of the worker count. The package never modifies its inputs.
package eval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/linalg"
)

// DefaultK is the cutoff used when Options.K is zero (LightGCN reports @20).
const DefaultK = 20

// DefaultBlockSize is the number of users scored per GEMM block when
// Options.BlockSize is zero: 256 users × 40,981 Gowalla items is a 42 MB
// score block per worker. 128–1024 measured the same CPU time (6.5 CPU-s
// per Gowalla-size eval); 64 was 10% slower (GEMM packing overhead).
const DefaultBlockSize = 256

// Options configures Evaluate. The zero value evaluates at K=20 with
// DefaultBlockSize and one worker per GOMAXPROCS.
type Options struct {
	// K is the main cutoff. Default 0: DefaultK.
	K int
	// Ks lists further cutoffs computed in the same pass (e.g. {10, 50});
	// duplicates of K are ignored. Default nil.
	Ks []int
	// BlockSize is the number of users per GEMM block; it fixes the
	// partition, so it must not change between runs that are compared
	// bit-for-bit. Default 0: DefaultBlockSize.
	BlockSize int
	// Workers is the number of goroutines scoring blocks in parallel, each
	// calling linalg.Sgemm on its own block; run with
	// OPENBLAS_NUM_THREADS=1 so OpenBLAS does not add threads of its own
	// (measured: 6.1 CPU-s per Gowalla-size eval with 1 thread, 7.9 with
	// OpenBLAS's default). Default 0: runtime.GOMAXPROCS(0). The result
	// does not depend on it.
	Workers int
	// Progress, when non-nil, is called after each block with the number of
	// users just scored and the number of users scored in all (those with
	// test items); the first numbers add up to the second. It may be called
	// from several goroutines at once and does not change the result.
	Progress func(users, total int)
}

// EnsureDefaults returns a copy of o with zero fields set to their defaults.
func (o Options) EnsureDefaults() Options {
	if o.K == 0 {
		o.K = DefaultK
	}
	if o.BlockSize <= 0 {
		o.BlockSize = DefaultBlockSize
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return o
}

// cutoffs returns K and Ks, sorted and de-duplicated.
func (o Options) cutoffs() ([]int, error) {
	ks := append([]int{o.K}, o.Ks...)
	for _, k := range ks {
		if k <= 0 {
			return nil, fmt.Errorf("eval: cutoff K=%d must be positive", k)
		}
	}
	slices.Sort(ks)
	return slices.Compact(ks), nil
}

// Metrics maps metric names to values, e.g. "recall@20", "ndcg@20",
// "precision@20", "hit@20", "mrr@20", "mrr", plus "users" (the number of
// users averaged over). It marshals to one flat JSON object with sorted
// keys. See Evaluate for the exact definitions.
type Metrics map[string]float64

// Key builds a metric key at cutoff k, e.g. Key("recall", 20) = "recall@20".
func Key(name string, k int) string { return name + "@" + strconv.Itoa(k) }

// Recall returns "recall@k".
func (m Metrics) Recall(k int) float64 { return m[Key("recall", k)] }

// NDCG returns "ndcg@k".
func (m Metrics) NDCG(k int) float64 { return m[Key("ndcg", k)] }

// Precision returns "precision@k".
func (m Metrics) Precision(k int) float64 { return m[Key("precision", k)] }

// Hit returns "hit@k", the fraction of users with at least one hit in the top k.
func (m Metrics) Hit(k int) float64 { return m[Key("hit", k)] }

// MRRAt returns "mrr@k", the reciprocal rank truncated at k.
func (m Metrics) MRRAt(k int) float64 { return m[Key("mrr", k)] }

// MRR returns "mrr", the reciprocal rank over the full ranking.
func (m Metrics) MRR() float64 { return m["mrr"] }

// Users returns "users", the number of users the means are taken over.
func (m Metrics) Users() int { return int(m["users"]) }

// per-cutoff metric slots in a sums row; the full-ranking MRR comes last.
const (
	slotRecall = iota
	slotNDCG
	slotPrecision
	slotHit
	slotMRRAt
	slotsPerK
)

// Evaluate runs the LightGCN full-ranking protocol. users is a row-major
// NumUsers×dim matrix, items NumItems×dim; the score of (u, i) is their
// inner product. For every user u with at least one item in test:
//
//   - all items are scored, u's train items are removed (masked with -Inf,
//     so they are never recommended and never counted), and the top K are
//     taken in the package order (score descending, ties by lower item id);
//   - hits = |topK ∩ test(u)|; recall@K = hits/|test(u)|;
//     precision@K = hits/K (K even when fewer than K items remain);
//     hit@K = 1 if hits > 0;
//   - ndcg@K = DCG/IDCG with binary gains, DCG = Σ_{hit at 0-based position
//     p < K} 1/log2(p+2), IDCG = Σ_{p < min(K, |test(u)|)} 1/log2(p+2);
//   - mrr = 1/r where r is the 1-based rank of u's best-ranked test item in
//     the full ranking of all non-train items (0 when every test item is
//     also a train item); mrr@K is the same truncated to the top-K list:
//     1/r when r ≤ K, else 0.
//
// Each metric is the mean over those users. |test(u)| counts distinct test
// items, including any that are also train items (they are masked, so they
// can never be hit), exactly as LightGCN does. Users without test items are
// skipped. train and test must have the same node counts as the matrices.
//
// Users are scored in blocks of opts.BlockSize with one linalg.Sgemm per
// block, by opts.Workers goroutines; per-block sums are combined in block
// order, so the result is identical for any worker count.
func Evaluate(ctx context.Context, users, items []float32, dim int, train, test *graph.Bipartite, opts Options) (Metrics, error) {
	opts = opts.EnsureDefaults()
	ks, err := opts.cutoffs()
	if err != nil {
		return nil, err
	}
	if train == nil || test == nil {
		return nil, errors.New("eval: nil train or test graph")
	}
	if err := checkShapes(users, items, dim, train.NumUsers, train.NumItems); err != nil {
		return nil, err
	}
	if test.NumUsers != train.NumUsers || test.NumItems != train.NumItems {
		return nil, fmt.Errorf("eval: test graph is %d×%d but train graph is %d×%d", test.NumUsers, test.NumItems, train.NumUsers, train.NumItems)
	}
	nItems := train.NumItems
	var testUsers []uint32
	for u := 0; u < test.NumUsers; u++ {
		if test.UserDegree(uint32(u)) > 0 {
			testUsers = append(testUsers, uint32(u))
		}
	}
	maxK := ks[len(ks)-1]
	nSlots := len(ks)*slotsPerK + 1
	// disc[p] = 1/log2(p+2); idcg[n] = Σ_{p<n} disc[p].
	disc := make([]float64, maxK)
	idcg := make([]float64, maxK+1)
	for p := range disc {
		disc[p] = 1 / math.Log2(float64(p+2))
		idcg[p+1] = idcg[p] + disc[p]
	}

	bs := opts.BlockSize
	nBlocks := (len(testUsers) + bs - 1) / bs
	sums := make([]float64, nBlocks*nSlots)
	type state struct {
		ublock []float32
		scores []float32
		top    []Scored
		hit    []bool
	}
	workers := min(opts.Workers, max(nBlocks, 1))
	states := make([]state, workers)
	err = parallelBlocks(ctx, nBlocks, workers, func(w, b int) {
		st := &states[w]
		if st.scores == nil {
			st.ublock = make([]float32, bs*dim)
			st.scores = make([]float32, bs*nItems)
			st.top = make([]Scored, 0, maxK)
			st.hit = make([]bool, maxK)
		}
		blk := testUsers[b*bs : min((b+1)*bs, len(testUsers))]
		for r, u := range blk {
			copy(st.ublock[r*dim:(r+1)*dim], users[int(u)*dim:int(u+1)*dim])
		}
		linalg.Sgemm(false, true, len(blk), nItems, dim, 1, st.ublock, dim, items, dim, 0, st.scores, nItems)
		acc := sums[b*nSlots : (b+1)*nSlots]
		for r, u := range blk {
			row := st.scores[r*nItems : (r+1)*nItems]
			Mask(row, train.ItemsOf(u))
			truth := test.ItemsOf(u)
			st.top = TopK(st.top, row, maxK)
			first := -1 // 0-based position of the first hit in the top list
			for p, e := range st.top {
				_, h := slices.BinarySearch(truth, e.Item)
				st.hit[p] = h
				if h && first < 0 {
					first = p
				}
			}
			// Full-ranking reciprocal rank.
			switch {
			case first >= 0:
				acc[nSlots-1] += 1 / float64(first+1)
			default:
				if best, ok := bestOf(row, truth); ok {
					acc[nSlots-1] += 1 / float64(rankOf(row, best.Item, best.Score))
				}
			}
			for ki, k := range ks {
				hits, dcg := 0, 0.0
				for p := 0; p < min(k, len(st.top)); p++ {
					if st.hit[p] {
						hits++
						dcg += disc[p]
					}
				}
				s := acc[ki*slotsPerK : (ki+1)*slotsPerK]
				s[slotRecall] += float64(hits) / float64(len(truth))
				s[slotPrecision] += float64(hits) / float64(k)
				if hits > 0 {
					s[slotHit]++
					s[slotNDCG] += dcg / idcg[min(k, len(truth))]
				}
				if first >= 0 && first < k {
					s[slotMRRAt] += 1 / float64(first+1)
				}
			}
		}
		if opts.Progress != nil {
			opts.Progress(len(blk), len(testUsers))
		}
	})
	if err != nil {
		return nil, err
	}
	total := make([]float64, nSlots)
	for b := 0; b < nBlocks; b++ {
		for i := range total {
			total[i] += sums[b*nSlots+i]
		}
	}
	n := float64(len(testUsers))
	mean := func(x float64) float64 {
		if n == 0 {
			return 0
		}
		return x / n
	}
	m := Metrics{"users": n, "mrr": mean(total[nSlots-1])}
	for ki, k := range ks {
		s := total[ki*slotsPerK : (ki+1)*slotsPerK]
		m[Key("recall", k)] = mean(s[slotRecall])
		m[Key("ndcg", k)] = mean(s[slotNDCG])
		m[Key("precision", k)] = mean(s[slotPrecision])
		m[Key("hit", k)] = mean(s[slotHit])
		m[Key("mrr", k)] = mean(s[slotMRRAt])
	}
	return m, nil
}

// bestOf returns the best-ranked unmasked item of truth in row.
func bestOf(row []float32, truth []uint32) (Scored, bool) {
	var best Scored
	ok := false
	ninf := negInf()
	for _, t := range truth {
		c := Scored{Item: t, Score: row[t]}
		if !(c.Score > ninf) {
			continue
		}
		if !ok || better(c, best) {
			best, ok = c, true
		}
	}
	return best, ok
}

// checkShapes validates the embedding matrices against node counts.
func checkShapes(users, items []float32, dim, numUsers, numItems int) error {
	if dim <= 0 {
		return fmt.Errorf("eval: dim %d must be positive", dim)
	}
	if len(users) != numUsers*dim {
		return fmt.Errorf("eval: user embeddings have %d values, want %d users × dim %d = %d", len(users), numUsers, dim, numUsers*dim)
	}
	if len(items) != numItems*dim {
		return fmt.Errorf("eval: item embeddings have %d values, want %d items × dim %d = %d", len(items), numItems, dim, numItems*dim)
	}
	return nil
}

// parallelBlocks runs work(worker, block) for blocks 0..n-1 on the given
// number of goroutines, handing out blocks in order. It stops handing out
// blocks once ctx is done and then returns ctx's error, unless every block
// had already run.
func parallelBlocks(ctx context.Context, n, workers int, work func(worker, block int)) error {
	var next, done atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				b := int(next.Add(1) - 1)
				if b >= n {
					return
				}
				work(w, b)
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil && done.Load() < int64(n) {
		return fmt.Errorf("eval: interrupted: %w", err)
	}
	return nil
}
