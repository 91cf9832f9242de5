package consumer

import (
	"fmt"

	"github.com/trainerd/trainerd/consumer/embedding"
	"github.com/trainerd/trainerd/consumer/propagation"
	"github.com/trainerd/trainerd/consumer/sage"
	"github.com/trainerd/trainerd/model"
	"github.com/trainerd/trainerd/modelspec"
)

// builders maps each model.name of modelspec to its CPU constructor. A
// test checks that it covers modelspec.All() exactly.
func builders() map[string]func(model.Config, model.Info) (model.Model, error) {
	return map[string]func(model.Config, model.Info) (model.Model, error){
		modelspec.MF:        embedding.NewMF,
		modelspec.DeepWalk:  embedding.NewDeepWalk,
		modelspec.LightGCN:  propagation.NewLightGCN,
		modelspec.NGCF:      propagation.NewNGCF,
		modelspec.GraphSAGE: sage.NewGraphSAGE,
		modelspec.PinSage:   sage.NewPinSage,
	}
}

// New builds the model cfg.Model names.
func New(cfg model.Config, info model.Info) (model.Model, error) {
	if build, ok := builders()[cfg.Model]; ok {
		return build(cfg, info)
	}
	return nil, fmt.Errorf("model.name: unknown model %q (want %s)", cfg.Model, modelspec.NameList())
}
