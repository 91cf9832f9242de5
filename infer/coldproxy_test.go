package infer

import (
	"reflect"
	"testing"
)

func TestColdProxies(t *testing.T) {
	// dim 2; nodes 0..5, degrees 3 0 5 0 2 0.
	feat := []float32{
		1, 0, // 0 warm
		2, 0.1, // 1 cold: nearest warm by cosine is 0 (1,0)
		0, 1, // 2 warm
		0, 0, // 3 cold, zero row: no proxy
		0, 3, // 4 warm, same direction as 2 but lower degree
		0, 0.5, // 5 cold: ties 2 and 4 at cosine 1, 2 has the higher degree
	}
	deg := []int{3, 0, 5, 0, 2, 0}
	got := coldProxies(feat, 2, 6, func(i uint32) int { return deg[i] })
	want := map[uint32]uint32{1: 0, 5: 2}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("coldProxies = %v, want %v", got, want)
	}
	none := coldProxies(feat, 2, 6, func(uint32) int { return 0 })
	if len(none) != 0 {
		t.Errorf("no warm node: proxies %v, want none", none)
	}
}
