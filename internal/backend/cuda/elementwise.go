//go:build cuda || cudaemu

package cuda

import "simclr/internal/backend"

// Add computes out = a + b elementwise; out may alias a or b.
func (b *Backend) Add(a, c, out *Tensor) error {
	const op = backend.OpAdd
	if err := b.checkDev(op, "a b out", a, c, out); err != nil {
		return err
	}
	if err := backend.CheckAdd(a.Shape, c.Shape, out.Shape); err != nil {
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
	const op = backend.OpReLUForward
	if err := b.checkDev(op, "x y", x, y); err != nil {
		return err
	}
	if err := backend.CheckReLUForward(x.Shape, y.Shape); err != nil {
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
	const op = backend.OpReLUBackward
	if err := b.checkDev(op, "y dy dx", y, dy, dx); err != nil {
		return err
	}
	if err := backend.CheckReLUBackward(y.Shape, dy.Shape, dx.Shape); err != nil {
		return err
	}
	n := y.Numel()
	if n == 0 {
		return nil
	}
	return b.launch(op, "relu_bwd", elemGrid(n), block1D(), args{}.ptr(y).ptr(dy).ptr(dx).i(n), y.Shape)
}
