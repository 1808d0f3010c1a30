package cpu

import "simclr/internal/vec"

// Add computes out = a + b elementwise; the three shapes must be equal and
// out may alias a or b.
func (b *Backend) Add(a, c, out *Tensor) error {
	const op = "add"
	if err := checkHost(op, "a", a); err != nil {
		return err
	}
	if err := checkShape(op, "b", c, a.Shape); err != nil {
		return err
	}
	if err := checkShape(op, "out", out, a.Shape); err != nil {
		return err
	}
	x, y, z := a.Host, c.Host, out.Host
	parallelFor(len(z), elemGrain, func(lo, hi int) {
		vec.Add(z[lo:hi], x[lo:hi], y[lo:hi])
	})
	return nil
}

// ReLUForward computes y = max(x, 0); y may alias x. NaN stays NaN.
func (b *Backend) ReLUForward(x, y *Tensor) error {
	const op = "relu forward"
	if err := checkHost(op, "x", x); err != nil {
		return err
	}
	if err := checkShape(op, "y", y, x.Shape); err != nil {
		return err
	}
	xs, ys := x.Host, y.Host
	parallelFor(len(xs), elemGrain, func(lo, hi int) {
		vec.ReLU(ys[lo:hi], xs[lo:hi])
	})
	return nil
}

// ReLUBackward computes dx = dy where y > 0, else 0; dx may alias dy.
func (b *Backend) ReLUBackward(y, dy, dx *Tensor) error {
	const op = "relu backward"
	if err := checkHost(op, "y", y); err != nil {
		return err
	}
	if err := checkShape(op, "dy", dy, y.Shape); err != nil {
		return err
	}
	if err := checkShape(op, "dx", dx, y.Shape); err != nil {
		return err
	}
	ys, dys, dxs := y.Host, dy.Host, dx.Host
	parallelFor(len(ys), elemGrain, func(lo, hi int) {
		vec.ReLUBackward(dxs[lo:hi], ys[lo:hi], dys[lo:hi])
	})
	return nil
}
