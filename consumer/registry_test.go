package consumer

import (
	"strings"
	"testing"

	"github.com/trainerd/trainerd/model"
	"github.com/trainerd/trainerd/modelspec"
)

// TestBuildersCoverSpecs checks that every model of the registry has a CPU
// constructor and that no constructor lacks a spec.
func TestBuildersCoverSpecs(t *testing.T) {
	b := builders()
	for _, s := range modelspec.All() {
		if b[s.Name] == nil {
			t.Errorf("model %s has a spec but no constructor", s.Name)
		}
	}
	if len(b) != len(modelspec.All()) {
		t.Errorf("%d constructors for %d specs", len(b), len(modelspec.All()))
	}
	_, err := New(model.Config{Model: "pinsage2"}, model.Info{NumUsers: 1, NumItems: 1})
	if err == nil || !strings.Contains(err.Error(), `model.name: unknown model "pinsage2" (want mf, deepwalk, lightgcn, ngcf, graphsage or pinsage)`) {
		t.Errorf("unknown model: %v", err)
	}
}
