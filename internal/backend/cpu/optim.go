package cpu

import (
	"math"

	"simclr/internal/backend"
)

// MomentumStep applies one momentum-SGD update to p in place (PyTorch SGD
// semantics with dampening 0, see backend.MomentumOpts):
//
//	g' = TrustRatio*(g + WeightDecay*p); buf = Momentum*buf + g' (buf = g'
//	on the first step); d = Nesterov ? g' + Momentum*buf : buf; p -= LR*d.
//
// Each operation is rounded to float32 separately (no fused multiply-add),
// like PyTorch's tensor ops.
func (b *Backend) MomentumStep(p, g, buf *Tensor, o backend.MomentumOpts) error {
	if err := checkHost(backend.OpMomentumStep, "p g buf", p, g, buf); err != nil {
		return err
	}
	if err := backend.CheckMomentumStep(p.Shape, g.Shape, buf.Shape, o); err != nil {
		return err
	}
	lr, mom, wd, tr := o.LR, o.Momentum, o.WeightDecay, o.TrustRatio
	first, nesterov := o.FirstStep, o.Nesterov
	ps, gs, bs := p.Host, g.Host, buf.Host
	parallelFor(len(ps), elemGrain, func(lo, hi int) {
		pv, gv, bv := ps[lo:hi], gs[lo:hi], bs[lo:hi]
		gv = gv[:len(pv)]
		bv = bv[:len(pv)]
		for i, x := range pv {
			d := gv[i]
			if wd != 0 {
				d = d + float32(wd*x)
			}
			if tr != 1 {
				d = float32(tr * d)
			}
			var m float32
			if first {
				m = d
			} else {
				m = float32(mom*bv[i]) + d
			}
			bv[i] = m
			step := m
			if nesterov {
				step = d + float32(mom*m)
			}
			pv[i] = x - float32(lr*step)
		}
	})
	return nil
}

// AdamWStep applies one AdamW update to p in place with PyTorch's
// semantics: p *= 1 - LR*WeightDecay; m = Beta1*m + (1-Beta1)*g;
// v = Beta2*v + (1-Beta2)*g*g; p -= LR/(1-Beta1^Step) * m /
// (sqrt(v)/sqrt(1-Beta2^Step) + Eps). Step counts from 1. The scalar
// factors are computed in float64 from the decimal values of the options
// (see widen), each tensor operation is rounded to float32.
func (b *Backend) AdamWStep(p, g, m, v *Tensor, o backend.AdamWOpts) error {
	if err := checkHost(backend.OpAdamWStep, "p g m v", p, g, m, v); err != nil {
		return err
	}
	if err := backend.CheckAdamWStep(p.Shape, g.Shape, m.Shape, v.Shape, o); err != nil {
		return err
	}
	lr, wd := backend.Widen(o.LR), backend.Widen(o.WeightDecay)
	b1, b2 := backend.Widen(o.Beta1), backend.Widen(o.Beta2)
	decay := float32(1 - lr*wd)
	bc1 := 1 - math.Pow(b1, float64(o.Step))
	bc2 := 1 - math.Pow(b2, float64(o.Step))
	stepSize := float32(lr / bc1)
	bc2Sqrt := float32(math.Sqrt(bc2))
	beta1, beta2 := o.Beta1, o.Beta2
	oneMinusB1, oneMinusB2 := float32(1-b1), float32(1-b2)
	eps := o.Eps
	ps, gs, ms, vs := p.Host, g.Host, m.Host, v.Host
	parallelFor(len(ps), elemGrain, func(lo, hi int) {
		pv, gv, mv, vv := ps[lo:hi], gs[lo:hi], ms[lo:hi], vs[lo:hi]
		gv = gv[:len(pv)]
		mv = mv[:len(pv)]
		vv = vv[:len(pv)]
		for i, x := range pv {
			gi := gv[i]
			x = float32(x * decay)
			mi := float32(beta1*mv[i]) + float32(oneMinusB1*gi)
			vi := float32(beta2*vv[i]) + float32(oneMinusB2*float32(gi*gi))
			mv[i] = mi
			vv[i] = vi
			denom := float32(float32(math.Sqrt(float64(vi)))/bc2Sqrt) + eps
			pv[i] = x - float32(stepSize*float32(mi/denom))
		}
	})
	return nil
}
