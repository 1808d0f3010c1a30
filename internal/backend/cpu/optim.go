package cpu

import (
	"fmt"
	"math"

	"simclr/internal/backend"
	"simclr/internal/tensor"
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

// LARSStep applies one LARS update to every tensor (see backend.LARSOpts):
// first every trust ratio, from SumSquares and Dot as the per-tensor path
// computes them, then one MomentumStep per tensor in argument order, so the
// results equal that path's bit for bit.
func (b *Backend) LARSStep(params, grads, bufs []*Tensor, adapt []bool, o backend.LARSOpts) error {
	const op = backend.OpLARSStep
	if len(grads) != len(params) || len(bufs) != len(params) || len(adapt) != len(params) {
		return backend.CheckLARSStep(shapesOf(params), shapesOf(grads), shapesOf(bufs), len(adapt), o)
	}
	for i := range params {
		if err := checkHost(op, fmt.Sprintf("params[%d] grads[%d] bufs[%d]", i, i, i), params[i], grads[i], bufs[i]); err != nil {
			return err
		}
	}
	if err := backend.CheckLARSStep(shapesOf(params), shapesOf(grads), shapesOf(bufs), len(adapt), o); err != nil {
		return err
	}
	st, err := deferredRecord(op, o.Deferred)
	if err != nil || (st != nil && backend.StatusSet(st)) {
		return err // an earlier step failed: change nothing
	}
	qs := make([]float32, len(params))
	for i, p := range params {
		gg, _ := b.SumSquares(grads[i])
		var pp, gp float64
		if adapt[i] {
			pp, _ = b.SumSquares(p)
			if o.WeightDecay != 0 {
				gp, _ = b.Dot(grads[i], p)
			}
		}
		q, e := backend.LARSTrust(gg, pp, gp, adapt[i], o.WeightDecay, o.TrustCoef)
		if e != nil {
			e.Index = i
			if st != nil {
				backend.EncodeStatus(st, o.Deferred.Step, e)
				return nil
			}
			return e
		}
		qs[i] = q
	}
	for i, p := range params {
		wd := float32(0)
		if adapt[i] {
			wd = o.WeightDecay
		}
		err := b.MomentumStep(p, grads[i], bufs[i], backend.MomentumOpts{
			LR: o.LR, Momentum: o.Momentum, WeightDecay: wd, TrustRatio: qs[i], FirstStep: o.FirstStep,
		})
		if err != nil {
			return fmt.Errorf("%s: tensor %d: %w", op, i, err)
		}
	}
	return nil
}

func shapesOf(ts []*Tensor) []tensor.Shape {
	s := make([]tensor.Shape, len(ts))
	for i, t := range ts {
		s[i] = backend.ShapeOf(t)
	}
	return s
}

// MomentumStepMulti runs MomentumStep on every tensor in order (weight
// decay only where decay[i]).
func (b *Backend) MomentumStepMulti(params, grads, bufs []*Tensor, decay []bool, o backend.MomentumOpts) error {
	const op = backend.OpMomentumStepMulti
	if len(grads) != len(params) || len(bufs) != len(params) || len(decay) != len(params) {
		return backend.CheckMomentumStepMulti(shapesOf(params), shapesOf(grads), shapesOf(bufs), len(decay), o)
	}
	for i := range params {
		if err := checkHost(op, fmt.Sprintf("params[%d] grads[%d] bufs[%d]", i, i, i), params[i], grads[i], bufs[i]); err != nil {
			return err
		}
	}
	if err := backend.CheckMomentumStepMulti(shapesOf(params), shapesOf(grads), shapesOf(bufs), len(decay), o); err != nil {
		return err
	}
	if stop, err := b.deferredGradCheck(op, grads, o.Deferred); stop || err != nil {
		return err
	}
	for i, p := range params {
		oi := o
		oi.Deferred = nil
		if !decay[i] {
			oi.WeightDecay = 0
		}
		if err := b.MomentumStep(p, grads[i], bufs[i], oi); err != nil {
			return fmt.Errorf("%s: tensor %d: %w", op, i, err)
		}
	}
	return nil
}

// AdamWStepMulti runs AdamWStep on every tensor in order (weight decay
// only where decay[i]).
func (b *Backend) AdamWStepMulti(params, grads, ms, vs []*Tensor, decay []bool, o backend.AdamWOpts) error {
	const op = backend.OpAdamWStepMulti
	if len(grads) != len(params) || len(ms) != len(params) || len(vs) != len(params) || len(decay) != len(params) {
		return backend.CheckAdamWStepMulti(shapesOf(params), shapesOf(grads), shapesOf(ms), shapesOf(vs), len(decay), o)
	}
	for i := range params {
		if err := checkHost(op, fmt.Sprintf("params[%d] grads[%d] ms[%d] vs[%d]", i, i, i, i), params[i], grads[i], ms[i], vs[i]); err != nil {
			return err
		}
	}
	if err := backend.CheckAdamWStepMulti(shapesOf(params), shapesOf(grads), shapesOf(ms), shapesOf(vs), len(decay), o); err != nil {
		return err
	}
	if stop, err := b.deferredGradCheck(op, grads, o.Deferred); stop || err != nil {
		return err
	}
	for i, p := range params {
		oi := o
		oi.Deferred = nil
		if !decay[i] {
			oi.WeightDecay = 0
		}
		if err := b.AdamWStep(p, grads[i], ms[i], vs[i], oi); err != nil {
			return fmt.Errorf("%s: tensor %d: %w", op, i, err)
		}
	}
	return nil
}

// deferredRecord returns the status record of d (nil when d is nil),
// after checking that the status tensor is a host tensor.
func deferredRecord(op string, d *backend.DeferredCheck) ([]float32, error) {
	if d == nil {
		return nil, nil
	}
	if err := checkHost(op, "status", d.Status); err != nil {
		return nil, err
	}
	return d.Status.Host[d.At : d.At+backend.StatusWords], nil
}

// deferredGradCheck is the gradient check of a multi-tensor update with a
// DeferredCheck: stop when the record already holds a failure or one of
// grads has a NaN or Inf sum of squares (recorded, as the first such
// tensor, code "gradient"). Without d it does nothing.
func (b *Backend) deferredGradCheck(op string, grads []*Tensor, d *backend.DeferredCheck) (stop bool, err error) {
	st, err := deferredRecord(op, d)
	if err != nil || st == nil {
		return false, err
	}
	if backend.StatusSet(st) {
		return true, nil
	}
	for i, g := range grads {
		gg, _ := b.SumSquares(g)
		if math.IsNaN(gg) || math.IsInf(gg, 0) {
			backend.EncodeStatus(st, d.Step, &backend.NonFiniteError{Index: i, What: "gradient", Value: gg})
			return true, nil
		}
	}
	return false, nil
}
