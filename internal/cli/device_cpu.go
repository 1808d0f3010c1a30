//go:build !cuda && !cudaemu

package cli

import (
	"errors"

	"simclr/internal/backend"
	"simclr/internal/dist"
)

// gpuBuild reports whether this binary has a GPU backend.
const gpuBuild = false

func openGPU(string, bool) (backend.Backend, error) {
	return nil, errors.New("this simclr binary is a CPU build")
}

func listGPUs() ([]string, error) {
	return nil, errors.New("this simclr binary is a CPU build: it has no GPU backend; build the CUDA one with `make build-cuda`")
}

// errNoNCCL: NCCL needs the CUDA binary.
var errNoNCCL = errors.New("NCCL needs the CUDA binary (make build-cuda -> bin/simclr-cuda) on a GPU machine with libnccl.so.2; this is a CPU build: use dist.backend auto, mpi or tcp")

func isCUDA(backend.Backend) bool { return false }

func ncclLoads() error { return errNoNCCL }

func openNCCL(backend.Backend, dist.Comm) (deviceComm, error) { return nil, errNoNCCL }
