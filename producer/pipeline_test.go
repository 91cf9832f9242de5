package producer

import (
	"context"
	"errors"
	"io"
	"reflect"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/trainerd/trainerd/batch"
)

func drain(t *testing.T, pl *Pipeline, release bool) []*batch.Batch {
	t.Helper()
	var out []*batch.Batch
	for {
		b, err := pl.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		cp := cloneBatch(b)
		out = append(out, cp)
		if release {
			pl.Release(b)
		}
	}
}

func cloneBatch(b *batch.Batch) *batch.Batch {
	c := *b
	c.Query, c.Pos, c.Neg, c.Hard = append([]uint32(nil), b.Query...), append([]uint32(nil), b.Pos...), append([]uint32(nil), b.Neg...), append([]uint32(nil), b.Hard...)
	c.Layers = nil
	for _, l := range b.Layers {
		c.Layers = append(c.Layers, append([]uint32(nil), l...))
	}
	c.NbrIdx, c.NbrW = nil, nil
	for k := range b.NbrIdx {
		c.NbrIdx = append(c.NbrIdx, append([]int32(nil), b.NbrIdx[k]...))
		c.NbrW = append(c.NbrW, append([]float32(nil), b.NbrW[k]...))
	}
	c.QueryIdx, c.PosIdx, c.NegIdx, c.HardIdx = append([]int32(nil), b.QueryIdx...), append([]int32(nil), b.PosIdx...), append([]int32(nil), b.NegIdx...), append([]int32(nil), b.HardIdx...)
	c.Feat = append([]float32(nil), b.Feat...)
	c.NegMask, c.NegMaskPtr = slices.Clone(b.NegMask), slices.Clone(b.NegMaskPtr)
	c.InMask, c.InMaskPtr = slices.Clone(b.InMask), slices.Clone(b.InMaskPtr)
	return &c
}

// TestPipelineDeterministic: P=1 and P=4 deliver identical batches in
// index order, and a resume from index k delivers exactly the suffix.
func TestPipelineDeterministic(t *testing.T) {
	g := genGraph(t, 150, 200, 2000, 0.8, 13)
	for _, cache := range []bool{false, true} {
		s1 := newTestSampler(t, g, &memFS{ud: 1, id: 2}, func(c *Config) { c.Neighbors.Cache = cache })
		s4 := newTestSampler(t, g, &memFS{ud: 1, id: 2}, func(c *Config) { c.Neighbors.Cache = cache })
		p := EpochParams{HardPer: 1, RankLo: 5, RankHi: 40}
		pl1 := NewPipeline(context.Background(), s1, 1, 1, 2, 0, p)
		a := drain(t, pl1, false)
		pl1.Close()
		pl4 := NewPipeline(context.Background(), s4, 4, 3, 2, 0, p)
		b := drain(t, pl4, true)
		pl4.Close()
		if len(a) != s1.BatchesPerEpoch() || len(b) != len(a) {
			t.Fatalf("got %d and %d batches, want %d", len(a), len(b), s1.BatchesPerEpoch())
		}
		for i := range a {
			if a[i].Index != i {
				t.Fatalf("batch %d delivered at position %d", a[i].Index, i)
			}
			if !reflect.DeepEqual(a[i], b[i]) {
				t.Fatalf("cache=%v: batch %d differs between P=1 and P=4", cache, i)
			}
		}
		const k = 7
		pr := NewPipeline(context.Background(), s4, 2, 2, 2, k, p)
		c := drain(t, pr, true)
		pr.Close()
		if !reflect.DeepEqual(c, a[k:]) {
			t.Fatal("resume at index 7 does not deliver the suffix")
		}
		st := pl4.Stats()
		if st.Delivered != uint64(len(a)) || st.Produced != uint64(len(a)) || st.Steps == 0 || st.Walks == 0 || st.QueueDepth != 0 {
			t.Errorf("stats %+v", st)
		}
	}
}

// TestPipelineCancelNoLeak stops pipelines mid-epoch (Close, parent
// cancel) and checks the goroutine count returns to its baseline.
func TestPipelineCancelNoLeak(t *testing.T) {
	g := genGraph(t, 150, 200, 2000, 0.8, 14)
	s := newTestSampler(t, g, nil, nil)
	base := runtime.NumGoroutine()
	for round := 0; round < 5; round++ {
		ctx, cancel := context.WithCancel(context.Background())
		pl := NewPipeline(ctx, s, 4, 2, round, 0, EpochParams{})
		b, err := pl.Next(ctx)
		if err != nil || b.Index != 0 {
			t.Fatalf("first batch: %v", err)
		}
		if st := pl.Stats(); st.Produced > st.Delivered+2+4 {
			t.Fatalf("producers ran ahead of the queue bound: %+v", st)
		}
		cancel()
		if round%2 == 0 {
			if _, err := pl.Next(ctx); !errors.Is(err, context.Canceled) && !errors.Is(err, ErrClosed) {
				t.Fatalf("Next after cancel: %v", err)
			}
		}
		pl.Close()
		pl.Close()
		if _, err := pl.Next(context.Background()); err == nil {
			t.Fatal("Next after Close returned a batch")
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		t.Fatalf("%d goroutines after Close, baseline %d", n, base)
	}
}

// TestPipelineBackPressure: with a slow consumer, producers stay within
// the queue bound.
func TestPipelineBackPressure(t *testing.T) {
	g := genGraph(t, 150, 200, 2000, 0.8, 15)
	s := newTestSampler(t, g, nil, func(c *Config) { c.Layers = 0; c.BatchSize = 8 })
	pl := NewPipeline(context.Background(), s, 3, 4, 0, 0, EpochParams{})
	defer pl.Close()
	time.Sleep(50 * time.Millisecond)
	st := pl.Stats()
	if st.Produced != 4 || st.QueueDepth != 4 {
		t.Fatalf("idle consumer: produced %d, depth %d, want 4 and 4", st.Produced, st.QueueDepth)
	}
	for i := 0; i < 3; i++ {
		if _, err := pl.Next(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if st := pl.Stats(); st.Produced != 7 {
		t.Fatalf("after 3 Next: produced %d, want 7", st.Produced)
	}
}

func TestPipelineError(t *testing.T) {
	g := genGraph(t, 50, 60, 400, 0.8, 1)
	s := newTestSampler(t, g, &memFS{id: 2, fail: true}, nil)
	pl := NewPipeline(context.Background(), s, 2, 2, 0, 0, EpochParams{})
	defer pl.Close()
	_, err := pl.Next(context.Background())
	if err == nil {
		t.Fatal("want the producer error")
	}
	if _, err2 := pl.Next(context.Background()); err2 == nil || err2.Error() != err.Error() {
		t.Fatalf("error is not sticky: %v then %v", err, err2)
	}
}

// TestHardTimeCounted: the sampler's HardTime grows only with batches that
// draw hard negatives.
func TestHardTimeCounted(t *testing.T) {
	g := genGraph(t, 150, 200, 2000, 0.8, 15)
	s := newTestSampler(t, g, nil, nil)
	var b batch.Batch
	for i := 0; i < 3; i++ {
		if err := s.Batch(1, i, EpochParams{}, &b); err != nil {
			t.Fatal(err)
		}
	}
	if h := s.Stats().HardTime; h != 0 {
		t.Fatalf("HardTime %v after batches without hard negatives, want 0", h)
	}
	for i := 0; i < 3; i++ {
		if err := s.Batch(1, i, EpochParams{HardPer: 2, RankLo: 5, RankHi: 40}, &b); err != nil {
			t.Fatal(err)
		}
	}
	if h := s.Stats().HardTime; h <= 0 {
		t.Fatalf("HardTime %v after batches with hard negatives, want > 0", h)
	}
}
