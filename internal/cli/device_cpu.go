//go:build !cuda && !cudaemu

package cli

import (
	"errors"

	"simclr/internal/backend"
)

// gpuBuild reports whether this binary has a GPU backend.
const gpuBuild = false

func openGPU(string, bool) (backend.Backend, error) {
	return nil, errors.New("this simclr binary is a CPU build")
}

func listGPUs() ([]string, error) {
	return nil, errors.New("this simclr binary is a CPU build: it has no GPU backend; build the CUDA one with `make build-cuda`")
}
