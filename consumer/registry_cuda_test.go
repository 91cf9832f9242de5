//go:build cuda

package consumer

import (
	"strings"
	"testing"

	"github.com/trainerd/trainerd/model"
)

// In trainerd-cuda (-tags cuda) the gorgonia models are compiled out and New
// says so; the other models still build.
func TestGNNWithoutGorgoniaUnderCUDATag(t *testing.T) {
	info := model.Info{NumUsers: 4, NumItems: 5}
	tests := []struct {
		model   string
		wantErr string // "" = builds
	}{
		{"pinsage", "pinsage: the CPU model is not in -tags cuda builds"},
		{"graphsage", "graphsage has no CUDA consumer yet; it trains on CPU with the default trainerd binary (train.device: cpu)"},
		{"mf", ""},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			m, err := New(model.Config{Model: tt.model, Dim: 4, Loss: "bpr", Seed: 1, Threads: 1}, info)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New(%s): %v", tt.model, err)
				}
				if m.Name() != tt.model {
					t.Fatalf("built %q, want %q", m.Name(), tt.model)
				}
				return
			}
			if err == nil {
				t.Fatalf("New(%s) built %q under -tags cuda", tt.model, m.Name())
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}
