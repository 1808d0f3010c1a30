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

// SumSquares returns the sum of squares of t's elements, accumulated in
// float64 over fixed chunks added in order.
func (b *Backend) SumSquares(t *Tensor) (float64, error) {
	if err := checkHost("sum squares", "t", t); err != nil {
		return 0, err
	}
	xs := t.Host
	return parallelSum(len(xs), func(lo, hi int) float64 {
		return dot64(xs[lo:hi], xs[lo:hi])
	}), nil
}

// Dot returns sum a[i]*b[i] accumulated in float64 over fixed chunks added
// in order; a and b must have the same shape.
func (b *Backend) Dot(a, c *Tensor) (float64, error) {
	const op = "dot"
	if err := checkHost(op, "a", a); err != nil {
		return 0, err
	}
	if err := checkShape(op, "b", c, a.Shape); err != nil {
		return 0, err
	}
	xs, ys := a.Host, c.Host
	return parallelSum(len(xs), func(lo, hi int) float64 {
		return dot64(xs[lo:hi], ys[lo:hi])
	}), nil
}
