# simclr build, test and benchmark entry points. `make help` lists them.
GO        ?= go
BIN       ?= bin/simclr
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X simclr/internal/version.Version=$(VERSION) -X simclr/internal/version.Commit=$(COMMIT)
PYTHON    ?= /usr/bin/python3

.PHONY: help setup build test test-short bench bench-cpu lint golden kernels build-cuda gpu-check clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

setup: ## download the Go modules
	$(GO) mod download

build: ## build the CPU binary into bin/simclr (pure Go, no CUDA needed)
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/simclr

test: ## vet and run every test (the README's test command; .ci/run calls it)
	$(GO) vet ./...
	$(GO) test -count=1 ./...

test-short: ## quick tests only
	$(GO) test -count=1 -short ./...

bench: ## Go micro-benchmarks (GEMM, ops, augmentation)
	$(GO) test -run '^$$' -bench . -benchtime 3x ./internal/gemm ./internal/backend/cpu ./internal/augment

bench-cpu: build ## simclr bench for ResNet-18 and the Fashion-MNIST model beside PyTorch on the same cores
	./tools/bench/bench-cpu.sh $(BIN)

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

golden: ## regenerate testdata/golden with PyTorch (Debian python3-torch)
	$(PYTHON) tools/golden/gen.py testdata/golden

kernels: ## build the CUDA fatbin (the CUDA path is not built yet)
	@echo "make kernels: the CUDA kernels are not written yet (issue: the CUDA path)"; exit 1

build-cuda: ## build the CUDA binary (the CUDA path is not built yet)
	@echo "make build-cuda: the CUDA backend is not written yet (issue: the CUDA path)"; exit 1

gpu-check: ## parity suite and benchmarks on a GPU (the CUDA path is not built yet)
	@echo "make gpu-check: the CUDA backend is not written yet (issue: the CUDA path)"; exit 1

clean:
	rm -rf bin runs
