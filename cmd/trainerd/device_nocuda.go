//go:build !cuda

package main

import (
	"errors"

	"github.com/trainerd/trainerd/model"
)

// cudaBuilt is false in the default (CPU) binary.
const cudaBuilt = false

// newCUDAModel is only available in trainerd-cuda.
func newCUDAModel(model.Config, model.Info, int) (model.Model, error) {
	return nil, errors.New("this trainerd was built without CUDA (build trainerd-cuda with -tags cuda)")
}
