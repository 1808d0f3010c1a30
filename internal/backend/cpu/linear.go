package cpu

import (
	"simclr/internal/backend"
	"simclr/internal/gemm"
)

// LinearForward computes y = x w^T + b: x [N,In], w [Out,In], b [Out] or
// nil, y [N,Out].
func (b *Backend) LinearForward(x, w, bias, y *Tensor) error {
	if err := checkHost(backend.OpLinearForward, "x w b? y", x, w, bias, y); err != nil {
		return err
	}
	g, err := backend.CheckLinearForward(x.Shape, w.Shape, backend.ShapeOf(bias), y.Shape)
	if err != nil {
		return err
	}
	n, in, out := g.N, g.In, g.Out
	ys := y.Host
	xs, ws, release := b.roundOperands(x.Host, w.Host)
	defer release()
	gemm.Sgemm(false, true, n, out, in, 1, xs, in, ws, in, 0, ys, out)
	if bias != nil && out > 0 {
		bs := bias.Host
		parallelFor(n, grainFor(out, elemGrain), func(lo, hi int) {
			for r := lo; r < hi; r++ {
				row := ys[r*out : (r+1)*out]
				row = row[:len(bs)]
				for j, v := range bs {
					row[j] += v
				}
			}
		})
	}
	return nil
}

// LinearBackward computes, for y = x w^T + b, dx = dy w (skipped when dx is
// nil), dw = dy^T x and db = column sums of dy (nil when there is no bias;
// accumulated in float64 in row order).
func (b *Backend) LinearBackward(x, w, dy, dx, dw, db *Tensor) error {
	if err := checkHost(backend.OpLinearBackward, "x w dy dx? dw db?", x, w, dy, dx, dw, db); err != nil {
		return err
	}
	g, err := backend.CheckLinearBackward(x.Shape, w.Shape, dy.Shape, backend.ShapeOf(dx), dw.Shape, backend.ShapeOf(db))
	if err != nil {
		return err
	}
	n, in, out := g.N, g.In, g.Out
	dys := dy.Host
	// The products read dy, w and x rounded to the matmul precision; the
	// bias gradient sums dy as it is.
	p := b.MatmulPrecision()
	rdy, releaseDy := b.roundTo(p, dys)
	defer releaseDy()
	rx, releaseX := b.roundTo(p, x.Host)
	defer releaseX()
	if dx != nil {
		rw, releaseW := b.roundTo(p, w.Host)
		gemm.Sgemm(false, false, n, in, out, 1, rdy, out, rw, in, 0, dx.Host, in)
		releaseW()
	}
	gemm.Sgemm(true, false, out, in, n, 1, rdy, out, rx, in, 0, dw.Host, in)
	if db != nil {
		dbs := db.Host
		const block = 256
		parallelFor(out, block, func(lo, hi int) {
			var acc [block]float64
			a := acc[:hi-lo]
			for r := 0; r < n; r++ {
				row := dys[r*out+lo : r*out+hi]
				row = row[:len(a)]
				for j, v := range row {
					a[j] += float64(v)
				}
			}
			for j, v := range a {
				dbs[lo+j] = float32(v)
			}
		})
	}
	return nil
}
