//go:build cudaemu

package cuda

import (
	"errors"

	"simclr/internal/dist"
)

// errNoNCCLEmu: the emulator build has no NCCL.
var errNoNCCLEmu = errors.New("NCCL needs a real GPU: this is the CUDA emulator build (cudaemu); use dist.backend mpi or tcp, or the simclr-cuda binary on a GPU machine")

// NewNCCLDeviceComm is not available in the emulator build.
func NewNCCLDeviceComm(*Backend, dist.Comm) (*DeviceComm, error) { return nil, errNoNCCLEmu }

// NCCLAvailable: never in the emulator build.
func NCCLAvailable() error { return errNoNCCLEmu }
