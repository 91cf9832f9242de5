#!/usr/bin/env bash
# Installs optional system libraries, only when missing. trainerd builds and
# runs without any of them (make build is pure Go):
#   - OpenBLAS (libopenblas-dev): a speed-up for the CPU GEMM. trainerd opens
#     libopenblas at run time when it is installed, else uses gonum's GEMM;
#     the headers let `make test` compare the run-time and cgo (tag cblas) paths;
#   - with --browser: Debian's Chromium, for the status page's browser test
#     (obs/browsertest; it skips when no chromium is on PATH);
#   - with --cuda: Debian's CUDA 11.8 toolkit (cuda.h, libcuda stub, nvcc) from
#     bookworm contrib/non-free, to compile the `cuda` build tag. Installed
#     with --no-install-recommends (the recommends build a DKMS module for ~13 min).
set -euo pipefail
want_cuda=0
want_browser=0
for arg in "$@"; do
  case "$arg" in
    --cuda) want_cuda=1 ;;
    --browser) want_browser=1 ;;
    *) echo "install-deps: unknown argument $arg (want --cuda, --browser)" >&2; exit 2 ;;
  esac
done
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
updated=0
apt_update() { [ $updated -eq 1 ] || { $SUDO apt-get update -qq; updated=1; }; }

if ! [ -e /usr/include/x86_64-linux-gnu/cblas.h ] && ! [ -e /usr/include/cblas.h ]; then
  echo "install-deps: installing libopenblas-dev (optional GEMM speed-up)" >&2
  apt_update
  $SUDO apt-get install -y -qq --no-install-recommends libopenblas-dev >/dev/null
fi

if [ $want_cuda -eq 1 ] && ! command -v nvcc >/dev/null 2>&1; then
  echo "install-deps: installing nvidia-cuda-toolkit (CUDA 11.8, Debian non-free)" >&2
  if ! grep -rqs 'non-free' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    $SUDO tee /etc/apt/sources.list.d/trainerd-nonfree.sources >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  updated=0
  apt_update
  $SUDO apt-get install -y -qq --no-install-recommends nvidia-cuda-toolkit >/dev/null
fi

if [ $want_browser -eq 1 ] && ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  echo "install-deps: installing chromium (the status page's browser test)" >&2
  apt_update
  $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
