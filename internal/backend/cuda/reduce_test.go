//go:build cuda || cudaemu

package cuda_test

import (
	"fmt"
	"math"
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

// TestSumSquaresMulti: the multi-tensor norms equal the cuda SumSquares
// of each tensor bit for bit (one- and several-block tensors, an empty
// one), and the CPU values within float64 rounding; a second call with
// other values reuses the kept table.
func TestSumSquaresMulti(t *testing.T) {
	e := newEnv(t)
	sizes := []int{20001, 3, 0, 8192, 8193, 1}
	var ps []pair
	for _, n := range sizes {
		ps = append(ps, e.rand(n))
	}
	c, g := sides(ps)
	for round := 0; round < 2; round++ {
		if round == 1 {
			for _, p := range ps {
				v := e.values(p.c.Numel(), -3, 3)
				e.must("upload", e.cpu.Upload(p.c, v), e.gpu.Upload(p.g, v))
			}
		}
		gotC, errC := e.cpu.SumSquaresMulti(c)
		gotG, errG := e.gpu.SumSquaresMulti(g)
		e.must("sum squares multi", errC, errG)
		if len(gotG) != len(sizes) {
			t.Fatalf("%d values for %d tensors", len(gotG), len(sizes))
		}
		for i, p := range ps {
			one, err := e.gpu.SumSquares(p.g)
			e.mustGPU("sum squares", err)
			if math.Float64bits(one) != math.Float64bits(gotG[i]) {
				t.Errorf("round %d tensor %d (%d elements): multi %v, SumSquares %v", round, i, sizes[i], gotG[i], one)
			}
			closeScalar(t, fmt.Sprintf("tensor %d", i), gotC[i], gotG[i], 1e-12)
		}
	}
}
