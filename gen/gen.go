// Package gen owns the synthetic interaction data sets: a seeded generator
// with planted community structure, so that training quality is measurable
// without real data.
//
// Every user and every item belongs to one of Config.Communities
// communities. A user draws its interactions mostly (Config.InCommunity,
// default 80%) from the items of its own community and otherwise from all
// items; within a community item popularity follows a Zipf law
// (Config.ItemZipf) over a random ranking, and the same rank weights make up
// the global popularity. User activity (degree) follows a power law
// (Config.UserZipf) above Config.MinUserDegree. Features of both node types
// are a noisy Gaussian embedding of the community plus one numeric column
// (standardised log of the train degree); their schema says "generated".
// Each user's interactions are split at random into train and test
// (Config.TestRatio); a user with at least two interactions keeps at least
// one in train.
//
// Generation is deterministic given Config (the Seed included), whatever the
// number of CPUs: users are generated in fixed chunks, each with its own
// seeded PCG stream. It never does I/O; package featurestore commits the
// result.
package gen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/trainerd/trainerd/dataset"
)

// Config sets the size and shape of a generated data set. Zero values of the
// shape fields select the documented defaults.
type Config struct {
	// Name labels the data set; default "gen".
	Name string `json:"name"`
	// Users and Items are the node counts (> 0).
	Users int `json:"users"`
	Items int `json:"items"`
	// Edges is the target number of interactions, train and test together;
	// the result is within a few percent of it (degrees are rounded and
	// capped, duplicates are not drawn).
	Edges int `json:"edges"`
	// Communities is the number of planted communities; default 10, at most
	// min(Users, Items).
	Communities int `json:"communities"`
	// Seed makes the output reproducible.
	Seed uint64 `json:"seed"`
	// TestRatio is the fraction of each user's interactions held out for
	// test. Default 0 means 0.2; negative means no test set.
	TestRatio float64 `json:"test_ratio"`
	// UserFeatDim and ItemFeatDim are the feature dimensions (community
	// embedding of dim-1 plus one numeric column); 0 means no features.
	UserFeatDim int `json:"user_feat_dim"`
	ItemFeatDim int `json:"item_feat_dim"`
	// InCommunity is the probability that an interaction goes to the user's
	// own community; default 0 means 0.8, negative means 0 (no pull).
	InCommunity float64 `json:"in_community"`
	// ItemZipf is the exponent of item popularity within a community;
	// default 0 means 1.0.
	ItemZipf float64 `json:"item_zipf"`
	// UserZipf is the exponent of user activity; default 0 means 0.6.
	UserZipf float64 `json:"user_zipf"`
	// MinUserDegree is the smallest number of interactions per user;
	// default 0 means 3.
	MinUserDegree int `json:"min_user_degree"`
	// FeatureNoise is the standard deviation of the Gaussian noise added to
	// the unit-variance community embedding; default 0 means 1.0, negative
	// means 0 (exact centroids).
	FeatureNoise float64 `json:"feature_noise"`
	// Progress, when non-nil, is called with the number of users whose
	// interactions were just drawn, after each chunk of users; the calls
	// add up to Users. It may be called from several goroutines at once.
	// It does not change the data set.
	Progress func(users int) `json:"-"`
}

// presetNames lists the names Preset accepts, smallest first.
var presetNames = []string{"tiny", "small", "dense", "large"}

// PresetNames returns the names Preset accepts, smallest first.
func PresetNames() []string { return slices.Clone(presetNames) }

// Preset returns a named configuration:
//
//	tiny   200 users, 300 items, 3k edges, 5 communities, dims 8 (generates and commits in well under 1 s)
//	small  5k users, 8k items, 150k edges, 20 communities, dims 32 (trains to a useful recall in about a minute)
//	dense  6040 users, 3600 items, 1.02M edges drawn (about 670k train after duplicates merge), 20 communities,
//	       dims 32: a movie-ratings-like density (each user about 140 items) to check that recipes carry
//	large  1M users, 500k items, 20M edges, 1000 communities, dims 16
func Preset(name string) (Config, error) {
	c := Config{Name: "gen-" + name, Seed: 1, TestRatio: 0.2}
	switch name {
	case "tiny":
		c.Users, c.Items, c.Edges, c.Communities, c.UserFeatDim, c.ItemFeatDim = 200, 300, 3000, 5, 8, 8
	case "small":
		c.Users, c.Items, c.Edges, c.Communities, c.UserFeatDim, c.ItemFeatDim = 5000, 8000, 150_000, 20, 32, 32
	case "dense":
		c.Users, c.Items, c.Edges, c.Communities, c.UserFeatDim, c.ItemFeatDim = 6040, 3600, 1_020_000, 20, 32, 32
	case "large":
		c.Users, c.Items, c.Edges, c.Communities, c.UserFeatDim, c.ItemFeatDim = 1_000_000, 500_000, 20_000_000, 1000, 16, 16
	default:
		return Config{}, fmt.Errorf("gen: unknown preset %q (want one of %v)", name, presetNames)
	}
	return c, nil
}

// withDefaults fills the zero shape fields and checks the sizes.
func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		c.Name = "gen"
	}
	if c.Communities == 0 {
		c.Communities = 10
	}
	if c.TestRatio == 0 {
		c.TestRatio = 0.2
	}
	if c.TestRatio < 0 {
		c.TestRatio = 0
	}
	switch {
	case c.InCommunity == 0:
		c.InCommunity = 0.8
	case c.InCommunity < 0:
		c.InCommunity = 0
	}
	if c.ItemZipf == 0 {
		c.ItemZipf = 1.0
	}
	if c.UserZipf == 0 {
		c.UserZipf = 0.6
	}
	if c.MinUserDegree == 0 {
		c.MinUserDegree = 3
	}
	switch {
	case c.FeatureNoise == 0:
		c.FeatureNoise = 1.0
	case c.FeatureNoise < 0:
		c.FeatureNoise = 0
	}
	var errs []error
	if c.Users <= 0 || c.Items <= 0 || c.Edges <= 0 {
		errs = append(errs, fmt.Errorf("users, items and edges must be > 0 (got %d, %d, %d)", c.Users, c.Items, c.Edges))
	}
	if c.Users >= 1<<31 || c.Items >= 1<<31 || c.Edges >= 1<<32 {
		errs = append(errs, fmt.Errorf("too large (%d users, %d items, %d edges)", c.Users, c.Items, c.Edges))
	}
	if c.Communities < 1 || c.Communities > min(c.Users, c.Items) {
		errs = append(errs, fmt.Errorf("communities %d must be in [1, min(users, items)=%d]", c.Communities, min(c.Users, c.Items)))
	}
	if c.TestRatio >= 1 || math.IsNaN(c.TestRatio) {
		errs = append(errs, fmt.Errorf("test ratio %v must be < 1", c.TestRatio))
	}
	if c.InCommunity > 1 || math.IsNaN(c.InCommunity) {
		errs = append(errs, fmt.Errorf("in-community fraction %v must be ≤ 1", c.InCommunity))
	}
	if c.ItemZipf < 0 || c.UserZipf < 0 || c.MinUserDegree < 0 || c.UserFeatDim < 0 || c.ItemFeatDim < 0 {
		errs = append(errs, errors.New("zipf exponents, min degree, noise and feature dims must be ≥ 0"))
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("gen: config: %w", err)
	}
	return c, nil
}

// Truth is the planted structure behind a generated data set.
type Truth struct {
	// UserCommunity and ItemCommunity give each dense id's community.
	UserCommunity []uint32
	ItemCommunity []uint32
}

// Generate builds a data set from cfg; the same cfg gives the same data set.
func Generate(ctx context.Context, cfg Config) (*dataset.Dataset, error) {
	ds, _, err := GenerateWithTruth(ctx, cfg)
	return ds, err
}

// chunkUsers is the number of users per independently seeded chunk.
const chunkUsers = 4096

// sampler draws indices with probability proportional to weights
// (cumulative sums and binary search).
type sampler struct {
	cum   []float64
	items []uint32
}

func newSampler(items []uint32, weight func(rank int) float64) sampler {
	s := sampler{cum: make([]float64, len(items)), items: items}
	t := 0.0
	for r := range items {
		t += weight(r)
		s.cum[r] = t
	}
	return s
}

func (s *sampler) draw(r *rand.Rand) uint32 {
	x := r.Float64() * s.cum[len(s.cum)-1]
	i := sort.SearchFloat64s(s.cum, x)
	if i >= len(s.items) {
		i = len(s.items) - 1
	}
	return s.items[i]
}

// GenerateWithTruth is Generate that also returns the planted communities,
// for tests and evaluation.
func GenerateWithTruth(ctx context.Context, cfg Config) (*dataset.Dataset, *Truth, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x7261696e))
	C := cfg.Communities
	truth := &Truth{UserCommunity: make([]uint32, cfg.Users), ItemCommunity: make([]uint32, cfg.Items)}
	// Every community gets at least one user and item; the rest at random.
	assign := func(dst []uint32) {
		for i := range dst {
			if i < C {
				dst[i] = uint32(i)
			} else {
				dst[i] = uint32(rng.IntN(C))
			}
		}
		rng.Shuffle(len(dst), func(i, j int) { dst[i], dst[j] = dst[j], dst[i] })
	}
	assign(truth.UserCommunity)
	assign(truth.ItemCommunity)

	// Popularity: a random ranking within each community, Zipf weights by rank.
	members := make([][]uint32, C)
	for _, i := range rng.Perm(cfg.Items) {
		c := truth.ItemCommunity[i]
		members[c] = append(members[c], uint32(i))
	}
	zipf := func(r int) float64 { return math.Pow(float64(r+1), -cfg.ItemZipf) }
	comm := make([]sampler, C)
	rankOf := make([]int, cfg.Items)
	for c, m := range members {
		comm[c] = newSampler(m, zipf)
		for r, i := range m {
			rankOf[i] = r
		}
	}
	all := make([]uint32, cfg.Items)
	for i := range all {
		all[i] = uint32(i)
	}
	global := newSampler(all, func(i int) float64 { return zipf(rankOf[i]) })

	degrees := userDegrees(rng, cfg)

	// Interactions, chunk by chunk in parallel; each chunk's stream depends
	// only on (Seed, chunk), so the output does not depend on scheduling.
	nChunks := (cfg.Users + chunkUsers - 1) / chunkUsers
	trains := make([][]dataset.Interaction, nChunks)
	tests := make([][]dataset.Interaction, nChunks)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, runtime.GOMAXPROCS(0))
	for w := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ch := int(next.Add(1) - 1)
				if ch >= nChunks {
					return
				}
				if err := ctx.Err(); err != nil {
					errs[w] = fmt.Errorf("gen: %w", err)
					return
				}
				trains[ch], tests[ch] = genChunk(cfg, ch, truth.UserCommunity, degrees, comm, &global)
				if cfg.Progress != nil {
					cfg.Progress(min((ch+1)*chunkUsers, cfg.Users) - ch*chunkUsers)
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}

	ds := &dataset.Dataset{Name: cfg.Name, UserIDs: make([]string, cfg.Users), ItemIDs: make([]string, cfg.Items)}
	for u := range ds.UserIDs {
		ds.UserIDs[u] = fmt.Sprintf("u%d", u)
	}
	for i := range ds.ItemIDs {
		ds.ItemIDs[i] = fmt.Sprintf("i%d", i)
	}
	ds.Train = concat(trains)
	ds.Test = concat(tests)

	userDeg := make([]int, cfg.Users)
	itemDeg := make([]int, cfg.Items)
	for _, e := range ds.Train {
		userDeg[e.User]++
		itemDeg[e.Item]++
	}
	ds.UserFeatures = features(rng, cfg.UserFeatDim, C, truth.UserCommunity, userDeg, cfg.FeatureNoise, "user")
	ds.ItemFeatures = features(rng, cfg.ItemFeatDim, C, truth.ItemCommunity, itemDeg, cfg.FeatureNoise, "item")
	if err := ds.Validate(); err != nil {
		return nil, nil, fmt.Errorf("gen: %w", err)
	}
	return ds, truth, nil
}

// userDegrees draws a power-law activity over a random user ranking:
// MinUserDegree each plus a share of the remaining budget ∝ rank^-UserZipf,
// rounded stochastically and capped at max(2·MinUserDegree, Items/10).
func userDegrees(rng *rand.Rand, cfg Config) []int {
	deg := make([]int, cfg.Users)
	minDeg := min(cfg.MinUserDegree, max(1, cfg.Edges/cfg.Users))
	capDeg := min(cfg.Items, max(2*minDeg, cfg.Items/10))
	budget := float64(max(0, cfg.Edges-minDeg*cfg.Users))
	w := make([]float64, cfg.Users)
	total := 0.0
	for r := range w {
		w[r] = math.Pow(float64(r+1), -cfg.UserZipf)
		total += w[r]
	}
	for r, u := range rng.Perm(cfg.Users) {
		x := budget * w[r] / total
		d := minDeg + int(x)
		if rng.Float64() < x-math.Floor(x) {
			d++
		}
		deg[u] = min(d, capDeg)
	}
	return deg
}

// genChunk draws the interactions of users [ch*chunkUsers, ...) and splits
// each user's list into train and test.
func genChunk(cfg Config, ch int, userComm []uint32, degrees []int, comm []sampler, global *sampler) (train, test []dataset.Interaction) {
	r := rand.New(rand.NewPCG(cfg.Seed, 0x6368756e6b<<16|uint64(ch)))
	lo, hi := ch*chunkUsers, min((ch+1)*chunkUsers, cfg.Users)
	seen := make(map[uint32]struct{})
	var items []uint32
	const t0 = 1_600_000_000
	for u := lo; u < hi; u++ {
		d := degrees[u]
		items = items[:0]
		clear(seen)
		own := &comm[userComm[u]]
		for k := 0; k < d; k++ {
			s := global
			if r.Float64() < cfg.InCommunity {
				s = own
			}
			// A few tries for a new item, then one from all items.
			for try := 0; try < 8; try++ {
				if try == 4 {
					s = global
				}
				it := s.draw(r)
				if _, dup := seen[it]; !dup {
					seen[it] = struct{}{}
					items = append(items, it)
					break
				}
			}
		}
		n := len(items)
		nTest := 0
		if n >= 2 {
			x := float64(n) * cfg.TestRatio
			nTest = int(x)
			if r.Float64() < x-math.Floor(x) {
				nTest++
			}
			nTest = min(nTest, n-1)
		}
		// items are in random order already; the last nTest go to test.
		start := int64(t0 + r.IntN(86400*365))
		for k, it := range items {
			e := dataset.Interaction{User: uint32(u), Item: it, Weight: 1, Time: start + int64(k)*3600}
			if k >= n-nTest {
				test = append(test, e)
			} else {
				train = append(train, e)
			}
		}
	}
	return train, test
}

func concat(parts [][]dataset.Interaction) []dataset.Interaction {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]dataset.Interaction, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// features builds the dim-1 noisy community embedding plus the standardised
// log train degree; nil when dim is 0.
func features(rng *rand.Rand, dim, C int, commOf []uint32, deg []int, noise float64, kind string) *dataset.Features {
	if dim == 0 {
		return nil
	}
	ed := dim - 1
	centroids := make([]float64, C*ed)
	for i := range centroids {
		centroids[i] = rng.NormFloat64()
	}
	mean, sq := 0.0, 0.0
	for _, d := range deg {
		v := math.Log1p(float64(d))
		mean += v
		sq += v * v
	}
	mean /= float64(len(deg))
	std := math.Sqrt(max(sq/float64(len(deg))-mean*mean, 1e-12))
	f := &dataset.Features{Data: make([]float32, len(commOf)*dim)}
	if ed > 0 {
		f.Schema = append(f.Schema, dataset.Column{Name: "community_embedding", Dim: ed, Derivation: "generated"})
	}
	f.Schema = append(f.Schema, dataset.Column{Name: "log_" + kind + "_degree", Dim: 1, Derivation: "generated"})
	for n, c := range commOf {
		row := f.Data[n*dim : (n+1)*dim]
		cen := centroids[int(c)*ed : int(c+1)*ed]
		for j := range ed {
			row[j] = float32(cen[j] + noise*rng.NormFloat64())
		}
		row[ed] = float32((math.Log1p(float64(deg[n])) - mean) / std)
	}
	return f
}
