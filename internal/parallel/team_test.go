package parallel

import (
	"runtime"
	"sync/atomic"
	"testing"
)

// countJob counts how often each block runs and which workers ran blocks.
type countJob struct {
	seen    []atomic.Int32
	workers []atomic.Int32
}

func (j *countJob) Block(i, worker int) {
	j.seen[i].Add(1)
	j.workers[worker].Add(1)
}

// TestTeamRunsEveryBlockOnce: every block of every run runs exactly once,
// on a valid worker, for team sizes 1..4 and block counts 0..100, with
// runs back to back (late helpers must not rerun or skip blocks).
func TestTeamRunsEveryBlockOnce(t *testing.T) {
	for _, threads := range []int{0, 1, 2, 4} {
		team := NewTeam(threads)
		if want := max(threads, 1); team.Size() != want {
			t.Fatalf("threads=%d: size %d, want %d", threads, team.Size(), want)
		}
		for rep := 0; rep < 50; rep++ {
			for _, n := range []int{0, 1, 2, 3, 7, 100} {
				j := &countJob{seen: make([]atomic.Int32, n), workers: make([]atomic.Int32, team.Size())}
				team.Run(j, n)
				for i := range j.seen {
					if c := j.seen[i].Load(); c != 1 {
						t.Fatalf("threads=%d n=%d: block %d ran %d times", threads, n, i, c)
					}
				}
			}
		}
	}
}

// sumJob writes one value per block; the blocks' order-dependent sum
// afterwards must not depend on the team size.
type sumJob struct{ out []float32 }

func (j *sumJob) Block(i, _ int) {
	v := float32(1)
	for k := 0; k < i%17; k++ {
		v = v*1.0001 + float32(k)/3
	}
	j.out[i] = v
}

func TestTeamSameBitsAnySize(t *testing.T) {
	var ref float32
	for _, threads := range []int{1, 2, 3} {
		j := &sumJob{out: make([]float32, 1000)}
		NewTeam(threads).Run(j, len(j.out))
		var s float32
		for _, v := range j.out {
			s += v
		}
		if threads == 1 {
			ref = s
		} else if s != ref {
			t.Fatalf("threads=%d: sum %v, want %v", threads, s, ref)
		}
	}
}

func TestTeamRunAllocatesNothing(t *testing.T) {
	team := NewTeam(3)
	j := &countJob{seen: make([]atomic.Int32, 64), workers: make([]atomic.Int32, 3)}
	if a := testing.AllocsPerRun(20, func() { team.Run(j, 64) }); a != 0 {
		t.Fatalf("%v allocations per run, want 0", a)
	}
}

// TestTeamHelpersExit: an unreachable team's helpers stop.
func TestTeamHelpersExit(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		team := NewTeam(5)
		team.Run(&countJob{seen: make([]atomic.Int32, 10), workers: make([]atomic.Int32, 5)}, 10)
	}()
	for i := 0; i < 100 && runtime.NumGoroutine() > before; i++ {
		runtime.GC()
		runtime.Gosched()
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after the team was dropped, %d before", n, before)
	}
}

func TestRange(t *testing.T) {
	for _, tc := range []struct{ n, size, blocks int }{{0, 4, 0}, {1, 4, 1}, {8, 4, 2}, {9, 4, 3}} {
		var covered []int
		r := &Range{N: tc.n, Size: tc.size, F: func(lo, hi int) {
			for i := lo; i < hi; i++ {
				covered = append(covered, i)
			}
		}}
		if r.Blocks() != tc.blocks {
			t.Errorf("%+v: %d blocks", tc, r.Blocks())
		}
		NewTeam(1).Run(r, r.Blocks())
		if len(covered) != tc.n {
			t.Errorf("%+v: covered %v", tc, covered)
		}
		for i, v := range covered {
			if v != i {
				t.Errorf("%+v: covered %v", tc, covered)
				break
			}
		}
	}
}
