//go:build cuda

package sage

// The convolutional models (PinSage, GraphSAGE) are built on gorgonia, whose
// own files under the build tag cuda import cuDNN, so gnn.go, convnet.go,
// graphsage.go, pinsage.go and consumer/nn are excluded from -tags cuda builds
// (trainerd-cuda). There they are not available: the CPU trainerd trains
// them, and cmd/trainerd never hands them over to trainerd-cuda.

import (
	"fmt"

	"github.com/trainerd/trainerd/model"
)

// NewPinSage reports that PinSage has no CUDA consumer.
func NewPinSage(model.Config, model.Info) (model.Model, error) {
	return nil, fmt.Errorf("model.name: %w", errNoCUDAConsumer("pinsage"))
}

// NewGraphSAGE reports that GraphSAGE has no CUDA consumer.
func NewGraphSAGE(model.Config, model.Info) (model.Model, error) {
	return nil, fmt.Errorf("model.name: %w", errNoCUDAConsumer("graphsage"))
}

// errNoCUDAConsumer is the error for a model that only trains on CPU.
func errNoCUDAConsumer(model string) error {
	return fmt.Errorf("%s has no CUDA consumer yet; it trains on CPU with the default trainerd binary (train.device: cpu)", model)
}
