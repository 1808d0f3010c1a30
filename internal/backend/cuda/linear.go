//go:build cuda || cudaemu

package cuda

import "simclr/internal/backend"

// LinearForward computes y = x w^T + b: x [N,In], w [Out,In], b [Out] or
// nil, y [N,Out].
func (b *Backend) LinearForward(x, w, bias, y *Tensor) error {
	const op = backend.OpLinearForward
	if err := b.checkDev(op, "x w b? y", x, w, bias, y); err != nil {
		return err
	}
	g, err := backend.CheckLinearForward(x.Shape, w.Shape, backend.ShapeOf(bias), y.Shape)
	if err != nil {
		return err
	}
	n, in, out := g.N, g.In, g.Out
	if y.Numel() == 0 {
		return nil
	}
	if f, ok := b.tcUse(in); ok {
		return b.linearForwardTC(op, f, x, w, bias, y, n, in, out)
	}
	grid, err := gemmGrid(op, n, out, 1)
	if err != nil {
		return err
	}
	return b.launch(op, b.gemmKernel("linear_fwd"), grid, block1D(), args{}.ptr(x).ptr(w).optPtr(bias).ptr(y).i(n).i(in).i(out), x.Shape, w.Shape)
}

// LinearBackward computes dx = dy w (skipped when dx is nil), dw = dy^T x
// and db = column sums of dy (float64, rows in order; nil when there is no
// bias).
func (b *Backend) LinearBackward(x, w, dy, dx, dw, db *Tensor) error {
	const op = backend.OpLinearBackward
	if err := b.checkDev(op, "x w dy dx? dw db?", x, w, dy, dx, dw, db); err != nil {
		return err
	}
	g, err := backend.CheckLinearBackward(x.Shape, w.Shape, dy.Shape, backend.ShapeOf(dx), dw.Shape, backend.ShapeOf(db))
	if err != nil {
		return err
	}
	n, in, out := g.N, g.In, g.Out
	if dx != nil && dx.Numel() > 0 {
		if out == 0 {
			if err := b.fill(dx, 0); err != nil {
				return err
			}
		} else if f, ok := b.tcUse(out); ok {
			if err := b.linearBackwardDataTC(op, f, w, dy, dx, n, in, out); err != nil {
				return err
			}
		} else {
			grid, err := gemmGrid(op, n, in, 1)
			if err != nil {
				return err
			}
			if err := b.launch(op, b.gemmKernel("linear_bwd_data"), grid, block1D(), args{}.ptr(dy).ptr(w).ptr(dx).i(n).i(in).i(out), dy.Shape, w.Shape); err != nil {
				return err
			}
		}
	}
	if dw.Numel() > 0 {
		if n == 0 {
			if err := b.fill(dw, 0); err != nil {
				return err
			}
		} else if f, ok := b.tcUse(n); ok {
			if err := b.linearBackwardWeightTC(op, f, x, dy, dw, n, in, out); err != nil {
				return err
			}
		} else {
			grid, err := gemmGrid(op, out, in, 1)
			if err != nil {
				return err
			}
			if err := b.launch(op, b.gemmKernel("linear_bwd_weight"), grid, block1D(), args{}.ptr(x).ptr(dy).ptr(dw).i(n).i(in).i(out), x.Shape, dy.Shape); err != nil {
				return err
			}
		}
	}
	if db != nil && out > 0 {
		return b.launch(op, "linear_bwd_bias", dim3{ceilDiv(out, blockThreads), 1, 1}, block1D(), args{}.ptr(dy).ptr(db).i(n).i(out), dy.Shape)
	}
	return nil
}
