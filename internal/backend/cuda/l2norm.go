//go:build cuda || cudaemu

package cuda

import "simclr/internal/backend"

// L2NormalizeForward computes y[i] = x[i]/max(||x[i]||, 1e-12) per row of
// x [N,D] and keeps the norms [N] for the backward pass.
func (b *Backend) L2NormalizeForward(x, y, norms *Tensor) error {
	const op = backend.OpL2NormalizeForward
	if err := b.checkDev(op, "x y norms", x, y, norms); err != nil {
		return err
	}
	if err := backend.CheckL2NormalizeForward(x.Shape, y.Shape, norms.Shape); err != nil {
		return err
	}
	n, d := x.Shape[0], x.Shape[1]
	if n == 0 {
		return nil
	}
	return b.launch(op, "l2norm_fwd", warpRowsGrid(n), block1D(), args{}.ptr(x).ptr(y).ptr(norms).i(n).i(d), x.Shape)
}

// L2NormalizeBackward computes dx from y, the saved norms and dy.
func (b *Backend) L2NormalizeBackward(y, norms, dy, dx *Tensor) error {
	const op = backend.OpL2NormalizeBackward
	if err := b.checkDev(op, "y norms dy dx", y, norms, dy, dx); err != nil {
		return err
	}
	if err := backend.CheckL2NormalizeBackward(y.Shape, norms.Shape, dy.Shape, dx.Shape); err != nil {
		return err
	}
	n, d := y.Shape[0], y.Shape[1]
	if n == 0 {
		return nil
	}
	return b.launch(op, "l2norm_bwd", warpRowsGrid(n), block1D(), args{}.ptr(y).ptr(norms).ptr(dy).ptr(dx).i(n).i(d), y.Shape)
}
