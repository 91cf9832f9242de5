package producer

import (
	"context"
	"errors"
	"fmt"
	"github.com/trainerd/trainerd/batch"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by Next after Close.
var ErrClosed = errors.New("producer: pipeline closed")

// Pipeline runs P producer goroutines that build the batches of one epoch,
// from a start index, into a bounded queue; Next hands them to the single
// consumer in index order whatever P is (a reorder ring), so a run resumed
// at (epoch, index) continues exactly where it stopped.
//
// Back-pressure: a producer takes a new index only while fewer than queue
// batches are built or being built but not yet taken by Next, so producers
// never run more than queue batches ahead and never block on the consumer
// except through the queue.
type Pipeline struct {
	s      *Sampler
	epoch  int
	params EpochParams
	end    int // batches per epoch
	q      int

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	tokens chan struct{}     // one token per queued or in-progress batch
	ring   []chan result     // batch i arrives in ring[i%q]
	job    atomic.Int64      // next index to build
	free   chan *batch.Batch // released batches for reuse

	next int   // next index Next delivers (consumer side only)
	err  error // sticky error (consumer side only)

	produced, delivered atomic.Uint64
	waitNS, buildNS     atomic.Int64
}

type result struct {
	b   *batch.Batch
	err error
}

// Stats is a snapshot of a Pipeline's counters.
type Stats struct {
	// Walks and Steps are the Sampler's cumulative Pixie/PPR walks and
	// steps (two hops each), over every pipeline that shared it.
	Walks, Steps uint64
	// Produced and Delivered count this pipeline's batches built by
	// producers and taken by Next.
	Produced, Delivered uint64
	// QueueDepth is the number of built batches not yet taken.
	QueueDepth int
	// ConsumerWait is the total time Next spent waiting for a batch.
	ConsumerWait time.Duration
	// BuildTime is the total producer time spent in Sampler.Batch.
	BuildTime time.Duration
}

// NewPipeline starts workers producers (≥1) for epoch, beginning at batch
// startIndex, with a queue of queue batches (≥1; default 2×workers when 0).
// Call Close when done, even after io.EOF, to stop the goroutines.
func NewPipeline(ctx context.Context, s *Sampler, workers, queue, epoch, startIndex int, p EpochParams) *Pipeline {
	workers = max(workers, 1)
	if queue <= 0 {
		queue = 2 * workers
	}
	end := s.BatchesPerEpoch()
	startIndex = min(max(startIndex, 0), end)
	pctx, cancel := context.WithCancel(ctx)
	pl := &Pipeline{
		s: s, epoch: epoch, params: p, end: end, q: queue,
		ctx: pctx, cancel: cancel,
		tokens: make(chan struct{}, queue),
		ring:   make([]chan result, queue),
		free:   make(chan *batch.Batch, queue+workers),
		next:   startIndex,
	}
	for i := range pl.ring {
		pl.ring[i] = make(chan result, 1)
	}
	pl.job.Store(int64(startIndex))
	pl.wg.Add(workers)
	for w := 0; w < workers; w++ {
		go pl.work()
	}
	return pl
}

func (pl *Pipeline) work() {
	defer pl.wg.Done()
	for {
		select {
		case <-pl.ctx.Done():
			return
		case pl.tokens <- struct{}{}:
		}
		i := int(pl.job.Add(1) - 1)
		if i >= pl.end {
			<-pl.tokens
			return
		}
		var b *batch.Batch
		select {
		case b = <-pl.free:
		default:
			b = new(batch.Batch)
		}
		t0 := time.Now()
		err := pl.s.Batch(pl.epoch, i, pl.params, b)
		pl.buildNS.Add(int64(time.Since(t0)))
		pl.produced.Add(1)
		// Never blocks: at most queue indices hold tokens, so ring[i%q]
		// is empty.
		pl.ring[i%pl.q] <- result{b, err}
	}
}

// Next returns the next batch in index order, io.EOF after the epoch's last
// batch, ctx's error when ctx ends first, or ErrClosed after Close or once
// the context given to NewPipeline ends. A
// producer error is returned (and then returned again by every later call).
// Next is for one consumer goroutine.
func (pl *Pipeline) Next(ctx context.Context) (*batch.Batch, error) {
	if pl.err != nil {
		return nil, pl.err
	}
	if pl.next >= pl.end {
		return nil, io.EOF
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if pl.ctx.Err() != nil {
		pl.err = ErrClosed
		return nil, pl.err
	}
	t0 := time.Now()
	var r result
	select {
	case r = <-pl.ring[pl.next%pl.q]:
	case <-ctx.Done():
		pl.waitNS.Add(int64(time.Since(t0)))
		return nil, ctx.Err()
	case <-pl.ctx.Done():
		pl.err = ErrClosed
		return nil, pl.err
	}
	pl.waitNS.Add(int64(time.Since(t0)))
	<-pl.tokens
	pl.delivered.Add(1)
	if r.err != nil {
		pl.err = fmt.Errorf("producer: epoch %d batch %d: %w", pl.epoch, pl.next, r.err)
		return nil, pl.err
	}
	pl.next++
	return r.b, nil
}

// Release hands a batch back for reuse; b must not be used afterwards.
// Safe from any goroutine; dropping a batch instead is also fine.
func (pl *Pipeline) Release(b *batch.Batch) {
	if b == nil {
		return
	}
	select {
	case pl.free <- b:
	default:
	}
}

// Close stops the producers and waits for them to exit. It is idempotent.
func (pl *Pipeline) Close() {
	pl.once.Do(func() {
		pl.cancel()
		pl.wg.Wait()
		for _, c := range pl.ring {
			select {
			case <-c:
			default:
			}
		}
	})
}

// Stats returns a snapshot of the counters. Safe from any goroutine.
func (pl *Pipeline) Stats() Stats {
	ss := pl.s.Stats()
	p, d := pl.produced.Load(), pl.delivered.Load()
	return Stats{
		Walks: ss.Walks, Steps: ss.Steps,
		Produced: p, Delivered: d,
		QueueDepth:   int(p - min(d, p)),
		ConsumerWait: time.Duration(pl.waitNS.Load()),
		BuildTime:    time.Duration(pl.buildNS.Load()),
	}
}
