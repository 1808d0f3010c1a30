//go:build cuda || cudaemu

package cli

import (
	"fmt"

	"simclr/internal/backend"
	"simclr/internal/backend/cuda"
	"simclr/internal/dist"
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

// isCUDA says whether b is the CUDA backend.
func isCUDA(b backend.Backend) bool {
	_, ok := b.(*cuda.Backend)
	return ok
}

// ncclLoads says whether libnccl.so.2 loads (nil), else why not.
func ncclLoads() error { return cuda.NCCLAvailable() }

// openNCCL creates the NCCL communicator of c's job on b's device.
func openNCCL(b backend.Backend, c dist.Comm) (deviceComm, error) {
	cb, ok := b.(*cuda.Backend)
	if !ok {
		return nil, fmt.Errorf("NCCL needs the CUDA backend, not %s", b.Name())
	}
	return cuda.NewNCCLDeviceComm(cb, c)
}
