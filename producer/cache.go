package producer

import (
	"math"
	"sync"
	"sync/atomic"
)

// slotCache holds a fixed-width slot of T values per node for one epoch.
// A slot is valid when its state equals epoch+1; a writer claims it by CAS
// to busy. Contents are deterministic per (seed, epoch, node), so racing
// writers agree and a reader that finds a slot busy just computes its own
// copy. Batches of different epochs take turns (the RWMutex), so a slot is
// never rewritten while one of its readers runs.
type slotCache[T any] struct {
	mu    sync.RWMutex
	epoch int
	width int
	state []atomic.Uint32
	data  []T
}

const cacheBusy = math.MaxUint32

func newSlotCache[T any](n, width int) *slotCache[T] {
	return &slotCache[T]{epoch: -1, width: width, state: make([]atomic.Uint32, n), data: make([]T, n*width)}
}

// acquire enters epoch, waiting for batches of another epoch to finish.
func (c *slotCache[T]) acquire(epoch int) {
	for {
		c.mu.RLock()
		if c.epoch == epoch {
			return
		}
		c.mu.RUnlock()
		c.mu.Lock()
		c.epoch = epoch
		c.mu.Unlock()
	}
}

func (c *slotCache[T]) release() { c.mu.RUnlock() }

// get copies node v's slot into dst when it holds epoch's values.
func (c *slotCache[T]) get(epoch int, v uint32, dst []T) bool {
	if c.state[v].Load() != uint32(epoch)+1 {
		return false
	}
	copy(dst, c.data[int(v)*c.width:(int(v)+1)*c.width])
	return true
}

// put stores src as node v's slot for epoch unless another writer holds it.
func (c *slotCache[T]) put(epoch int, v uint32, src []T) {
	st := c.state[v].Load()
	if st == cacheBusy || st == uint32(epoch)+1 || !c.state[v].CompareAndSwap(st, cacheBusy) {
		return
	}
	copy(c.data[int(v)*c.width:], src)
	c.state[v].Store(uint32(epoch) + 1)
}

// nbrCache holds each node's neighborhood for one epoch, each slot packed
// as weight bits << 32 | id.
type nbrCache struct {
	*slotCache[uint64]
}

func newNbrCache(n, T int) *nbrCache {
	return &nbrCache{slotCache: newSlotCache[uint64](n, T)}
}

// getNbrs unpacks node v's cached neighborhood; b is scratch of width T.
func (c *nbrCache) getNbrs(epoch int, v uint32, ids []uint32, wts []float32, b []uint64) bool {
	if !c.get(epoch, v, b) {
		return false
	}
	for t, x := range b {
		ids[t], wts[t] = uint32(x), math.Float32frombits(uint32(x>>32))
	}
	return true
}

// putNbrs packs and stores node v's neighborhood; b is scratch of width T.
func (c *nbrCache) putNbrs(epoch int, v uint32, ids []uint32, wts []float32, b []uint64) {
	for t := range b {
		b[t] = uint64(math.Float32bits(wts[t]))<<32 | uint64(ids[t])
	}
	c.put(epoch, v, b)
}
