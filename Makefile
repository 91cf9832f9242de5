# trainerd: the README's two commands are `make quickstart` and `make test`.
export OPENBLAS_CORETYPE ?= Haswell
GO ?= go
BIN := bin
STORE ?= stores/quickstart
RUN ?= runs/quickstart

.PHONY: all build build-cuda deps quickstart test test-race vet clean fuzz-short test-beam check-reference

all: build

# Optional: OpenBLAS makes the CPU GEMM several times faster. The default binary is pure Go (no C toolchain) and opens
# libopenblas at run time when it is installed, else uses gonum's GEMM and logs so.
deps:
	bash scripts/install-deps.sh

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN)/trainerd ./cmd/trainerd

# The CUDA consumer: the same main package with -tags cuda (needs CUDA headers, see scripts/install-deps.sh --cuda).
build-cuda:
	bash scripts/install-deps.sh --cuda
	$(GO) build -tags cuda -o $(BIN)/trainerd-cuda ./cmd/trainerd

# Main job: generate a synthetic data set with planted communities (first use only), train, evaluate.
quickstart: build
	@if ! $(BIN)/trainerd stats --store $(STORE) >/dev/null 2>&1; then \
		$(BIN)/trainerd gen --store $(STORE) --preset small; fi
	$(BIN)/trainerd stats --store $(STORE)
	$(BIN)/trainerd train --config configs/quickstart.yaml --store $(STORE) --run-dir $(RUN)
	$(BIN)/trainerd eval --store $(STORE) --run-dir $(RUN) --json

# Tests: vet (default, pure-Go, cblas and cuda tags), unit tests, race tests of the concurrent packages, cuda build.
# CI installs OpenBLAS first (scripts/install-deps.sh) so the tests also run GEMM on it, through purego and cgo.
test:
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) vet ./...
	$(GO) test ./...
	$(GO) test -race ./producer/... ./checkpoints/... ./obs/... ./serve/... ./trainer/... ./eval/... \
		./consumer/loss/... ./consumer/optim/... ./consumer/embedcore/... ./consumer/embedding/... \
		./consumer/propagation/... ./consumer/sage/... ./internal/... ./featurestore/... ./ingest/... ./tune/...
	$(MAKE) --no-print-directory fuzz-short
	@if [ -e /usr/include/x86_64-linux-gnu/cblas.h ] || [ -e /usr/include/cblas.h ]; then \
		$(GO) vet -tags cblas ./linalg/ && $(GO) test -tags cblas ./linalg/; \
	else echo "make test: cblas.h absent, skipping the cgo OpenBLAS comparison (scripts/install-deps.sh)"; fi
	@if command -v nvcc >/dev/null 2>&1 || [ -e /usr/include/cuda.h ]; then \
		$(GO) vet -tags cuda ./... && $(GO) build -tags cuda -o /dev/null ./cmd/trainerd; \
	else echo "make test: CUDA headers absent, skipping the cuda build tag (scripts/install-deps.sh --cuda)"; fi

# configs/reference.yaml is generated from config.Default() and its documentation table (go generate ./config/);
# this fails when the checked-in file is not current (go test ./... checks it too).
check-reference:
	$(GO) test -run '^TestReferenceYAML$$' ./config/

# The Beam pipeline (beam/, a module of its own so the daemon does not carry Beam): its tests on the prism runner.
test-beam:
	cd beam && $(GO) vet ./... && $(GO) test ./...

# Each fuzz target for a fixed number of executions (a few seconds each; the seed corpora under */testdata/fuzz
# also run in plain go test). Counts, not durations: a duration -fuzztime can fail with a spurious "context deadline
# exceeded" when it expires while a worker is mid-input (go.dev/issue/75804, Go 1.26).
FUZZSCALE ?= 1
fuzz-short:
	$(GO) test -run='^$$' -fuzz='^FuzzLoad$$' -fuzztime=$$((5000*$(FUZZSCALE)))x -fuzzminimizetime=5s ./config/
	$(GO) test -run='^$$' -fuzz='^FuzzLightGCN$$' -fuzztime=$$((20000*$(FUZZSCALE)))x -fuzzminimizetime=5s ./ingest/
	$(GO) test -run='^$$' -fuzz='^FuzzCSV$$' -fuzztime=$$((20000*$(FUZZSCALE)))x -fuzzminimizetime=5s ./ingest/
	$(GO) test -run='^$$' -fuzz='^FuzzMovieLens$$' -fuzztime=$$((3000*$(FUZZSCALE)))x -fuzzminimizetime=5s ./ingest/

clean:
	rm -rf $(BIN)
