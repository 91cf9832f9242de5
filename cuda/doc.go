// Package cuda is trainerd's GPU consumer: one CUDA context per process, a
// device memory arena allocated once, streams and events, pinned host
// buffers, our own kernels (kernels/trainerd.cu, compiled to PTX and
// embedded) and GPU implementations of model.Model (MF, LightGCN and
// PinSage with importance or mean pooling) whose math matches the CPU
// consumer (consumer/loss, consumer/optim, consumer/sage's network).
// consumer/sage is compiled out of this package's builds, so the PinSage
// device test compares against CPU results written by cuda/cmd/sageref
// (cases in cuda/sageref).
//
// Build tag: every file that imports gorgonia.org/cu carries the tag cuda;
// trainerd-cuda is `go build -tags cuda -o bin/trainerd-cuda ./cmd/trainerd`.
// gorgonia v0.9.18 has its own files under the same tag that import cuDNN
// (gorgonia.org/cu/dnn), which cannot be installed here, so every file of
// ours that imports gorgonia (in consumer/sage and consumer/nn) is tagged
// !cuda: trainerd-cuda does not contain them (consumer/sage/gnn_cuda.go
// makes those models return an error there), and the model list in
// cuda/probe (CUDAModels) keeps them on the CPU trainerd.
//
// gorgonia.org/cu calls cuInit in its package init and exits the process
// when no device is present, so:
//
//   - the default trainerd never links this package (cmd/trainerd probes with
//     cuda/probe, which only dlopens libcuda, and execs trainerd-cuda);
//   - the tests that need a device carry the extra tag cudadevice
//     (`//go:build cuda && cudadevice`): `go test -tags cuda
//     ./cuda/...` on a machine without a GPU compiles this package, runs
//     cuda/probe's tests and finds no test files here, instead of dying in
//     cu's init. The device check (cuda/devicecheck.sh) runs a test binary
//     built with `-tags 'cuda cudadevice noopenblas'`
//     (cuda/build-devicecheck.sh) only after nvidia-smi and the cudaprobe
//     command (cuda/cmd/cudaprobe) said a GPU is there.
//
// Threading: a Device owns one context made current on one locked OS thread;
// all CUDA calls run there through Device.Do. Streams: Compute runs a step,
// Copy uploads batches; an event orders them, so with StepNext the next
// batch's host staging and upload overlap the current step's kernels.
//
// The package never reads the store or the graph on its hot path: a step
// gets everything from a batch.Batch, as on CPU.
package cuda

//go:generate nvcc -ptx -arch=compute_80 -O3 -o kernels/trainerd.ptx kernels/trainerd.cu
