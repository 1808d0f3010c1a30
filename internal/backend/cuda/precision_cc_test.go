//go:build cudaemu

package cuda

import (
	"strings"
	"testing"

	"simclr/internal/backend"
)

// ccCountDriver is the launch counter with a compute capability.
type ccCountDriver struct {
	countDriver
	major, minor int
}

func (d *ccCountDriver) computeCapability() (int, int) { return d.major, d.minor }

func TestSetMatmulPrecisionComputeCapability(t *testing.T) {
	cases := []struct {
		major, minor int
		prec         backend.Precision
		wantErr      string // "" = accepted
	}{
		{7, 0, backend.FP32, ""},
		{7, 5, backend.BF16, "compute capability 7.5, which runs fp32 only"},
		{7, 0, backend.TF32, "compute capability 7.0, which runs fp32 only"},
		{8, 0, backend.BF16, ""},
		{8, 6, backend.TF32, ""},
		{9, 0, backend.BF16, ""},
		{9, 0, backend.Precision(7), "not understood"},
	}
	for _, c := range cases {
		drv := &ccCountDriver{major: c.major, minor: c.minor}
		b := &Backend{drv: drv, pool: newMemPool(drv), owned: make(map[*Tensor]int64)}
		err := b.SetMatmulPrecision(c.prec)
		if c.wantErr == "" {
			if err != nil {
				t.Errorf("sm_%d%d %s: %v", c.major, c.minor, c.prec, err)
			} else if b.MatmulPrecision() != c.prec {
				t.Errorf("sm_%d%d: MatmulPrecision() = %s after setting %s", c.major, c.minor, b.MatmulPrecision(), c.prec)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("sm_%d%d %s: error %v, want one containing %q", c.major, c.minor, c.prec, err, c.wantErr)
		}
		if b.MatmulPrecision() != backend.FP32 {
			t.Errorf("sm_%d%d: a refused %s changed the precision to %s", c.major, c.minor, c.prec, b.MatmulPrecision())
		}
	}
}

func TestGemmKernelNamesExist(t *testing.T) {
	known := map[string]bool{}
	for _, k := range kernelNames {
		known[k] = true
	}
	b := &Backend{}
	for _, p := range backend.Precisions {
		b.prec.Store(int32(p))
		for _, base := range []string{"conv2d_fwd", "conv2d_bwd_data", "conv2d_bwd_filter", "linear_fwd", "linear_bwd_data", "linear_bwd_weight"} {
			if k := b.gemmKernel(base); !known[k] {
				t.Errorf("%s: kernel %s (for %s) is not in kernels/kernel_names.h", p, k, base)
			}
		}
	}
}
