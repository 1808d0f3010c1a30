package cpu

import (
	"simclr/internal/backend"
	"simclr/internal/vec"
)

// Add computes out = a + b elementwise; the three shapes must be equal and
// out may alias a or b.
func (b *Backend) Add(a, c, out *Tensor) error {
	if err := checkHost(backend.OpAdd, "a b out", a, c, out); err != nil {
		return err
	}
	if err := backend.CheckAdd(a.Shape, c.Shape, out.Shape); err != nil {
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
	if err := checkHost(backend.OpReLUForward, "x y", x, y); err != nil {
		return err
	}
	if err := backend.CheckReLUForward(x.Shape, y.Shape); err != nil {
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
	if err := checkHost(backend.OpReLUBackward, "y dy dx", y, dy, dx); err != nil {
		return err
	}
	if err := backend.CheckReLUBackward(y.Shape, dy.Shape, dx.Shape); err != nil {
		return err
	}
	ys, dys, dxs := y.Host, dy.Host, dx.Host
	parallelFor(len(ys), elemGrain, func(lo, hi int) {
		vec.ReLUBackward(dxs[lo:hi], ys[lo:hi], dys[lo:hi])
	})
	return nil
}
