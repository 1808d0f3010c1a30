//go:build cuda || cudaemu

package cli

import (
	"simclr/internal/backend"
	"simclr/internal/backend/cuda"
)

// gpuBuild reports whether this binary has a GPU backend.
const gpuBuild = true

func openGPU(device string, debugSync bool) (backend.Backend, error) {
	b, err := cuda.New(device)
	if err != nil {
		return nil, err
	}
	if debugSync {
		b.EnableDebugSync(true)
	}
	return b, nil
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
