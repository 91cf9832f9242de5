package probe

import "slices"

// CUDAModels returns the model.name values package cuda implements
// (cuda.New), as a fresh slice. This is the one list: cuda.New refuses any
// other name, and cmd/trainerd keeps every other model on CPU. It lives
// here, not in package cuda, because the default (CPU) trainerd must decide
// without linking gorgonia.org/cu.
func CUDAModels() []string { return []string{"mf", "lightgcn"} }

// HasCUDAConsumer reports whether model (a model.name value such as "mf" or
// "pinsage") has a CUDA consumer, i.e. whether trainerd-cuda can train it.
func HasCUDAConsumer(model string) bool { return slices.Contains(CUDAModels(), model) }
