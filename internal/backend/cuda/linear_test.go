//go:build cuda || cudaemu

package cuda_test

import (
	"fmt"
	"testing"
)

func TestLinearParity(t *testing.T) {
	cases := []struct {
		n, in, out int
		bias, dx   bool
	}{
		{5, 7, 3, true, true},
		{70, 33, 65, true, true},
		{1, 1, 1, false, true},
		{9, 130, 2, true, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%dx%d->%d_bias%v_dx%v", c.n, c.in, c.out, c.bias, c.dx), func(t *testing.T) {
			e := newEnv(t)
			x, w, y := e.rand(c.n, c.in), e.rand(c.out, c.in), e.zeros(c.n, c.out)
			var b, db pair
			if c.bias {
				b, db = e.rand(c.out), e.zeros(c.out)
			}
			e.must("forward", e.cpu.LinearForward(x.c, w.c, b.c, y.c), e.gpu.LinearForward(x.g, w.g, b.g, y.g))
			e.check("linear forward", y, gemmTol(c.in, 1))
			dy, dx, dw := e.rand(c.n, c.out), e.zeros(c.n, c.in), e.zeros(c.out, c.in)
			dxc, dxg := dx.c, dx.g
			if !c.dx {
				dxc, dxg = nil, nil
			}
			e.must("backward", e.cpu.LinearBackward(x.c, w.c, dy.c, dxc, dw.c, db.c), e.gpu.LinearBackward(x.g, w.g, dy.g, dxg, dw.g, db.g))
			e.check("linear backward dx", dx, gemmTol(c.out, 1))
			e.check("linear backward dw", dw, gemmTol(c.n, 1))
			if c.bias {
				e.check("linear backward db", db, tol{abs: 1e-6, rel: 1e-6})
			}
		})
	}
}
