//go:build cuda || cudaemu

package cli

import (
	"simclr/internal/backend"
	"simclr/internal/backend/cuda"
)

// gpuBuild reports whether this binary has a GPU backend.
const gpuBuild = true

func openGPU(device string) (backend.Backend, error) {
	return cuda.New(device)
}

func listGPUs() ([]string, error) {
	devs, err := cuda.Devices()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(devs))
	for i, d := range devs {
		out[i] = d.String()
	}
	return out, nil
}
