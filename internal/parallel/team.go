package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Job is work split into independent blocks 0..n-1. Block runs block i on
// the team member worker (0 ≤ worker < Team.Size()), which a job may use to
// pick per-member scratch; which member runs a block must not change the
// result.
type Job interface{ Block(i, worker int) }

// Team runs the blocks of a Job on the calling goroutine and Size()-1
// helper goroutines that live as long as the Team. A run allocates nothing
// (a Job held as a pointer does not escape), so a training step can run
// many small parallel phases without goroutine launches. The blocks are the
// job's, fixed by its size: a result computed block by block, or reduced
// over blocks in block order, has the same bits however many members run.
//
// A Team is not safe for concurrent Runs, and a Block must not call Run on
// its own team. The helpers exit once the Team is unreachable.
type Team struct {
	*core
}

// core is what the helpers reference, so that the Team itself can be
// collected (and its cleanup stop them).
type core struct {
	helpers int
	wake    chan struct{}
	fin     chan struct{}

	mu  sync.Mutex // guards job, n and gen against late-waking helpers
	job Job
	n   int
	gen uint32
	// state packs the running generation (high 32 bits) and the next
	// unclaimed block (low 32 bits): a helper claims a block only while the
	// generation it joined is still running.
	state atomic.Uint64
	done  atomic.Int64
}

// NewTeam returns a team of max(threads, 1) members.
func NewTeam(threads int) *Team {
	c := &core{helpers: max(threads, 1) - 1}
	t := &Team{c}
	if c.helpers > 0 {
		c.wake = make(chan struct{}, c.helpers)
		c.fin = make(chan struct{}, 1)
		for w := 1; w <= c.helpers; w++ {
			go c.serve(w)
		}
		runtime.AddCleanup(t, func(ch chan struct{}) { close(ch) }, c.wake)
	}
	return t
}

// Size is the number of goroutines that run blocks (the caller included).
func (t *Team) Size() int { return t.helpers + 1 }

// serve joins runs until wake is closed.
func (c *core) serve(worker int) {
	for range c.wake {
		c.mu.Lock()
		job, n, gen := c.job, c.n, c.gen
		c.mu.Unlock()
		if job != nil {
			c.work(job, n, gen, worker)
		}
	}
}

// work claims and runs blocks of generation gen until none is left; the
// member that completes the last block reports whether it did.
func (c *core) work(job Job, n int, gen uint32, worker int) (last bool) {
	for {
		s := c.state.Load()
		if uint32(s>>32) != gen || int(uint32(s)) >= n {
			return false
		}
		if !c.state.CompareAndSwap(s, s+1) {
			continue
		}
		job.Block(int(uint32(s)), worker)
		if c.done.Add(1) == int64(n) {
			if worker != 0 {
				c.fin <- struct{}{}
			}
			return true
		}
	}
}

// Run runs blocks 0..n-1 of job and returns when all are done. The caller
// works too, so a run finishes even when no helper gets a CPU; a helper
// that wakes late joins the run in progress, if any.
func (t *Team) Run(job Job, n int) {
	c := t.core
	if c.helpers == 0 || n <= 1 {
		for i := 0; i < n; i++ {
			job.Block(i, 0)
		}
		return
	}
	c.mu.Lock()
	c.gen++
	c.job, c.n = job, n
	c.done.Store(0)
	c.state.Store(uint64(c.gen) << 32)
	gen := c.gen
	c.mu.Unlock()
	for i := 0; i < min(c.helpers, n-1); i++ {
		select {
		case c.wake <- struct{}{}:
		default: // every helper already has a wake-up pending
		}
	}
	if !c.work(job, n, gen, 0) {
		<-c.fin
	}
	c.mu.Lock()
	c.job = nil // the team must not keep the job reachable
	c.mu.Unlock()
}

// Range runs f(lo, hi) over [0,n) in blocks of size rows (the last one
// shorter) on the team. Blocks depend only on n and size.
type Range struct {
	N, Size int
	F       func(lo, hi int)
}

// Block implements Job.
func (r *Range) Block(i, _ int) { r.F(i*r.Size, min((i+1)*r.Size, r.N)) }

// Blocks is the number of blocks of r.
func (r *Range) Blocks() int { return (r.N + r.Size - 1) / r.Size }
