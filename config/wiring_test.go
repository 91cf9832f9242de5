package config

import "testing"

// TestWiring checks what each model makes of the producer and model
// sections.
func TestWiring(t *testing.T) {
	for _, tc := range []struct {
		name, model, inputs, kind string
		layers, seed              int
		wantLayers                int
		wantKind                  string
		wantSeed                  uint64
		wantFeatures              bool
	}{
		{name: "pinsage keeps layers and kind", model: "pinsage", layers: 2, kind: "item_item", wantLayers: 2, wantKind: "item_item", wantSeed: 9, wantFeatures: true},
		{name: "graphsage id only", model: "graphsage", inputs: "id", layers: 3, kind: "user_item", wantLayers: 3, wantKind: "user_item", wantSeed: 9},
		{name: "pinsage features", model: "pinsage", inputs: "features", layers: 1, kind: "user_item", seed: 4, wantLayers: 1, wantKind: "user_item", wantSeed: 4, wantFeatures: true},
		{name: "lightgcn builds no graph", model: "lightgcn", layers: 2, kind: "user_item", wantLayers: 0, wantKind: "user_item", wantSeed: 9},
		{name: "deepwalk trains on walks", model: "deepwalk", kind: "user_item", wantLayers: 0, wantKind: "walks", wantSeed: 9},
		{name: "mf keeps item_item", model: "mf", kind: "item_item", wantLayers: 0, wantKind: "item_item", wantSeed: 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.Train.Seed = 9
			c.Model.Model, c.Model.Inputs, c.Model.Seed = tc.model, tc.inputs, 0
			c.Producer.Layers, c.Producer.Examples.Kind, c.Producer.Seed = tc.layers, tc.kind, uint64(tc.seed)
			pc := c.SamplerConfig()
			if pc.Layers != tc.wantLayers || pc.Examples.Kind != tc.wantKind || pc.Seed != tc.wantSeed {
				t.Errorf("SamplerConfig: layers %d kind %q seed %d, want %d %q %d", pc.Layers, pc.Examples.Kind, pc.Seed, tc.wantLayers, tc.wantKind, tc.wantSeed)
			}
			if got := c.ReadsFeatures(); got != tc.wantFeatures {
				t.Errorf("ReadsFeatures = %v, want %v", got, tc.wantFeatures)
			}
			if mc := c.ModelConfig(); mc.Seed != 9 {
				t.Errorf("ModelConfig seed %d, want train.seed 9", mc.Seed)
			}
			if c.Producer.Examples.Kind != tc.kind || c.Producer.Layers != tc.layers {
				t.Error("SamplerConfig changed the config")
			}
		})
	}
	c := Default()
	c.Model.Seed = 5
	if mc := c.ModelConfig(); mc.Seed != 5 {
		t.Errorf("ModelConfig seed %d, want model.seed 5", mc.Seed)
	}
}
