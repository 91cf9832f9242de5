package featurestore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/trainerd/trainerd/dataset"
	"github.com/trainerd/trainerd/graph"
)

func TestSpaceLensMatchEncoders(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 50 {
		n := r.IntN(300)
		ids := make([]string, n)
		for i := range ids {
			ids[i] = strings.Repeat("x", r.IntN(300))
		}
		if got, want := idsLen(ids), len(encodeIDs(ids)); got != want {
			t.Fatalf("trial %d: idsLen %d, encodeIDs %d", trial, got, want)
		}
		es := make([]dataset.Interaction, n)
		weighted := trial%2 == 0
		for i := range es {
			es[i] = dataset.Interaction{User: r.Uint32() >> r.IntN(32), Item: r.Uint32() >> r.IntN(32), Weight: 1}
			if weighted {
				es[i].Weight, es[i].Time = r.Float32(), r.Int64()>>r.IntN(64)-r.Int64()>>r.IntN(64)
			}
		}
		if got, want := interactionsLen(es), len(encodeInteractions(es)); got != want {
			t.Fatalf("trial %d: interactionsLen %d, encodeInteractions %d", trial, got, want)
		}
		edges := make([]graph.Edge, n)
		for i := range edges {
			edges[i] = graph.Edge{User: uint32(r.IntN(50)), Item: uint32(r.IntN(1 << 18))}
		}
		g, err := graph.Build(50, 1<<18, edges)
		if err != nil {
			t.Fatal(err)
		}
		lo := r.IntN(50)
		hi := lo + r.IntN(51-lo)
		if got, want := adjacencyLen(g.UserPtr, g.UserAdj, lo, hi), len(encodeAdjacency(g.UserPtr, g.UserAdj, lo, hi)); got != want {
			t.Fatalf("trial %d: adjacencyLen %d, encodeAdjacency %d", trial, got, want)
		}
	}
}

// TestCommitNoSpace: a filesystem without room for the new version gets a
// clean ENOSPC naming the store before anything is written (issue C3).
func TestCommitNoSpace(t *testing.T) {
	first := testDataset(50, 100, 80, 1000, 100, 4, 4, false)
	second := testDataset(51, 3000, 2000, 50000, 5000, 16, 8, true)
	p, err := planVersion(second)
	if err != nil {
		t.Fatal(err)
	}
	need := fixedBound(4096) + p.space.bound(4096)
	cases := []struct {
		name string
		free int64
		ok   bool
	}{
		{"full", 0, false},
		{"one byte short", need - 1, false},
		{"exactly enough", need, true},
		{"unknown", -1, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := Commit(context.Background(), dir, first); err != nil {
				t.Fatal(err)
			}
			env := commitEnv{free: func(string) (int64, int64, error) { return c.free, 4096, nil }}
			_, err := commit(context.Background(), dir, second, env)
			versions, staging := listDir(t, dir)
			if len(versions) != 1 || len(staging) != 0 {
				t.Fatalf("versions %v, staging %v; want 1 version, no staging", versions, staging)
			}
			s, oerr := Open(dir, Options{ReadOnly: true})
			if oerr != nil {
				t.Fatal(oerr)
			}
			defer s.Close()
			if c.ok {
				if err != nil {
					t.Fatalf("commit: %v", err)
				}
				checkStore(t, s, second)
				return
			}
			if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "commit "+dir+": no space left on device") {
				t.Fatalf("commit error %v, want ENOSPC naming %s", err, dir)
			}
			checkStore(t, s, first)
		})
	}
}

// TestCommitLongID: an external id too long for a Badger key is refused
// before anything is written, not by a Badger assertion that exits the
// process (issue C4).
func TestCommitLongID(t *testing.T) {
	first := testDataset(60, 30, 20, 100, 10, 0, 0, false)
	cases := []struct {
		name string
		n    int
		ok   bool
	}{
		{"at the limit", MaxIDBytes, true},
		{"one over", MaxIDBytes + 1, false},
		{"64 KiB", 64 << 10, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := Commit(context.Background(), dir, first); err != nil {
				t.Fatal(err)
			}
			ds := testDataset(61, 30, 20, 100, 10, 0, 2, false)
			ds.ItemIDs[7] = strings.Repeat("é", c.n/2) + strings.Repeat("z", c.n%2)
			_, err := Commit(context.Background(), dir, ds)
			_, merr := OpenMemory(ds)
			versions, staging := listDir(t, dir)
			if len(versions) != 1 || len(staging) != 0 {
				t.Fatalf("versions %v, staging %v; want 1 version, no staging", versions, staging)
			}
			if c.ok {
				if err != nil || merr != nil {
					t.Fatalf("Commit: %v; OpenMemory: %v", err, merr)
				}
				return
			}
			want := fmt.Sprintf("item 7 has an external id of %d bytes", c.n)
			for _, err := range []error{err, merr} {
				if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "over the 1024-byte limit") {
					t.Errorf("error %v, want %q", err, want)
				}
				if err != nil && len(err.Error()) > 300 {
					t.Errorf("error is %d bytes long", len(err.Error()))
				}
			}
		})
	}
}

// panicCtx panics on its n-th Err call: a stand-in for a panic anywhere in
// the middle of a Commit.
type panicCtx struct {
	context.Context
	left atomic.Int64
}

func (c *panicCtx) Err() error {
	if c.left.Add(-1) == 0 {
		panic("injected panic")
	}
	return nil
}

// TestCommitPanicCleansUp: a panic in the middle of a Commit still removes
// the staging directory and the space reservation and leaves the store as
// it was (issue C3: a staging directory kept a disk full).
func TestCommitPanicCleansUp(t *testing.T) {
	first := testDataset(80, 100, 80, 1000, 100, 4, 4, false)
	second := testDataset(81, 3000, 2000, InteractionBlock+10, 5000, 16, 8, true)
	checks := countChecks(t, second)
	for _, n := range []int64{2, int64(checks) / 2, int64(checks)} {
		t.Run(fmt.Sprint("check ", n), func(t *testing.T) {
			dir := t.TempDir()
			if _, err := Commit(context.Background(), dir, first); err != nil {
				t.Fatal(err)
			}
			ctx := &panicCtx{Context: context.Background()}
			ctx.left.Store(n)
			func() {
				defer func() {
					if r := recover(); r != "injected panic" {
						t.Fatalf("recovered %v, want the injected panic", r)
					}
				}()
				Commit(ctx, dir, second)
			}()
			versions, staging := listDir(t, dir)
			if len(versions) != 1 || len(staging) != 0 {
				t.Fatalf("versions %v, staging %v; want 1 version, no staging", versions, staging)
			}
			s, err := Open(dir, Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			checkStore(t, s, first)
		})
	}
}
