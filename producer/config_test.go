package producer

import (
	"reflect"
	"testing"
)

// TestEnsureDefaults checks that EnsureDefaults fills exactly the zero
// fields from Default, keeps the set ones, and derives walk.stop_nodes from
// neighbors.t.
func TestEnsureDefaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   func(*Config)
		want func(*Config)
	}{
		{"zero is Default", func(*Config) {}, func(*Config) {}},
		{"set fields kept", func(c *Config) {
			c.BatchSize, c.Walk.Alpha, c.Examples.Kind, c.Neighbors.Pad, c.Hard.Steps = 7, 0.25, "walks", true, 99
		}, func(c *Config) {
			c.BatchSize, c.Walk.Alpha, c.Examples.Kind, c.Neighbors.Pad, c.Hard.Steps = 7, 0.25, "walks", true, 99
		}},
		{"stop_nodes follows t", func(c *Config) { c.Neighbors.T = 17 }, func(c *Config) { c.Neighbors.T, c.Walk.StopNodes = 17, 17 }},
		{"stop_nodes -1 kept", func(c *Config) { c.Walk.StopNodes = -1 }, func(c *Config) { c.Walk.StopNodes = -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got Config
			tc.in(&got)
			got.EnsureDefaults()
			want := Default()
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
			again := got
			again.EnsureDefaults()
			if !reflect.DeepEqual(again, got) {
				t.Error("EnsureDefaults is not idempotent")
			}
		})
	}
	if err := func() *Config { c := Default(); return &c }().Validate(); err != nil {
		t.Errorf("Default does not validate: %v", err)
	}
}
