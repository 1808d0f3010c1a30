//go:build cuda || cudaemu

package cuda_test

import (
	"fmt"
	"testing"
)

func TestNormSimilarityParity(t *testing.T) {
	for _, c := range []struct{ m, d int }{{6, 5}, {70, 17}, {4, 129}} {
		t.Run(fmt.Sprintf("%dx%d", c.m, c.d), func(t *testing.T) {
			e := newEnv(t)
			vals := e.values(c.m*c.d, -1, 1)
			for j := 0; j < c.d; j++ {
				vals[(c.m-1)*c.d+j] = 0 // a zero row: the norm is clamped to 1e-12
			}
			x, y, norms := e.make(vals, c.m, c.d), e.zeros(c.m, c.d), e.zeros(c.m)
			e.must("l2 forward", e.cpu.L2NormalizeForward(x.c, y.c, norms.c), e.gpu.L2NormalizeForward(x.g, y.g, norms.g))
			e.check("l2 normalize forward y", y, tol{abs: 1e-7, rel: 1e-6})
			e.check("l2 normalize forward norms", norms, tol{abs: 0, rel: 1e-6})
			dy, dx := e.rand(c.m, c.d), e.zeros(c.m, c.d)
			e.must("l2 backward", e.cpu.L2NormalizeBackward(y.c, norms.c, dy.c, dx.c), e.gpu.L2NormalizeBackward(y.g, norms.g, dy.g, dx.g))
			e.check("l2 normalize backward", dx, tol{abs: 1e-6, rel: 1e-5})

			s := e.zeros(c.m, c.m)
			e.must("similarity forward", e.cpu.SimilarityForward(y.c, s.c), e.gpu.SimilarityForward(y.g, s.g))
			e.check("similarity forward", s, gemmTol(c.d, 1))
			ds, dz := e.rand(c.m, c.m), e.zeros(c.m, c.d)
			e.must("similarity backward", e.cpu.SimilarityBackward(y.c, ds.c, dz.c), e.gpu.SimilarityBackward(y.g, ds.g, dz.g))
			e.check("similarity backward", dz, gemmTol(c.m, 2))
		})
	}
}
