package cli

import (
	"strings"
	"testing"

	"simclr/internal/dist"
	"simclr/internal/train"
)

func TestRankDevice(t *testing.T) {
	d := &train.Distributed{Comm: dist.NewLocal(2)[1]}
	t.Setenv("OMPI_COMM_WORLD_LOCAL_RANK", "3")
	for _, tc := range []struct {
		device string
		d      *train.Distributed
		want   string
	}{
		{"cuda", d, "cuda:3"}, {"cuda:1", d, "cuda:1"}, {"cpu", d, "cpu"}, {"cuda", nil, "cuda"},
	} {
		if got := rankDevice(tc.device, tc.d); got != tc.want {
			t.Errorf("rankDevice(%q, distributed %v) = %q, want %q", tc.device, tc.d != nil, got, tc.want)
		}
	}
}

// TestNCCLNeedsCUDADevice: dist.backend nccl on a CPU rank stops before any
// step, naming the CUDA binary and the other backends.
func TestNCCLNeedsCUDADevice(t *testing.T) {
	out := t.TempDir()
	r := invoke(t, nil, withTiny("pretrain", "--device", "cpu", "--set", "dist.backend=nccl", "--out", out)...)
	assertError(t, r, ExitError, "dist.backend nccl needs a CUDA device", "make build-cuda", "dist.backend auto/mpi/tcp")
	if strings.Contains(r.stdout, "pretrained") {
		t.Errorf("a step ran: %s", r.stdout)
	}
}
