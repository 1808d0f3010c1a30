//go:build cuda || cudaemu

package cuda_test

import (
	"fmt"
	"testing"
)

func TestReductionParity(t *testing.T) {
	for _, n := range []int{1, 255, 1000, 20001} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			e := newEnv(t)
			a, b := e.rand(n), e.rand(n)
			sc, errC := e.cpu.SumSquares(a.c)
			sg, errG := e.gpu.SumSquares(a.g)
			e.must("sum squares", errC, errG)
			closeScalar(t, "sum squares", sc, sg, 1e-12)
			dc, errC := e.cpu.Dot(a.c, b.c)
			dg, errG := e.gpu.Dot(a.g, b.g)
			e.must("dot", errC, errG)
			closeScalar(t, "dot", dc, dg, 1e-10)
		})
	}
}
