package cpu

import (
	"math"
	"simclr/internal/backend"
)

// L2NormalizeForward computes y[i] = x[i]/max(||x[i]||, 1e-12) for each row
// of x [N,D] and keeps the norms [N] (accumulated in float64) for the
// backward pass.
func (b *Backend) L2NormalizeForward(x, y, norms *Tensor) error {
	if err := checkHost(backend.OpL2NormalizeForward, "x y norms", x, y, norms); err != nil {
		return err
	}
	if err := backend.CheckL2NormalizeForward(x.Shape, y.Shape, norms.Shape); err != nil {
		return err
	}
	n, d := x.Shape[0], x.Shape[1]
	xs, ys, ns := x.Host, y.Host, norms.Host
	parallelFor(n, grainFor(d, elemGrain), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			src, dst := xs[r*d:(r+1)*d], ys[r*d:(r+1)*d]
			norm := math.Sqrt(dot64(src, src))
			ns[r] = float32(norm)
			den := float32(math.Max(norm, normEps))
			dst = dst[:len(src)]
			for j, v := range src {
				dst[j] = v / den
			}
		}
	})
	return nil
}

// L2NormalizeBackward computes dx from y, the saved norms and dy:
// dx = (dy - y*(y.dy))/||x|| where ||x|| > 1e-12, and dx = dy/1e-12 where
// the norm was clamped (the clamp has zero gradient).
func (b *Backend) L2NormalizeBackward(y, norms, dy, dx *Tensor) error {
	if err := checkHost(backend.OpL2NormalizeBackward, "y norms dy dx", y, norms, dy, dx); err != nil {
		return err
	}
	if err := backend.CheckL2NormalizeBackward(y.Shape, norms.Shape, dy.Shape, dx.Shape); err != nil {
		return err
	}
	n, d := y.Shape[0], y.Shape[1]
	ys, ns, dys, dxs := y.Host, norms.Host, dy.Host, dx.Host
	parallelFor(n, grainFor(d, elemGrain), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			yv, g, out := ys[r*d:(r+1)*d], dys[r*d:(r+1)*d], dxs[r*d:(r+1)*d]
			g = g[:len(yv)]
			out = out[:len(yv)]
			norm := float64(ns[r])
			if !(norm > normEps) {
				inv := float32(1 / normEps)
				for j, v := range g {
					out[j] = v * inv
				}
				continue
			}
			dot32 := float32(dot64(yv, g))
			inv := float32(1 / norm)
			for j, v := range yv {
				out[j] = (g[j] - v*dot32) * inv
			}
		}
	})
	return nil
}
