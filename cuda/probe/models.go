package probe

import (
	"fmt"
	"slices"
	"strings"
)

// CUDAModels returns the model.name values package cuda implements
// (cuda.New), as a fresh slice. This is the one list: cuda.New refuses any
// other name, and cmd/trainerd keeps every other model on CPU. It lives
// here, not in package cuda, because the default (CPU) trainerd must decide
// without linking gorgonia.org/cu.
func CUDAModels() []string { return []string{"mf", "lightgcn"} }

// HasCUDAConsumer reports whether model (a model.name value such as "mf" or
// "pinsage") has a CUDA consumer, i.e. whether trainerd-cuda can train it.
func HasCUDAConsumer(model string) bool { return slices.Contains(CUDAModels(), model) }

// CUDALosses returns the model.loss values the CUDA consumer implements, as
// a fresh slice ("" stands for the model's default loss, always one of
// them). cuda.ParseLoss refuses any other.
func CUDALosses() []string { return []string{"", "bpr", "margin", "softmax", "sgns"} }

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
