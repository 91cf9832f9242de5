package producer

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
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
