package sage

import (
	"github.com/trainerd/trainerd/model"
	"reflect"
	"testing"
)

func TestGrowIDTable(t *testing.T) {
	// 2 users + 1 item, dim 2, grown to 3 users + 2 items.
	state := []model.Tensor{
		{Name: "param/conv1/W", Shape: []int{1, 2}, Data: []float32{7, 8}},
		{Name: "param/emb", Shape: []int{3, 2}, Data: []float32{1, 1, 2, 2, 3, 3}},
		{Name: "opt/emb/adam_steps", Shape: []int{3}, Data: []float32{4, 5, 6}},
	}
	got, err := GrowIDTable(state, 2, 1, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []model.Tensor{
		state[0],
		{Name: "param/emb", Shape: []int{5, 2}, Data: []float32{1, 1, 2, 2, 0, 0, 3, 3, 0, 0}},
		{Name: "opt/emb/adam_steps", Shape: []int{5}, Data: []float32{4, 5, 0, 6, 0}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GrowIDTable = %+v, want %+v", got, want)
	}
	if state[1].Data[4] != 3 || len(state[1].Data) != 6 {
		t.Error("GrowIDTable modified its input")
	}
	for _, tc := range []struct {
		name           string
		ou, oi, nu, ni int
	}{{"shrink", 2, 1, 1, 1}, {"wrong old counts", 2, 2, 3, 3}} {
		if _, err := GrowIDTable(state, tc.ou, tc.oi, tc.nu, tc.ni); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}
