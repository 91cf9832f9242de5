package consumer

import "fmt"

// New builds the model cfg.Model names.
func New(cfg Config, info Info) (Model, error) {
	switch cfg.Model {
	case "mf":
		return newMF(cfg, info)
	case "deepwalk":
		return newDeepWalk(cfg, info)
	case "lightgcn":
		return newLightGCN(cfg, info)
	case "ngcf":
		return newNGCF(cfg, info)
	case "graphsage":
		return newGraphSAGE(cfg, info)
	case "pinsage":
		return newPinSage(cfg, info)
	}
	return nil, fmt.Errorf("model.name: unknown model %q (want mf, deepwalk, lightgcn, ngcf, graphsage or pinsage)", cfg.Model)
}
