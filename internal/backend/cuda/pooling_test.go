//go:build cuda || cudaemu

package cuda_test

import (
	"fmt"
	"math"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/tensor"
)

func TestPoolParity(t *testing.T) {
	cases := []struct {
		shape []int
		p     backend.PoolParams
	}{
		{[]int{2, 3, 9, 9}, backend.PoolParams{Kernel: 3, Stride: 2, Pad: 1}},
		{[]int{1, 1, 8, 7}, backend.PoolParams{Kernel: 3, Stride: 2, Pad: 1}},
		{[]int{3, 2, 6, 6}, backend.PoolParams{Kernel: 2, Stride: 2, Pad: 0}},
		{[]int{1, 2, 5, 5}, backend.PoolParams{Kernel: 3, Stride: 1, Pad: 1}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.shape, c.p), func(t *testing.T) {
			e := newEnv(t)
			n := tensor.Shape(c.shape).Numel()
			vals := make([]float32, n)
			for i := range vals {
				vals[i] = float32(e.rng.IntN(4)) // many ties: the first maximum must win
			}
			vals[n/2] = float32(math.NaN())
			ho := backend.ConvOutSize(c.shape[2], c.p.Kernel, c.p.Stride, c.p.Pad)
			wo := backend.ConvOutSize(c.shape[3], c.p.Kernel, c.p.Stride, c.p.Pad)
			x, y := e.make(vals, c.shape...), e.zeros(c.shape[0], c.shape[1], ho, wo)
			e.must("maxpool forward", e.cpu.MaxPool2DForward(x.c, y.c, c.p), e.gpu.MaxPool2DForward(x.g, y.g, c.p))
			e.check("maxpool forward", y, exact)
			dy, dx := e.rand(c.shape[0], c.shape[1], ho, wo), e.zeros(c.shape...)
			e.must("maxpool backward", e.cpu.MaxPool2DBackward(x.c, dy.c, dx.c, c.p), e.gpu.MaxPool2DBackward(x.g, dy.g, dx.g, c.p))
			e.check("maxpool backward", dx, tol{abs: 1e-6, rel: 1e-6})

			xa, ya := e.rand(c.shape...), e.zeros(c.shape[0], c.shape[1])
			e.must("gap forward", e.cpu.GlobalAvgPoolForward(xa.c, ya.c), e.gpu.GlobalAvgPoolForward(xa.g, ya.g))
			e.check("global avgpool forward", ya, tol{abs: 1e-7, rel: 1e-6})
			dya, dxa := e.rand(c.shape[0], c.shape[1]), e.zeros(c.shape...)
			e.must("gap backward", e.cpu.GlobalAvgPoolBackward(dya.c, dxa.c), e.gpu.GlobalAvgPoolBackward(dya.g, dxa.g))
			e.check("global avgpool backward", dxa, exact)
		})
	}
}
