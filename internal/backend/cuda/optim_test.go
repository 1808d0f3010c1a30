//go:build cuda || cudaemu

package cuda_test

import (
	"fmt"
	"testing"

	"simclr/internal/backend"
)

func TestOptimizerParity(t *testing.T) {
	mom := []backend.MomentumOpts{
		{LR: 0.1, Momentum: 0.9, TrustRatio: 1, FirstStep: true},
		{LR: 0.05, Momentum: 0.9, WeightDecay: 1e-4, TrustRatio: 0.37},
		{LR: 0.3, Momentum: 0.8, WeightDecay: 5e-4, TrustRatio: 1, Nesterov: true},
	}
	for i, o := range mom {
		t.Run(fmt.Sprintf("momentum_%d", i), func(t *testing.T) {
			e := newEnv(t)
			p, g, buf := e.rand(3, 37), e.rand(3, 37), e.rand(3, 37)
			for step := 0; step < 3; step++ {
				e.must("momentum step", e.cpu.MomentumStep(p.c, g.c, buf.c, o), e.gpu.MomentumStep(p.g, g.g, buf.g, o))
				o.FirstStep = false
			}
			e.check("momentum p", p, exact)
			e.check("momentum buf", buf, exact)
		})
	}
	t.Run("adamw", func(t *testing.T) {
		e := newEnv(t)
		p, g, m, v := e.rand(1001), e.rand(1001), e.zeros(1001), e.zeros(1001)
		for step := 1; step <= 4; step++ {
			o := backend.AdamWOpts{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.05, Step: step}
			e.must("adamw step", e.cpu.AdamWStep(p.c, g.c, m.c, v.c, o), e.gpu.AdamWStep(p.g, g.g, m.g, v.g, o))
		}
		e.check("adamw p", p, exact)
		e.check("adamw m", m, exact)
		e.check("adamw v", v, exact)
	})
}
