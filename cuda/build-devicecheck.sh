#!/usr/bin/env bash
# Builds, on a machine with Go and the CUDA headers (no GPU needed), the
# binaries cuda/devicecheck.sh runs on a GPU machine that has no Go:
#   bin/cudaprobe     GPU probe without libcuda linked (cuda/cmd/cudaprobe)
#   bin/cuda.test     the package's device tests and benchmarks
#                     (tags cuda cudadevice; noopenblas so the GPU
#                     machine needs no libopenblas; the CPU baseline in the
#                     benchmarks then uses gonum's GEMM)
#   bin/trainerd-cuda the CUDA daemon binary (tags cuda noopenblas)
#   bin/trainerd      the default CPU daemon (tag noopenblas only), which
#                     probes for a GPU and execs bin/trainerd-cuda beside it
#   bin/sageref       the CPU PinSage (cuda/cmd/sageref, tag noopenblas): it
#                     writes bin/sageref.gob here, the CPU results the GPU
#                     PinSage test compares against (the CPU network is
#                     compiled out of -tags cuda binaries), and times the CPU
#                     baseline of the PinSage benchmark on the GPU machine
# Neither daemon links libopenblas (checked with ldd below), and bin/trainerd
# must not link libcuda either. bin/ is gitignored; carry it to the GPU
# machine.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
# Regenerate the PTX when nvcc is here and the source is newer.
if command -v nvcc >/dev/null && [ cuda/kernels/trainerd.cu -nt cuda/kernels/trainerd.ptx ]; then
  (cd cuda && go generate .)
fi
flags=(-trimpath -ldflags '-s -w')
go build "${flags[@]}" -o bin/cudaprobe ./cuda/cmd/cudaprobe
go test -c "${flags[@]}" -tags 'cuda cudadevice noopenblas' -o bin/cuda.test ./cuda/
go build "${flags[@]}" -tags 'cuda noopenblas' -o bin/trainerd-cuda ./cmd/trainerd
go build "${flags[@]}" -tags noopenblas -o bin/trainerd ./cmd/trainerd
go build "${flags[@]}" -tags noopenblas -o bin/sageref ./cuda/cmd/sageref
bin/sageref -o bin/sageref.gob
cp cuda/devicecheck.sh bin/devicecheck.sh
ls -la bin/cudaprobe bin/cuda.test bin/trainerd-cuda bin/trainerd bin/sageref bin/sageref.gob
if command -v ldd >/dev/null; then
  for b in cuda.test trainerd-cuda trainerd sageref; do
    echo "$b needs:"; ldd "bin/$b" | sed 's/^/  /'
    if ldd "bin/$b" | grep -q libopenblas; then
      echo "error: bin/$b links libopenblas" >&2; exit 1
    fi
  done
  for b in cudaprobe trainerd sageref; do
    if ldd "bin/$b" | grep -q libcuda; then
      echo "error: bin/$b links libcuda" >&2; exit 1
    fi
  done
fi
