package embedding

import (
	"github.com/trainerd/trainerd/consumer/embedcore"
	"github.com/trainerd/trainerd/model"
	"github.com/trainerd/trainerd/modelspec"
)

// NewDeepWalk builds DeepWalk: skip-gram over random-walk (center, context)
// pairs, which the producer delivers as Query=center, Pos=context and the
// shared pool as negatives (global ids, either side). One table over all
// U+I global nodes; Embed returns its user rows and item rows. Default loss
// sgns (skip-gram negative sampling).
func NewDeepWalk(cfg model.Config, info model.Info) (model.Model, error) {
	return newTableModel(modelspec.DeepWalk, embedcore.Defaults(cfg, modelspec.DeepWalk, model.Info{}), info)
}
