//go:build cuda || cudaemu

package cuda

import (
	"fmt"
	"math"

	"simclr/internal/backend"
)

// Add computes out = a + b elementwise; out may alias a or b.
func (b *Backend) Add(a, c, out *Tensor) error {
	const op = "add"
	if err := b.checkDev(op, "a", a); err != nil {
		return err
	}
	if err := b.checkShape(op, "b", c, a.Shape); err != nil {
		return err
	}
	if err := b.checkShape(op, "out", out, a.Shape); err != nil {
		return err
	}
	n := a.Numel()
	if n == 0 {
		return nil
	}
	return b.launch(op, "add_f32", elemGrid(n), block1D(), args{}.ptr(a).ptr(c).ptr(out).i(n), a.Shape)
}

// ReLUForward computes y = max(x, 0); y may alias x. NaN stays NaN.
func (b *Backend) ReLUForward(x, y *Tensor) error {
	const op = "relu forward"
	if err := b.checkDev(op, "x", x); err != nil {
		return err
	}
	if err := b.checkShape(op, "y", y, x.Shape); err != nil {
		return err
	}
	n := x.Numel()
	if n == 0 {
		return nil
	}
	return b.launch(op, "relu_fwd", elemGrid(n), block1D(), args{}.ptr(x).ptr(y).i(n), x.Shape)
}

// ReLUBackward computes dx = dy where y > 0, else 0; dx may alias dy.
func (b *Backend) ReLUBackward(y, dy, dx *Tensor) error {
	const op = "relu backward"
	if err := b.checkDev(op, "y", y); err != nil {
		return err
	}
	if err := b.checkShape(op, "dy", dy, y.Shape); err != nil {
		return err
	}
	if err := b.checkShape(op, "dx", dx, y.Shape); err != nil {
		return err
	}
	n := y.Numel()
	if n == 0 {
		return nil
	}
	return b.launch(op, "relu_bwd", elemGrid(n), block1D(), args{}.ptr(y).ptr(dy).ptr(dx).i(n), y.Shape)
}

// partialSum runs a *_partial reduction kernel and adds the per-block
// float64 partials on the host in block order.
func (b *Backend) partialSum(op, kernel string, n int, a args, t *Tensor) (float64, error) {
	if n == 0 {
		return 0, nil
	}
	blocks, chunk := partialGrid(n)
	buf, err := b.scratch(int64(blocks) * 8)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	defer buf.release()
	if err := b.launch(op, kernel, dim3{blocks, 1, 1}, block1D(), a.i(n).i(chunk).raw(buf.ptr), t.Shape); err != nil {
		return 0, err
	}
	parts, err := b.downloadF64(buf.ptr, blocks)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	var s float64
	for _, v := range parts {
		s += v
	}
	return s, nil
}

// SumSquares returns the sum of squares of t's elements (float64
// accumulation, deterministic order).
func (b *Backend) SumSquares(t *Tensor) (float64, error) {
	const op = "sum squares"
	if err := b.checkDev(op, "t", t); err != nil {
		return 0, err
	}
	return b.partialSum(op, "sumsq_partial", t.Numel(), args{}.ptr(t), t)
}

// Dot returns sum a[i]*b[i]; a and b must have the same shape.
func (b *Backend) Dot(a, c *Tensor) (float64, error) {
	const op = "dot"
	if err := b.checkDev(op, "a", a); err != nil {
		return 0, err
	}
	if err := b.checkShape(op, "b", c, a.Shape); err != nil {
		return 0, err
	}
	return b.partialSum(op, "dot_partial", a.Numel(), args{}.ptr(a).ptr(c), a)
}

// MomentumStep applies one momentum-SGD update to p in place (see
// backend.MomentumOpts); each float op is rounded separately, as the CPU
// backend does.
func (b *Backend) MomentumStep(p, g, buf *Tensor, o backend.MomentumOpts) error {
	const op = "momentum step"
	if err := b.checkDev(op, "p", p); err != nil {
		return err
	}
	if err := b.checkShape(op, "g", g, p.Shape); err != nil {
		return err
	}
	if err := b.checkShape(op, "buf", buf, p.Shape); err != nil {
		return err
	}
	if err := o.Validate(op); err != nil {
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
	const op = "adamw step"
	if err := b.checkDev(op, "p", p); err != nil {
		return err
	}
	for _, t := range []struct {
		name string
		t    *Tensor
	}{{"g", g}, {"m", m}, {"v", v}} {
		if err := b.checkShape(op, t.name, t.t, p.Shape); err != nil {
			return err
		}
	}
	if err := o.Validate(op); err != nil {
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
