package featurestore

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/trainerd/trainerd/dataset"
)

func commitBench(b *testing.B, ds *dataset.Dataset, opts Options) *Store {
	b.Helper()
	dir := b.TempDir()
	if _, err := Commit(context.Background(), dir, ds); err != nil {
		b.Fatal(err)
	}
	s, err := Open(dir, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkFetchFeatures fetches 512 random item vectors (dim 64) per op
// from an on-disk store of 100k items, through Badger (one Get per node) and
// from the feature cache.
func BenchmarkFetchFeatures(b *testing.B) {
	ds := testDataset(40, 1000, 100_000, 10_000, 10, 0, 64, false)
	b.Run("badger", func(b *testing.B) { benchFetch(b, ds, Options{ReadOnly: true, FeatureCacheBytes: -1}) })
	b.Run("cached", func(b *testing.B) { benchFetch(b, ds, Options{ReadOnly: true}) })
}

func benchFetch(b *testing.B, ds *dataset.Dataset, opts Options) {
	const dim, batch = 64, 512
	items := ds.NumItems()
	s := commitBench(b, ds, opts)
	r := rand.New(rand.NewPCG(1, 2))
	ids := make([]uint32, batch)
	dst := make([]float32, batch*dim)
	b.ResetTimer()
	for b.Loop() {
		for i := range ids {
			ids[i] = uint32(r.IntN(items))
		}
		if err := s.FetchFeatures(dataset.Item, ids, dst); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "nodes/s")
}

// BenchmarkLoadGraph loads a Gowalla-size train graph: a generated one of
// 29,858 users × 40,981 items with 810,128 edges, and the real one when the
// data is present.
func BenchmarkLoadGraph(b *testing.B) {
	b.Run("generated", func(b *testing.B) {
		benchLoadGraph(b, testDataset(41, 29_858, 40_981, 810_128, 10, 0, 0, false))
	})
	b.Run("gowalla", func(b *testing.B) { benchLoadGraph(b, loadGowalla(b)) })
}

func benchLoadGraph(b *testing.B, ds *dataset.Dataset) {
	s := commitBench(b, ds, Options{ReadOnly: true})
	b.ResetTimer()
	for b.Loop() {
		g, err := s.LoadGraph()
		if err != nil {
			b.Fatal(err)
		}
		if g.NumEdges() != s.Stats().GraphEdges {
			b.Fatal("edge count mismatch")
		}
	}
	b.ReportMetric(float64(s.Stats().GraphEdges)*float64(b.N)/b.Elapsed().Seconds(), "edges/s")
}

// BenchmarkCommitGowalla commits the real Gowalla data set (skipped when
// absent) and reports the bytes on disk.
func BenchmarkCommitGowalla(b *testing.B) {
	ds := loadGowalla(b)
	var bytes int64
	for b.Loop() {
		sum, err := Commit(context.Background(), b.TempDir(), ds)
		if err != nil {
			b.Fatal(err)
		}
		bytes = sum.BytesOnDisk
	}
	b.ReportMetric(float64(bytes), "bytes")
}

// BenchmarkCommitGenerated commits a generated store of 300k users, 150k
// items (features of dim 16 each) and 5M train edges: a quarter of the
// "large" gen preset.
func BenchmarkCommitGenerated(b *testing.B) {
	ds := testDataset(42, 300_000, 150_000, 5_000_000, 10_000, 16, 16, false)
	var bytes int64
	for b.Loop() {
		sum, err := Commit(context.Background(), b.TempDir(), ds)
		if err != nil {
			b.Fatal(err)
		}
		bytes = sum.BytesOnDisk
	}
	b.ReportMetric(float64(bytes), "bytes")
}
