package embedcore

import (
	"github.com/trainerd/trainerd/consumer/optim"
	"github.com/trainerd/trainerd/model"
)

// OptTensors converts an optimiser's state arrays to model tensors (the
// same backing arrays).
func OptTensors(arrs []optim.Array) []model.Tensor {
	out := make([]model.Tensor, len(arrs))
	for i, a := range arrs {
		out[i] = model.Tensor{Name: a.Name, Shape: a.Shape, Data: a.Data}
	}
	return out
}

// OptArrays converts model tensors to optimiser state arrays (the same
// backing arrays), for optim.Optimizer.Load.
func OptArrays(ts []model.Tensor) []optim.Array {
	out := make([]optim.Array, len(ts))
	for i, t := range ts {
		out[i] = optim.Array{Name: t.Name, Shape: t.Shape, Data: t.Data}
	}
	return out
}

// CloneTensors deep-copies state so that later training does not change a
// returned snapshot.
func CloneTensors(ts []model.Tensor) []model.Tensor {
	out := make([]model.Tensor, len(ts))
	for i, t := range ts {
		out[i] = model.Tensor{Name: t.Name, Shape: append([]int(nil), t.Shape...), Data: append([]float32(nil), t.Data...)}
	}
	return out
}
