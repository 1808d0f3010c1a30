//go:build cuda || cudaemu

package cuda

import (
	"fmt"

	"simclr/internal/backend"
	"simclr/internal/tensor"
)

type poolGeom struct {
	planes, h, w, k, stride, pad, ho, wo int
}

func newPoolGeom(op string, x *Tensor, p backend.PoolParams) (poolGeom, error) {
	pg, err := backend.NewPoolGeometry(op, x.Shape, p)
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
	const op = "maxpool2d forward"
	if err := b.checkRank(op, "x", x, 4, "[N,C,H,W]"); err != nil {
		return err
	}
	g, err := newPoolGeom(op, x, p)
	if err != nil {
		return err
	}
	if err := b.checkShape(op, "y", y, tensor.Shape{x.Shape[0], x.Shape[1], g.ho, g.wo}); err != nil {
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
	const op = "maxpool2d backward"
	if err := b.checkRank(op, "x", x, 4, "[N,C,H,W]"); err != nil {
		return err
	}
	g, err := newPoolGeom(op, x, p)
	if err != nil {
		return err
	}
	if err := b.checkShape(op, "dy", dy, tensor.Shape{x.Shape[0], x.Shape[1], g.ho, g.wo}); err != nil {
		return err
	}
	if err := b.checkShape(op, "dx", dx, x.Shape); err != nil {
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
	const op = "global avgpool forward"
	if err := b.checkRank(op, "x", x, 4, "[N,C,H,W]"); err != nil {
		return err
	}
	if err := b.checkShape(op, "y", y, tensor.Shape{x.Shape[0], x.Shape[1]}); err != nil {
		return err
	}
	hw := x.Shape[2] * x.Shape[3]
	if hw == 0 {
		return fmt.Errorf("%s: x %v has no spatial positions to average", op, x.Shape)
	}
	planes := y.Numel()
	if planes == 0 {
		return nil
	}
	return b.launch(op, "gap_fwd", warpRowsGrid(planes), block1D(), args{}.ptr(x).ptr(y).i(planes).i(hw), x.Shape)
}

// GlobalAvgPoolBackward spreads dy [N,C] evenly: dx[n,c,h,w] = dy[n,c]/(H*W).
func (b *Backend) GlobalAvgPoolBackward(dy, dx *Tensor) error {
	const op = "global avgpool backward"
	if err := b.checkRank(op, "dx", dx, 4, "[N,C,H,W]"); err != nil {
		return err
	}
	if err := b.checkShape(op, "dy", dy, tensor.Shape{dx.Shape[0], dx.Shape[1]}); err != nil {
		return err
	}
	hw := dx.Shape[2] * dx.Shape[3]
	if hw == 0 {
		return fmt.Errorf("%s: dx %v has no spatial positions", op, dx.Shape)
	}
	n := dx.Numel()
	if n == 0 {
		return nil
	}
	return b.launch(op, "gap_bwd", elemGrid(n), block1D(), args{}.ptr(dy).ptr(dx).i(dy.Numel()).i(hw), dx.Shape)
}
