package sageref

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/trainerd/trainerd/model"
)

// The generated batches have the producer's layout and pass the checks the
// models run.
func TestNewBatchLayout(t *testing.T) {
	g, _ := Graph(40, 50, 300, 1)
	n := g.NumUsers + g.NumItems
	for _, s := range []Shape{{B: 8, P: 6, K: 1, T: 2}, {B: 16, P: 12, H: 2, K: 2, T: 5}, {B: 5, P: 50, K: 3, T: 4}} {
		b := NewBatch(g, rand.New(rand.NewPCG(2, 3)), s, 0)
		if err := b.Check(n); err != nil {
			t.Fatal(err)
		}
		if err := b.CheckMasks(true); err != nil {
			t.Fatal(err)
		}
		if b.K() != s.K || b.T != s.T || len(b.QueryIdx) != s.B || len(b.HardIdx) != s.B*s.H {
			t.Fatalf("shape %+v: K %d T %d, %d queries, %d hard", s, b.K(), b.T, len(b.QueryIdx), len(b.HardIdx))
		}
		for k, l := range b.Layers {
			seen := map[uint32]bool{}
			for i, id := range l {
				if seen[id] {
					t.Fatalf("layer %d repeats node %d", k, id)
				}
				seen[id] = true
				if k > 0 && i < len(b.Layers[k-1]) && b.Layers[k-1][i] != id {
					t.Fatalf("layer %d does not start with layer %d", k, k-1)
				}
			}
		}
		for k := 0; k < s.K; k++ {
			for u := range b.Layers[k] {
				var sum float64
				for j := u * s.T; j < (u+1)*s.T; j++ {
					ix, w := b.NbrIdx[k][j], b.NbrW[k][j]
					if ix < 0 || int(ix) >= len(b.Layers[k+1]) {
						t.Fatalf("hop %d: index %d out of range", k, ix)
					}
					if w == 0 && int(ix) != u {
						t.Fatalf("hop %d: empty slot points at %d, not at node %d", k, ix, u)
					}
					sum += float64(w)
				}
				if sum != 0 && math.Abs(sum-1) > 1e-5 {
					t.Fatalf("hop %d node %d: weights sum to %v", k, u, sum)
				}
			}
		}
		for j, ix := range b.QueryIdx {
			if b.Layers[0][ix] != b.Query[j] {
				t.Fatalf("QueryIdx[%d] names %d, query is %d", j, b.Layers[0][ix], b.Query[j])
			}
		}
		for j, ix := range b.NegIdx {
			if b.Layers[0][ix] != b.Neg[j] {
				t.Fatalf("NegIdx[%d] names %d, pool item is %d", j, b.Layers[0][ix], b.Neg[j])
			}
		}
	}
}

// Cases are deterministic and carry what the comparison needs.
func TestCasesDeterministic(t *testing.T) {
	a, b := Cases(), Cases()
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two calls of Cases differ")
	}
	aggs, inputs := map[string]bool{}, map[string]bool{}
	for _, c := range a {
		aggs[c.Config.Aggregator], inputs[c.Config.Inputs] = true, true
		info, err := c.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Graph.NumUsers != c.NumUsers || (c.Config.Inputs != "id") != (c.UserFeatDim > 0) {
			t.Fatalf("case %s: info %+v", c.Name, info)
		}
		for _, bt := range c.Batches {
			if len(bt.NegMask) == 0 || len(bt.InMask) == 0 {
				t.Fatalf("case %s: a batch without collisions to mask", c.Name)
			}
		}
	}
	if len(aggs) != 2 || len(inputs) != 3 {
		t.Fatalf("cases cover aggregators %v and inputs %v; want importance and mean, id, features and both", aggs, inputs)
	}
}

func TestWriteRead(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ref.gob")
	f := &File{Cases: Cases()[:1]}
	f.Cases[0].Losses = []float64{1.5}
	f.Cases[0].Initial = []model.Tensor{{Name: "param/emb", Shape: []int{1, 2}, Data: []float32{3, 4}}}
	if err := Write(p, f); err != nil {
		t.Fatal(err)
	}
	got, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Cases[0].Initial, f.Cases[0].Initial) || got.Cases[0].Losses[0] != 1.5 || len(got.Cases[0].Batches) != len(f.Cases[0].Batches) {
		t.Fatal("round trip changed the file")
	}
	// a failed write leaves nothing behind; bad files are errors
	if err := Write(filepath.Join(dir, "missing", "ref.gob"), f); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
	if err := os.WriteFile(p, []byte("not gob"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(p); err == nil {
		t.Fatal("read a corrupt file")
	}
	if _, err := Read(filepath.Join(dir, "none.gob")); err == nil {
		t.Fatal("read a missing file")
	}
}
