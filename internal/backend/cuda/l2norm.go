//go:build cuda || cudaemu

package cuda

import "simclr/internal/tensor"

// L2NormalizeForward computes y[i] = x[i]/max(||x[i]||, 1e-12) per row of
// x [N,D] and keeps the norms [N] for the backward pass.
func (b *Backend) L2NormalizeForward(x, y, norms *Tensor) error {
	const op = "l2 normalize forward"
	if err := b.checkRank(op, "x", x, 2, "[N,D]"); err != nil {
		return err
	}
	if err := b.checkShape(op, "y", y, x.Shape); err != nil {
		return err
	}
	if err := b.checkShape(op, "norms", norms, tensor.Shape{x.Shape[0]}); err != nil {
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
	const op = "l2 normalize backward"
	if err := b.checkRank(op, "y", y, 2, "[N,D]"); err != nil {
		return err
	}
	if err := b.checkShape(op, "norms", norms, tensor.Shape{y.Shape[0]}); err != nil {
		return err
	}
	if err := b.checkShape(op, "dy", dy, y.Shape); err != nil {
		return err
	}
	if err := b.checkShape(op, "dx", dx, y.Shape); err != nil {
		return err
	}
	n, d := y.Shape[0], y.Shape[1]
	if n == 0 {
		return nil
	}
	return b.launch(op, "l2norm_bwd", warpRowsGrid(n), block1D(), args{}.ptr(y).ptr(norms).ptr(dy).ptr(dx).i(n).i(d), y.Shape)
}
