package batch

import (
	"strings"
	"testing"
)

func TestBatchCheck(t *testing.T) {
	tests := []struct {
		name string
		b    Batch
		want string // "" = valid
	}{
		{"valid", Batch{Query: []uint32{0, 1}, Pos: []uint32{5, 6}, Neg: []uint32{7}, Hard: []uint32{8, 9}, HardPer: 1}, ""},
		{"positives", Batch{Query: []uint32{0, 1}, Pos: []uint32{5}}, "2 queries but 1 positives"},
		{"hard", Batch{Query: []uint32{0}, Pos: []uint32{5}, Hard: []uint32{8}, HardPer: 2}, "1 hard negatives, want 1×2"},
		{"range", Batch{Query: []uint32{0}, Pos: []uint32{5}, Neg: []uint32{10}}, "node id 10 out of range (10 nodes)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.b.Check(10)
			wantErr(t, err, tc.want)
		})
	}
}

func TestBatchCheckMasks(t *testing.T) {
	// 3 examples, a pool of 4.
	base := func() *Batch {
		return &Batch{Epoch: 2, Index: 7,
			Query: []uint32{0, 1, 2}, Pos: []uint32{10, 11, 12}, Neg: []uint32{20, 21, 22, 23},
			NegMask: []int32{0, 3, 3, 1}, NegMaskPtr: []int32{0, 2, 2, 4}, // repeats allowed
			InMask: []int32{1, 0, 2, 1}, InMaskPtr: []int32{0, 1, 3, 4},
		}
	}
	for _, tc := range []struct {
		name    string
		edit    func(b *Batch)
		inBatch bool
		ok      bool
	}{
		{"valid", func(*Batch) {}, true, true},
		{"no masks", func(b *Batch) { b.NegMask, b.NegMaskPtr, b.InMask, b.InMaskPtr = nil, nil, nil, nil }, true, true},
		{"neg entries without ptr", func(b *Batch) { b.NegMaskPtr = nil }, false, false},
		{"neg ptr too short", func(b *Batch) { b.NegMaskPtr = b.NegMaskPtr[:3] }, false, false},
		{"neg ptr empty", func(b *Batch) { b.NegMaskPtr = []int32{} }, false, false},
		{"neg ptr not from 0", func(b *Batch) { b.NegMaskPtr[0] = 1 }, false, false},
		{"neg ptr end", func(b *Batch) { b.NegMaskPtr[3] = 3 }, false, false},
		{"neg ptr decreases", func(b *Batch) { b.NegMaskPtr = []int32{0, 3, 2, 4} }, false, false},
		{"neg ptr passes end", func(b *Batch) { b.NegMaskPtr = []int32{0, 9, 2, 4} }, false, false},
		{"neg column past pool", func(b *Batch) { b.NegMask[1] = 4 }, false, false},
		{"neg column negative", func(b *Batch) { b.NegMask[1] = -1 }, false, false},
		{"in mask ignored without in-batch", func(b *Batch) { b.InMask[0] = 0; b.InMaskPtr = nil }, false, true},
		{"in mask names own positive", func(b *Batch) { b.InMask[0] = 0 }, true, false},
		{"in column past batch", func(b *Batch) { b.InMask[3] = 3 }, true, false},
		{"in entries without ptr", func(b *Batch) { b.InMaskPtr = nil }, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := base()
			tc.edit(b)
			err := b.CheckMasks(tc.inBatch)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckMasks: err %v, want ok=%v", err, tc.ok)
			}
			if err != nil {
				t.Log(err)
			}
		})
	}
}

// TestBatchCheckGraph: CheckGraph and CheckTargets accept a well-formed
// one-layer graph and name what is wrong in each malformed one.
func TestBatchCheckGraph(t *testing.T) {
	valid := func() Batch {
		return Batch{Layers: [][]uint32{{0, 5}, {0, 5, 7}}, T: 2,
			NbrIdx: [][]int32{{1, 0, 2, 0}}, NbrW: [][]float32{{0.5, 0.5, 1, 0}},
			QueryIdx: []int32{0}, PosIdx: []int32{1}, NegIdx: []int32{1}}
	}
	tests := []struct {
		name   string
		change func(*Batch)
		want   string // "" = valid
	}{
		{"valid", func(*Batch) {}, ""},
		{"layers", func(b *Batch) { b.Layers = append(b.Layers, []uint32{0, 5, 7}) }, "built for 2 layers, model has 1"},
		{"T", func(b *Batch) { b.T = 0 }, "T=0 with 1/1 hops"},
		{"node range", func(b *Batch) { b.Layers[1][2] = 10 }, "layer 1: node 10 out of range (10 nodes)"},
		{"shrinking", func(b *Batch) { b.Layers[1] = b.Layers[1][:1]; b.NbrIdx[0] = []int32{0, 0, 0, 0} }, "layer 1 smaller than layer 0"},
		{"slots", func(b *Batch) { b.NbrW[0] = b.NbrW[0][:3] }, "hop 0: 4 indices, 3 weights for 2 nodes × T=2"},
		{"neighbour range", func(b *Batch) { b.NbrIdx[0][1] = 3 }, "hop 0: neighbour index 3 out of range [0,3)"},
		{"example range", func(b *Batch) { b.NegIdx[0] = 2 }, "example index 2 out of range [0,2)"},
		{"positives", func(b *Batch) { b.PosIdx = nil }, "1 queries, 0 positives, 0 hard (HardPer 0)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := valid()
			tc.change(&b)
			err := b.CheckGraph(1, 10)
			if err == nil {
				err = b.CheckTargets()
			}
			wantErr(t, err, tc.want)
		})
	}
}

// wantErr fails t unless err is nil (want "") or contains want.
func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
}
