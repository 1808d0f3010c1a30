//go:build cuda || cudaemu

package cuda

import (
	"simclr/internal/backend"
)

type poolGeom struct {
	planes, h, w, k, stride, pad, ho, wo int
}

// newPoolGeom converts the geometry the shape inference returns.
func newPoolGeom(pg backend.PoolGeometry, err error) (poolGeom, error) {
	if err != nil {
		return poolGeom{}, err
	}
	return poolGeom{planes: pg.Planes, h: pg.H, w: pg.W, k: pg.K, stride: pg.Stride, pad: pg.Pad, ho: pg.Ho, wo: pg.Wo}, nil
}

func (g poolGeom) kernelArgs(a args) args {
	return a.i(g.planes).i(g.h).i(g.w).i(g.k).i(g.stride).i(g.pad).i(g.ho).i(g.wo)
}

// MaxPool2DForward computes y [N,C,Ho,Wo] = max over each window of x
// [N,C,H,W]; padding counts as -inf.
func (b *Backend) MaxPool2DForward(x, y *Tensor, p backend.PoolParams) error {
	const op = backend.OpMaxPool2DForward
	if err := b.checkDev(op, "x y", x, y); err != nil {
		return err
	}
	g, err := newPoolGeom(backend.CheckMaxPool2DForward(x.Shape, y.Shape, p))
	if err != nil {
		return err
	}
	n := y.Numel()
	if n == 0 {
		return nil
	}
	return b.launch(op, "maxpool_fwd", elemGrid(n), block1D(), g.kernelArgs(args{}.ptr(x).ptr(y)), x.Shape, y.Shape)
}

// MaxPool2DBackward routes each dy to the arg-max of its window of x (the
// first maximum in row-major order); overlapping windows add up.
func (b *Backend) MaxPool2DBackward(x, dy, dx *Tensor, p backend.PoolParams) error {
	const op = backend.OpMaxPool2DBackward
	if err := b.checkDev(op, "x dy dx", x, dy, dx); err != nil {
		return err
	}
	g, err := newPoolGeom(backend.CheckMaxPool2DBackward(x.Shape, dy.Shape, dx.Shape, p))
	if err != nil {
		return err
	}
	n := dx.Numel()
	if n == 0 {
		return nil
	}
	return b.launch(op, "maxpool_bwd", elemGrid(n), block1D(), g.kernelArgs(args{}.ptr(x).ptr(dy).ptr(dx)), x.Shape, dy.Shape)
}

// GlobalAvgPoolForward computes y[n,c] = mean of x[n,c,:,:].
func (b *Backend) GlobalAvgPoolForward(x, y *Tensor) error {
	const op = backend.OpGlobalAvgPoolForward
	if err := b.checkDev(op, "x y", x, y); err != nil {
		return err
	}
	hw, err := backend.CheckGlobalAvgPoolForward(x.Shape, y.Shape)
	if err != nil {
		return err
	}
	planes := y.Numel()
	if planes == 0 {
		return nil
	}
	return b.launch(op, "gap_fwd", warpRowsGrid(planes), block1D(), args{}.ptr(x).ptr(y).i(planes).i(hw), x.Shape)
}

// GlobalAvgPoolBackward spreads dy [N,C] evenly: dx[n,c,h,w] = dy[n,c]/(H*W).
func (b *Backend) GlobalAvgPoolBackward(dy, dx *Tensor) error {
	const op = backend.OpGlobalAvgPoolBackward
	if err := b.checkDev(op, "dy dx", dy, dx); err != nil {
		return err
	}
	hw, err := backend.CheckGlobalAvgPoolBackward(dy.Shape, dx.Shape)
	if err != nil {
		return err
	}
	n := dx.Numel()
	if n == 0 {
		return nil
	}
	return b.launch(op, "gap_bwd", elemGrid(n), block1D(), args{}.ptr(dy).ptr(dx).i(dy.Numel()).i(hw), dx.Shape)
}
