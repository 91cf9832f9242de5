package probe

import (
	"fmt"
	"slices"
	"strings"

	"github.com/trainerd/trainerd/modelspec"
)

// CUDAModels returns the model.name values package cuda implements
// (cuda.New): the modelspec specs with CUDA set, as a fresh slice. cuda.New
// refuses any other name, and cmd/trainerd keeps every other model on CPU.
// It lives here, not in package cuda, because the default (CPU) trainerd
// must decide without linking gorgonia.org/cu.
func CUDAModels() []string { return modelspec.CUDANames() }

// HasCUDAConsumer reports whether model (a model.name value such as "mf" or
// "pinsage") has a CUDA consumer, i.e. whether trainerd-cuda can train it.
func HasCUDAConsumer(model string) bool {
	s, ok := modelspec.Lookup(model)
	return ok && s.CUDA
}

// CUDALosses returns the model.loss values the CUDA consumer implements
// (modelspec.CUDALosses), as a fresh slice ("" stands for the model's
// default loss, always one of them). cuda.ParseLoss refuses any other.
func CUDALosses() []string {
	out := []string{""}
	for _, l := range modelspec.CUDALosses() {
		out = append(out, l.String())
	}
	return out
}

// CUDAUnsupported returns why trainerd-cuda cannot train model with loss,
// or "" when it can.
func CUDAUnsupported(model, loss string) string {
	switch {
	case !HasCUDAConsumer(model):
		return fmt.Sprintf("model %s has no CUDA consumer (CUDA models: %s)", model, strings.Join(CUDAModels(), ", "))
	case !slices.Contains(CUDALosses(), loss):
		return fmt.Sprintf("loss %s has no CUDA kernel (CUDA losses: %s)", loss, strings.Join(CUDALosses()[1:], ", "))
	}
	return ""
}
