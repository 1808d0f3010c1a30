//go:build cuda || cudaemu

package cuda

import (
	"math"
	"simclr/internal/backend"
)

// MomentumStep applies one momentum-SGD update to p in place (see
// backend.MomentumOpts); each float op is rounded separately, as the CPU
// backend does.
func (b *Backend) MomentumStep(p, g, buf *Tensor, o backend.MomentumOpts) error {
	const op = backend.OpMomentumStep
	if err := b.checkDev(op, "p g buf", p, g, buf); err != nil {
		return err
	}
	if err := backend.CheckMomentumStep(p.Shape, g.Shape, buf.Shape, o); err != nil {
		return err
	}
	n := p.Numel()
	if n == 0 {
		return nil
	}
	a := args{}.ptr(p).ptr(g).ptr(buf).i(n).f(o.LR).f(o.Momentum).f(o.WeightDecay).f(o.TrustRatio).flag(o.Nesterov).flag(o.FirstStep)
	return b.launch(op, "momentum_step", elemGrid(n), block1D(), a, p.Shape)
}

// AdamWStep applies one AdamW update to p in place (PyTorch semantics,
// see backend.AdamWOpts).
func (b *Backend) AdamWStep(p, g, m, v *Tensor, o backend.AdamWOpts) error {
	const op = backend.OpAdamWStep
	if err := b.checkDev(op, "p g m v", p, g, m, v); err != nil {
		return err
	}
	if err := backend.CheckAdamWStep(p.Shape, g.Shape, m.Shape, v.Shape, o); err != nil {
		return err
	}
	n := p.Numel()
	if n == 0 {
		return nil
	}
	lr, wd := backend.Widen(o.LR), backend.Widen(o.WeightDecay)
	b1, b2 := backend.Widen(o.Beta1), backend.Widen(o.Beta2)
	decay := float32(1 - lr*wd)
	stepSize := float32(lr / (1 - math.Pow(b1, float64(o.Step))))
	bc2Sqrt := float32(math.Sqrt(1 - math.Pow(b2, float64(o.Step))))
	a := args{}.ptr(p).ptr(g).ptr(m).ptr(v).i(n).f(decay).f(o.Beta1).f(o.Beta2).
		f(float32(1 - b1)).f(float32(1 - b2)).f(stepSize).f(bc2Sqrt).f(o.Eps)
	return b.launch(op, "adamw_step", elemGrid(n), block1D(), a, p.Shape)
}
