package cpu

import (
	"math"

	"simclr/internal/backend"
)

// poolGeom holds the sizes of one max-pool.
type poolGeom struct {
	planes, h, w   int // planes = N*C
	k, stride, pad int
	ho, wo         int
}

// newPoolGeom converts the geometry the shape inference returns.
func newPoolGeom(pg backend.PoolGeometry, err error) (poolGeom, error) {
	if err != nil {
		return poolGeom{}, err
	}
	return poolGeom{planes: pg.Planes, h: pg.H, w: pg.W, k: pg.K, stride: pg.Stride, pad: pg.Pad, ho: pg.Ho, wo: pg.Wo}, nil
}

// argmax returns the index within the plane of the maximum of window
// (oh, ow), PyTorch's way: padding counts as -inf, the first maximum in
// row-major window order wins, and a NaN counts as a maximum.
func (g *poolGeom) argmax(plane []float32, oh, ow int) int {
	h0 := oh*g.stride - g.pad
	w0 := ow*g.stride - g.pad
	h1 := min(h0+g.k, g.h)
	w1 := min(w0+g.k, g.w)
	h0 = max(h0, 0)
	w0 = max(w0, 0)
	best := float32(math.Inf(-1))
	idx := h0*g.w + w0
	for ih := h0; ih < h1; ih++ {
		row := plane[ih*g.w : ih*g.w+w1]
		for iw := w0; iw < w1; iw++ {
			v := row[iw]
			if v > best || v != v {
				best = v
				idx = ih*g.w + iw
			}
		}
	}
	return idx
}

// MaxPool2DForward computes y [N,C,Ho,Wo] = max over each window of x
// [N,C,H,W]; padding counts as -inf.
func (b *Backend) MaxPool2DForward(x, y *Tensor, p backend.PoolParams) error {
	if err := checkHost(backend.OpMaxPool2DForward, "x y", x, y); err != nil {
		return err
	}
	g, err := newPoolGeom(backend.CheckMaxPool2DForward(x.Shape, y.Shape, p))
	if err != nil {
		return err
	}
	in, out := g.h*g.w, g.ho*g.wo
	xs, ys := x.Host, y.Host
	parallelFor(g.planes, grainFor(out*g.k*g.k, 1<<15), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			plane := xs[pl*in : (pl+1)*in]
			dst := ys[pl*out : (pl+1)*out]
			for oh := 0; oh < g.ho; oh++ {
				for ow := 0; ow < g.wo; ow++ {
					dst[oh*g.wo+ow] = plane[g.argmax(plane, oh, ow)]
				}
			}
		}
	})
	return nil
}

// MaxPool2DBackward routes each dy to the arg-max of its window of x (the
// first maximum in row-major order); overlapping windows add up.
func (b *Backend) MaxPool2DBackward(x, dy, dx *Tensor, p backend.PoolParams) error {
	if err := checkHost(backend.OpMaxPool2DBackward, "x dy dx", x, dy, dx); err != nil {
		return err
	}
	g, err := newPoolGeom(backend.CheckMaxPool2DBackward(x.Shape, dy.Shape, dx.Shape, p))
	if err != nil {
		return err
	}
	in, out := g.h*g.w, g.ho*g.wo
	xs, dys, dxs := x.Host, dy.Host, dx.Host
	parallelFor(g.planes, grainFor(out*g.k*g.k, 1<<15), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			plane := xs[pl*in : (pl+1)*in]
			grad := dys[pl*out : (pl+1)*out]
			dst := dxs[pl*in : (pl+1)*in]
			clear(dst)
			for oh := 0; oh < g.ho; oh++ {
				for ow := 0; ow < g.wo; ow++ {
					dst[g.argmax(plane, oh, ow)] += grad[oh*g.wo+ow]
				}
			}
		}
	})
	return nil
}

// GlobalAvgPoolForward computes y[n,c] = mean of x[n,c,:,:] (accumulated
// in float64).
func (b *Backend) GlobalAvgPoolForward(x, y *Tensor) error {
	if err := checkHost(backend.OpGlobalAvgPoolForward, "x y", x, y); err != nil {
		return err
	}
	hw, err := backend.CheckGlobalAvgPoolForward(x.Shape, y.Shape)
	if err != nil {
		return err
	}
	xs, ys := x.Host, y.Host
	parallelFor(len(ys), grainFor(hw, 1<<15), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ys[i] = float32(sum64(xs[i*hw:(i+1)*hw]) / float64(hw))
		}
	})
	return nil
}

// GlobalAvgPoolBackward spreads dy [N,C] evenly: dx[n,c,h,w] = dy[n,c]/(H*W).
func (b *Backend) GlobalAvgPoolBackward(dy, dx *Tensor) error {
	if err := checkHost(backend.OpGlobalAvgPoolBackward, "dy dx", dy, dx); err != nil {
		return err
	}
	hw, err := backend.CheckGlobalAvgPoolBackward(dy.Shape, dx.Shape)
	if err != nil {
		return err
	}
	dys, dxs := dy.Host, dx.Host
	div := float32(hw)
	parallelFor(len(dys), grainFor(hw, 1<<15), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := dys[i] / div
			dst := dxs[i*hw : (i+1)*hw]
			for j := range dst {
				dst[j] = v
			}
		}
	})
	return nil
}
