package sage

import (
	"fmt"
	"testing"

	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/internal/testfixture"
	"github.com/trainerd/trainerd/model"
	"github.com/trainerd/trainerd/modelspec"
)

// gnnPlanted is testfixture.Communities under the names the GNN tests
// use: a bipartite graph with C communities whose users engage only the
// items of their community, train and test edges disjoint.
type gnnPlanted struct {
	U, I, C     int
	train, test [][]uint32 // per user, local item ids
	g           *graph.Bipartite
}

func newGNNPlanted(t testing.TB, U, I, C, trainPer, testPer int, seed uint64) *gnnPlanted {
	c := testfixture.NewCommunities(t, U, I, C, trainPer, testPer, seed)
	return &gnnPlanted{U: c.U, I: c.I, C: c.C, train: c.Train, test: c.Test, g: c.Graph}
}

// newModel builds the model cfg.Model names, pinsage or graphsage, as
// consumer.New does (which this package's tests cannot import).
func newModel(cfg model.Config, info model.Info) (model.Model, error) {
	switch cfg.Model {
	case modelspec.PinSage:
		return NewPinSage(cfg, info)
	case modelspec.GraphSAGE:
		return NewGraphSAGE(cfg, info)
	}
	return nil, fmt.Errorf("model.name: %q is not a model of package sage", cfg.Model)
}
