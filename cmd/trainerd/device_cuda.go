//go:build cuda

package main

import (
	"errors"
	"fmt"

	"github.com/trainerd/trainerd/cuda"
	"github.com/trainerd/trainerd/model"
)

// cudaBuilt is true in trainerd-cuda (built with -tags cuda).
const cudaBuilt = true

// cudaModel is a GPU model that owns its Device.
type cudaModel struct {
	cuda.Model
	dev *cuda.Device
}

// Close frees the model and its device context.
func (m *cudaModel) Close() error {
	return errors.Join(m.Model.Close(), m.dev.Close())
}

// newCUDAModel opens device ordinal and builds cfg.Model on it (one of
// probe.CUDAModels). The returned model's Close (it implements io.Closer) releases
// the device.
func newCUDAModel(cfg model.Config, info model.Info, ordinal int) (model.Model, error) {
	dev, err := cuda.Open(ordinal)
	if err != nil {
		return nil, fmt.Errorf("open cuda:%d: %w", ordinal, err)
	}
	m, err := cuda.New(dev, cfg, info)
	if err != nil {
		_ = dev.Close()
		return nil, err
	}
	return &cudaModel{Model: m, dev: dev}, nil
}

// SetNeighbors implements model.NeighborSetter for the GPU models that
// convolve (PinSage), so that their Embed uses the producer's
// neighbourhoods as on CPU; the others ignore it.
func (m *cudaModel) SetNeighbors(fn model.NeighborFunc, t int) {
	if ns, ok := m.Model.(model.NeighborSetter); ok {
		ns.SetNeighbors(fn, t)
	}
}
