//go:build cudaemu

package cli

import "testing"

// TestNCCLInEmulatorBuild: dist.backend nccl on the emulated CUDA device
// fails with the reason (NCCL needs a real GPU) and the alternatives,
// before any step.
func TestNCCLInEmulatorBuild(t *testing.T) {
	r := invoke(t, nil, withTiny("pretrain", "--device", "cuda", "--set", "dist.backend=nccl", "--out", t.TempDir())...)
	assertError(t, r, ExitError, "dist.backend nccl", "NCCL needs a real GPU", "use dist.backend mpi or tcp")
}
