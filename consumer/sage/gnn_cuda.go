//go:build cuda

package sage

// The convolutional models (PinSage, GraphSAGE) are built on gorgonia, whose
// own files under the build tag cuda import cuDNN, so gnn.go, convnet.go,
// graphsage.go, pinsage.go and consumer/nn are excluded from -tags cuda builds
// (trainerd-cuda). There the CPU models are not available: trainerd-cuda
// trains PinSage with package cuda's GPU model, and GraphSAGE only on CPU
// with the default trainerd binary.

import (
	"fmt"

	"github.com/trainerd/trainerd/model"
)

// NewPinSage reports that the CPU PinSage is not in this build (trainerd-cuda
// builds PinSage with package cuda).
func NewPinSage(model.Config, model.Info) (model.Model, error) {
	return nil, fmt.Errorf("model.name: pinsage: the CPU model is not in -tags cuda builds; trainerd-cuda trains it with package cuda's GPU model, the default trainerd binary on CPU")
}

// NewGraphSAGE reports that GraphSAGE has no CUDA consumer.
func NewGraphSAGE(model.Config, model.Info) (model.Model, error) {
	return nil, fmt.Errorf("model.name: %w", errNoCUDAConsumer("graphsage"))
}

// errNoCUDAConsumer is the error for a model that only trains on CPU.
func errNoCUDAConsumer(model string) error {
	return fmt.Errorf("%s has no CUDA consumer yet; it trains on CPU with the default trainerd binary (train.device: cpu)", model)
}
