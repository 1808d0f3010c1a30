//go:build cuda || cudaemu

package cuda_test

import (
	"fmt"
	"testing"
)

func TestLossParity(t *testing.T) {
	for _, c := range []struct {
		m   int
		tau float32
	}{{2, 0.5}, {6, 0.1}, {70, 0.2}, {258, 0.07}} {
		t.Run(fmt.Sprintf("ntxent_m%d_tau%g", c.m, c.tau), func(t *testing.T) {
			e := newEnv(t)
			s, ds := e.rand(c.m, c.m), e.zeros(c.m, c.m)
			lc, errC := e.cpu.NTXentForward(s.c, c.tau)
			lg, errG := e.gpu.NTXentForward(s.g, c.tau)
			e.must("nt-xent forward", errC, errG)
			closeScalar(t, "nt-xent forward", float64(lc), float64(lg), 1e-6)
			e.must("nt-xent backward", e.cpu.NTXentBackward(s.c, c.tau, ds.c), e.gpu.NTXentBackward(s.g, c.tau, ds.g))
			e.check("nt-xent backward", ds, tol{abs: 1e-9, rel: 1e-6})
		})
	}
	for _, c := range []struct{ n, k int }{{1, 1}, {5, 3}, {9, 300}} {
		t.Run(fmt.Sprintf("ce_%dx%d", c.n, c.k), func(t *testing.T) {
			e := newEnv(t)
			logits := e.make(e.values(c.n*c.k, -5, 5), c.n, c.k)
			labels := make([]int32, c.n)
			for i := range labels {
				labels[i] = int32(e.rng.IntN(c.k))
			}
			lc, errC := e.cpu.SoftmaxCrossEntropyForward(logits.c, labels)
			lg, errG := e.gpu.SoftmaxCrossEntropyForward(logits.g, labels)
			e.must("ce forward", errC, errG)
			closeScalar(t, "softmax cross-entropy forward", float64(lc), float64(lg), 1e-6)
			d := e.zeros(c.n, c.k)
			e.must("ce backward", e.cpu.SoftmaxCrossEntropyBackward(logits.c, labels, d.c), e.gpu.SoftmaxCrossEntropyBackward(logits.g, labels, d.g))
			e.check("softmax cross-entropy backward", d, tol{abs: 1e-9, rel: 1e-6})
		})
	}
}
