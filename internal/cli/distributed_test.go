package cli

import (
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
