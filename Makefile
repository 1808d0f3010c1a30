# simclr build, test and benchmark entry points. `make help` lists them.
GO        ?= go
BIN       ?= bin/simclr
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X simclr/internal/version.Version=$(VERSION) -X simclr/internal/version.Commit=$(COMMIT)
PYTHON    ?= /usr/bin/python3

.PHONY: help setup build test test-short test-cudaemu test-cudaemu-asan test-cudaemu-fma bench bench-cpu lint golden kernels build-cuda vet-cuda gpu-bundle gpu-check clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

setup: ## download the Go modules
	$(GO) mod download

build: ## build the CPU binary into bin/simclr (pure Go, no CUDA needed)
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/simclr

# The emulated parity suite runs once per thread order (CUDAEMU_ORDER, see
# docs/cuda.md): a kernel whose results depend on the order fails in one.
EMU_ORDERS ?= index reverse
# ASan + UBSan for the emulator and the kernels it compiles (and Go's -asan).
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

test: ## vet and run every test, the CUDA kernels under the CPU emulator (in each of EMU_ORDERS) included (the README's test command)
	$(GO) vet ./...
	$(GO) vet -tags cudaemu ./internal/backend/cuda/... ./internal/cli/...
	$(GO) test -count=1 -timeout 20m ./...
	@for o in $(EMU_ORDERS); do echo "CUDAEMU_ORDER=$$o"; \
	  CUDAEMU_ORDER=$$o $(GO) test -count=1 -timeout 20m -tags cudaemu ./internal/backend/cuda/... || exit 1; done
	$(GO) test -count=1 -tags cudaemu -run KernelTimes ./internal/cli/

test-cudaemu: ## only the CUDA kernels' parity suite (in each of EMU_ORDERS) and `bench --kernel-times`, run by the CPU emulator (g++, no GPU)
	@for o in $(EMU_ORDERS); do echo "CUDAEMU_ORDER=$$o"; \
	  CUDAEMU_ORDER=$$o $(GO) test -count=1 -timeout 20m -tags cudaemu ./internal/backend/cuda/... || exit 1; done
	$(GO) test -count=1 -tags cudaemu -run KernelTimes ./internal/cli/

test-cudaemu-asan: ## the emulated parity suite under ASan + UBSan (run before every kernel change)
	CGO_CFLAGS="-O1 -g $(SAN_FLAGS)" CGO_CXXFLAGS="-O1 -g $(SAN_FLAGS)" CGO_LDFLAGS="$(SAN_FLAGS)" \
	  $(GO) test -asan -count=1 -timeout 30m -tags cudaemu ./internal/backend/cuda/...

test-cudaemu-fma: ## the emulated parity suite with a*b+c contracted into FMAs as nvcc does (x86-64 with FMA)
	CGO_CXXFLAGS="-O2 -mfma -ffp-contract=fast -DSIMCLR_EMU_FP_CONTRACT" \
	  $(GO) test -count=1 -timeout 20m -tags cudaemu ./internal/backend/cuda/...

test-short: ## quick tests only
	$(GO) test -count=1 -short ./...

bench: ## Go micro-benchmarks (GEMM, vector loops, ops incl. im2col vs shifted convs side by side, augmentation)
	$(GO) test -run '^$$' -bench . -benchtime 3x ./internal/gemm ./internal/vec ./internal/backend/cpu ./internal/augment

bench-cpu: build ## simclr bench for ResNet-18 and the Fashion-MNIST model beside PyTorch on the same cores
	./tools/bench/bench-cpu.sh $(BIN)

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

golden: ## regenerate testdata/golden with PyTorch (Debian python3-torch)
	$(PYTHON) tools/golden/gen.py testdata/golden

kernels: ## nvcc: kernels/*.cu -> fatbin (sm_70..sm_90 + PTX), ptxas register/spill summary
	./kernels/build.sh

# Linking needs libcuda; the toolkit's stub serves where no driver is installed.
CUDA_STUBS ?= /usr/lib/x86_64-linux-gnu/stubs
build-cuda: kernels ## the CUDA binary bin/simclr-cuda (fatbin embedded)
	CGO_LDFLAGS="-L$(CUDA_STUBS) $$CGO_LDFLAGS" $(GO) build -tags cuda -ldflags "$(LDFLAGS)" -o bin/simclr-cuda ./cmd/simclr

vet-cuda: kernels ## go vet of the cuda build
	CGO_LDFLAGS="-L$(CUDA_STUBS) $$CGO_LDFLAGS" $(GO) vet -tags cuda ./...

gpu-bundle: build-cuda ## binaries for a GPU machine without Go: bin/simclr-cuda, bin/cuda-parity.test, tools/gpu/check.sh
	CGO_LDFLAGS="-L$(CUDA_STUBS) $$CGO_LDFLAGS" $(GO) test -c -tags cuda -o bin/cuda-parity.test ./internal/backend/cuda

gpu-check: gpu-bundle ## on a GPU machine: parity suite, bench (ResNet-18, 512 pairs) with peak memory and a per-kernel time table, report in gpu-report/
	./tools/gpu/check.sh gpu-report

clean:
	rm -rf bin runs
