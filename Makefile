# simclr build, test and benchmark entry points. `make help` lists them.
GO        ?= go
BIN       ?= bin/simclr
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X simclr/internal/version.Version=$(VERSION) -X simclr/internal/version.Commit=$(COMMIT)
PYTHON    ?= /usr/bin/python3

.PHONY: help setup build build-mpi test test-mpi test-short test-cudaemu test-cudaemu-asan test-cudaemu-fma bench bench-cpu lint golden kernels cudashim build-cuda check-cuda-bin check-glibc vet-cuda gpu-bundle gpu-check sass-model clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

setup: ## download the Go modules
	$(GO) mod download

build: ## build the CPU binary into bin/simclr (pure Go, no CUDA needed)
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/simclr

build-mpi: ## the CPU binary with Open MPI for data-parallel training (cgo; apt-get install openmpi-bin libopenmpi-dev)
	CGO_ENABLED=1 $(GO) build -tags mpi -ldflags "$(LDFLAGS)" -o bin/simclr-mpi ./cmd/simclr

# The emulated parity suite runs once per thread order (CUDAEMU_ORDER, see
# docs/cuda.md): a kernel whose results depend on the order fails in one.
EMU_ORDERS ?= index reverse
# ASan + UBSan for the emulator and the kernels it compiles (and Go's -asan).
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

test: ## vet and run every test, the CUDA kernels under the CPU emulator (in each of EMU_ORDERS) included (the README's test command)
	@if command -v nvcc >/dev/null; then $(MAKE) --no-print-directory kernels >/dev/null && echo "make kernels: simclr.fatbin built for the SASS and fatbin checks"; \
	  else echo "no nvcc: the SASS and fatbin checks skip (apt-get install nvidia-cuda-toolkit)"; fi
	$(GO) vet ./...
	$(GO) vet -tags cudaemu ./internal/backend/cuda/... ./internal/cli/...
	$(GO) test -count=1 -timeout 20m ./...
	@for o in $(EMU_ORDERS); do echo "CUDAEMU_ORDER=$$o"; \
	  CUDAEMU_ORDER=$$o $(GO) test -count=1 -timeout 20m -tags cudaemu ./internal/backend/cuda/... || exit 1; done
	$(GO) test -count=1 -tags cudaemu -run 'KernelTimes|DebugSync' ./internal/cli/
	$(GO) test -count=1 -tags cudaemu -run 'CUDA' ./internal/train/
	$(MAKE) test-mpi

test-mpi: ## data-parallel tests under mpirun on loopback: collectives, 2 and 3 ranks against one process, rank failure (Open MPI)
	@command -v mpirun >/dev/null || { echo "test-mpi needs Open MPI: apt-get install openmpi-bin libopenmpi-dev"; exit 1; }
	CGO_ENABLED=1 $(GO) vet -tags mpi ./internal/dist/... ./internal/train/... ./internal/cli/...
	CGO_ENABLED=1 $(GO) test -count=1 -timeout 15m -tags mpi -run MPI ./internal/dist/... ./internal/train/... ./internal/cli/...

test-cudaemu: ## only the CUDA kernels' parity suite (in each of EMU_ORDERS), `bench --kernel-times` and the training loop's CUDA tests (host reads, NaN stop), run by the CPU emulator (g++, no GPU)
	@for o in $(EMU_ORDERS); do echo "CUDAEMU_ORDER=$$o"; \
	  CUDAEMU_ORDER=$$o $(GO) test -count=1 -timeout 20m -tags cudaemu ./internal/backend/cuda/... || exit 1; done
	$(GO) test -count=1 -tags cudaemu -run 'KernelTimes|DebugSync' ./internal/cli/
	$(GO) test -count=1 -tags cudaemu -run 'CUDA' ./internal/train/

test-cudaemu-asan: ## the emulated parity suite under ASan + UBSan (run before every kernel change)
	CGO_CFLAGS="-O1 -g $(SAN_FLAGS)" CGO_CXXFLAGS="-O1 -g $(SAN_FLAGS)" CGO_LDFLAGS="$(SAN_FLAGS)" \
	  $(GO) test -asan -count=1 -timeout 30m -tags cudaemu ./internal/backend/cuda/...

test-cudaemu-fma: ## the emulated parity suite with a*b+c contracted into FMAs as nvcc does (x86-64 with FMA)
	CGO_CXXFLAGS="-O2 -mfma -ffp-contract=fast -DSIMCLR_EMU_FP_CONTRACT" \
	  $(GO) test -count=1 -timeout 20m -tags cudaemu ./internal/backend/cuda/...

test-short: ## quick tests only
	$(GO) test -count=1 -short ./...

bench: ## Go micro-benchmarks (GEMM, vector loops, ops incl. im2col vs shifted vs Winograd convs side by side, augmentation)
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

# The toolkit's driver stub: its symbol table is the driver API the shim
# forwards (and what CUDA_SHIM=0 links against).
CUDA_STUBS ?= /usr/lib/x86_64-linux-gnu/stubs
# CUDA_SHIM=1 (default): link tools/cudashim's static libcuda.a, which loads
# libcuda.so.1 at start-up, so a machine without the driver gets simclr's own
# message instead of the dynamic loader's. CUDA_SHIM=0: link libcuda directly.
CUDA_SHIM ?= 1
CUDA_SHIM_DIR := build/cudashim
ifeq ($(CUDA_SHIM),1)
CUDA_LINK := -L$(CURDIR)/$(CUDA_SHIM_DIR) -ldl
CUDA_SHIM_DEP := cudashim
else
CUDA_LINK := -L$(CUDA_STUBS)
CUDA_SHIM_DEP :=
endif

cudashim: ## build/cudashim/libcuda.a: the driver API as trampolines filled from libcuda.so.1 at start-up
	./tools/cudashim/build.sh $(CUDA_SHIM_DIR) $(CUDA_STUBS)

build-cuda: kernels $(CUDA_SHIM_DEP) ## the CUDA binary bin/simclr-cuda (fatbin embedded), checked: current fatbin, no libcuda dependency
	CGO_LDFLAGS="$(CUDA_LINK) $$CGO_LDFLAGS" $(GO) build -tags cuda -ldflags "$(LDFLAGS)" -o bin/simclr-cuda ./cmd/simclr
	$(GO) test -count=1 -run 'SourcesCurrent|EmbeddedFatbinCurrent' ./internal/backend/cuda/internal/kernelhash/
	$(if $(filter 1,$(CUDA_SHIM)),./tools/gpu/check-binary.sh bin/simclr-cuda)

check-cuda-bin: ## bin/simclr-cuda: no libcuda dependency, simclr's own message without the driver (no GPU needed)
	./tools/gpu/check-binary.sh bin/simclr-cuda $(wildcard bin/cuda-parity.test)

GLIBC_MAX ?= 2.31
check-glibc: ## fail when bin/simclr-cuda or bin/cuda-parity.test needs a glibc newer than GLIBC_MAX (2.31, Ubuntu 20.04)
	./tools/gpu/check-binary.sh --max-glibc $(GLIBC_MAX) bin/simclr-cuda bin/cuda-parity.test

vet-cuda: kernels ## go vet of the cuda build
	CGO_LDFLAGS="-L$(CUDA_STUBS) $$CGO_LDFLAGS" $(GO) vet -tags cuda ./...

gpu-bundle: build-cuda ## binaries for a GPU machine without Go: bin/simclr-cuda, bin/cuda-parity.test, tools/gpu/check.sh (glibc: see docs/cuda.md)
	CGO_LDFLAGS="$(CUDA_LINK) $$CGO_LDFLAGS" $(GO) test -c -tags cuda -o bin/cuda-parity.test ./internal/backend/cuda
	$(if $(filter 1,$(CUDA_SHIM)),./tools/gpu/check-binary.sh bin/cuda-parity.test)
	@./tools/gpu/check-binary.sh --max-glibc $(GLIBC_MAX) bin/simclr-cuda bin/cuda-parity.test || \
	  echo "note: this bundle needs a newer glibc than $(GLIBC_MAX); for older GPU hosts build it with: docker build -f Dockerfile.cuda --target bundle --output bin ."

gpu-check: gpu-bundle ## on a GPU machine: parity suite, bench (ResNet-18, 512 pairs) with peak memory and a per-kernel time table, report in gpu-report/
	./tools/gpu/check.sh gpu-report

SASS_ARCH ?= sm_90
sass-model: kernels ## static performance MODEL of one ResNet-18 step (512 pairs) on H100/H200 from the fatbin's SASS and the recorded launches (no GPU)
	mkdir -p build
	cuobjdump -sass -arch $(SASS_ARCH) kernels/build/simclr.fatbin >build/sass_$(SASS_ARCH).txt
	SIMCLR_LAUNCH_LOG=$(CURDIR)/build/launches.json $(GO) test -count=1 -tags cudaemu -run TestRecordStepLaunches ./internal/backend/cuda/
	$(GO) run ./tools/gpu/sassmodel -sass build/sass_$(SASS_ARCH).txt -arch $(SASS_ARCH) -launches build/launches.json -gpu h100 -mix
	$(GO) run ./tools/gpu/sassmodel -sass build/sass_$(SASS_ARCH).txt -arch $(SASS_ARCH) -launches build/launches.json -gpu h200
	@# The GEMM ladder (docs/cuda.md): rung 1 = BF16 (TF32) operands on the FFMA core, rung 3 (2) = bf16 (tf32) tensor cores where they apply.
	SIMCLR_LAUNCH_PRECISION=bf16 SIMCLR_CUDA_GEMM=ffma SIMCLR_LAUNCH_LOG=$(CURDIR)/build/launches_bf16_ffma.json $(GO) test -count=1 -tags cudaemu -run TestRecordStepLaunches ./internal/backend/cuda/
	SIMCLR_LAUNCH_PRECISION=bf16 SIMCLR_CUDA_GEMM=auto SIMCLR_LAUNCH_LOG=$(CURDIR)/build/launches_bf16_tc.json $(GO) test -count=1 -tags cudaemu -run TestRecordStepLaunches ./internal/backend/cuda/
	$(GO) run ./tools/gpu/sassmodel -sass build/sass_$(SASS_ARCH).txt -arch $(SASS_ARCH) -launches build/launches_bf16_ffma.json -gpu h100 -title "rung 1: bf16 operands on the FFMA core"
	$(GO) run ./tools/gpu/sassmodel -sass build/sass_$(SASS_ARCH).txt -arch $(SASS_ARCH) -launches build/launches_bf16_tc.json -gpu h100 -title "rung 3: bf16 tensor cores (conv forward, data and filter gradients; linear)"
	@# Rung 2: TF32 tensor cores, against TF32 operands on the FFMA core (rung 1).
	SIMCLR_LAUNCH_PRECISION=tf32 SIMCLR_CUDA_GEMM=ffma SIMCLR_LAUNCH_LOG=$(CURDIR)/build/launches_tf32_ffma.json $(GO) test -count=1 -tags cudaemu -run TestRecordStepLaunches ./internal/backend/cuda/
	SIMCLR_LAUNCH_PRECISION=tf32 SIMCLR_CUDA_GEMM=auto SIMCLR_LAUNCH_LOG=$(CURDIR)/build/launches_tf32_tc.json $(GO) test -count=1 -tags cudaemu -run TestRecordStepLaunches ./internal/backend/cuda/
	$(GO) run ./tools/gpu/sassmodel -sass build/sass_$(SASS_ARCH).txt -arch $(SASS_ARCH) -launches build/launches_tf32_ffma.json -gpu h100 -title "rung 1: tf32 operands on the FFMA core"
	$(GO) run ./tools/gpu/sassmodel -sass build/sass_$(SASS_ARCH).txt -arch $(SASS_ARCH) -launches build/launches_tf32_tc.json -gpu h100 -mix -title "rung 2: tf32 tensor cores (conv forward, data and filter gradients; linear)"

clean:
	rm -rf bin runs build
