package consumer

import (
	"fmt"

	"github.com/trainerd/trainerd/modelspec"
)

// builders maps each model.name of modelspec to its CPU constructor. A
// test checks that it covers modelspec.All() exactly.
func builders() map[string]func(Config, Info) (Model, error) {
	return map[string]func(Config, Info) (Model, error){
		modelspec.MF:        newMF,
		modelspec.DeepWalk:  newDeepWalk,
		modelspec.LightGCN:  newLightGCN,
		modelspec.NGCF:      newNGCF,
		modelspec.GraphSAGE: newGraphSAGE,
		modelspec.PinSage:   newPinSage,
	}
}

// New builds the model cfg.Model names.
func New(cfg Config, info Info) (Model, error) {
	if build, ok := builders()[cfg.Model]; ok {
		return build(cfg, info)
	}
	return nil, fmt.Errorf("model.name: unknown model %q (want %s)", cfg.Model, modelspec.NameList())
}
