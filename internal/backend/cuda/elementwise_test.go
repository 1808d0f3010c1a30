//go:build cuda || cudaemu

package cuda_test

import (
	"fmt"
	"math"
	"testing"

	"simclr/internal/tensor"
)

func TestElementwiseParity(t *testing.T) {
	for _, shape := range [][]int{{1}, {7}, {3, 5, 17}, {2, 1, 33, 31}} {
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			e := newEnv(t)
			a, b, out := e.rand(shape...), e.rand(shape...), e.zeros(shape...)
			e.must("add", e.cpu.Add(a.c, b.c, out.c), e.gpu.Add(a.g, b.g, out.g))
			e.check("add", out, exact)
			e.must("add in place", e.cpu.Add(a.c, b.c, a.c), e.gpu.Add(a.g, b.g, a.g))
			e.check("add in place", a, exact)

			vals := e.values(tensor.Shape(shape).Numel(), -1, 1)
			vals[0] = float32(math.NaN())
			x, y := e.make(vals, shape...), e.zeros(shape...)
			e.must("relu forward", e.cpu.ReLUForward(x.c, y.c), e.gpu.ReLUForward(x.g, y.g))
			e.check("relu forward", y, exact)
			dy, dx := e.rand(shape...), e.zeros(shape...)
			e.must("relu backward", e.cpu.ReLUBackward(y.c, dy.c, dx.c), e.gpu.ReLUBackward(y.g, dy.g, dx.g))
			e.check("relu backward", dx, exact)

			e.must("copy", e.cpu.Copy(out.c, b.c), e.gpu.Copy(out.g, b.g))
			e.check("copy", out, exact)
			e.must("zero", e.cpu.Zero(out.c), e.gpu.Zero(out.g))
			e.check("zero", out, exact)
		})
	}
}
