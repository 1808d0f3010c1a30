//go:build cuda || cudaemu

package cuda_test

import (
	"fmt"
	"math"
	"testing"

	"simclr/internal/backend"
)

func TestConvParity(t *testing.T) {
	cases := []struct {
		n, cin, h, w, cout, k, stride, pad int
	}{
		{2, 3, 9, 9, 5, 3, 1, 1},   // odd image, padding
		{3, 1, 8, 8, 4, 3, 2, 1},   // one input channel, stride 2
		{1, 4, 7, 5, 3, 1, 1, 0},   // 1x1, non-square image
		{2, 2, 11, 11, 6, 7, 2, 3}, // ResNet stem shape (7x7 stride 2)
		{5, 3, 6, 6, 70, 3, 1, 0},  // Cout above one 64-row tile, batch 5
		{2, 66, 5, 5, 3, 3, 2, 0},  // reduction length 594 (37 K-steps)
		{2, 1, 96, 96, 2, 3, 1, 1}, // N*Ho*Wo = 18432: split-K filter gradient
		{1, 2, 4, 4, 2, 4, 1, 2},   // kernel larger than stride, pad 2 (even K)
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("n%d_cin%d_%dx%d_cout%d_k%d_s%d_p%d", c.n, c.cin, c.h, c.w, c.cout, c.k, c.stride, c.pad), func(t *testing.T) {
			e := newEnv(t)
			p := backend.ConvParams{Stride: c.stride, Pad: c.pad}
			ho := backend.ConvOutSize(c.h, c.k, c.stride, c.pad)
			wo := backend.ConvOutSize(c.w, c.k, c.stride, c.pad)
			x, w := e.rand(c.n, c.cin, c.h, c.w), e.rand(c.cout, c.cin, c.k, c.k)
			y := e.zeros(c.n, c.cout, ho, wo)
			e.must("forward", e.cpu.Conv2DForward(x.c, w.c, y.c, p), e.gpu.Conv2DForward(x.g, w.g, y.g, p))
			e.check("conv2d forward", y, gemmTol(c.cin*c.k*c.k, 1))
			dy, dx, dw := e.rand(c.n, c.cout, ho, wo), e.zeros(c.n, c.cin, c.h, c.w), e.zeros(c.cout, c.cin, c.k, c.k)
			e.must("backward data", e.cpu.Conv2DBackwardData(dy.c, w.c, dx.c, p), e.gpu.Conv2DBackwardData(dy.g, w.g, dx.g, p))
			e.check("conv2d backward data", dx, gemmTol(c.cout*c.k*c.k, 1))
			e.must("backward filter", e.cpu.Conv2DBackwardFilter(x.c, dy.c, dw.c, p), e.gpu.Conv2DBackwardFilter(x.g, dy.g, dw.g, p))
			e.check("conv2d backward filter", dw, gemmTol(c.n*ho*wo, 1))
		})
	}
}

func TestConvFilterGradientDeterministic(t *testing.T) {
	e := newEnv(t)
	p := backend.ConvParams{Stride: 1, Pad: 1}
	x, dy, dw := e.rand(2, 1, 96, 96), e.rand(2, 2, 96, 96), e.zeros(2, 1, 3, 3)
	var first []float32
	for run := 0; run < 2; run++ {
		if err := e.gpu.Conv2DBackwardFilter(x.g, dy.g, dw.g, p); err != nil {
			t.Fatal(err)
		}
		_, g := e.download(dw)
		if run == 0 {
			first = g
			continue
		}
		for i := range g {
			if math.Float32bits(g[i]) != math.Float32bits(first[i]) {
				t.Fatalf("run 2 element %d = %g, run 1 gave %g: the split-K reduction is not deterministic", i, g[i], first[i])
			}
		}
	}
}
