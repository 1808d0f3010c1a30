package cli

import (
	"fmt"
	"strings"

	"simclr/internal/backend"
	"simclr/internal/backend/cpu"
)

// openBackend returns the backend for the device key: "cpu", "auto" (the
// first GPU in a CUDA build, else the CPU), "cuda" or "cuda:N". debugSync
// (--debug-sync) makes a GPU backend sync and check after every launch;
// the CPU backend runs every op to completion anyway.
func openBackend(device string, debugSync bool) (backend.Backend, error) {
	switch {
	case device == "cpu":
		return cpu.New(), nil
	case device == "auto":
		if gpuBuild {
			if b, err := openGPU("cuda", debugSync); err == nil {
				return b, nil
			}
		}
		return cpu.New(), nil
	case device == "cuda" || strings.HasPrefix(device, "cuda:"):
		if !gpuBuild {
			return nil, fmt.Errorf("device %q: this simclr binary is a CPU build; build the CUDA one with `make build-cuda` (needs the CUDA toolkit) or use the Docker image (Dockerfile.cuda), or set --device cpu", device)
		}
		return openGPU(device, debugSync)
	}
	return nil, fmt.Errorf("device %q: use cpu, auto, cuda or cuda:N", device)
}
