package cpu

import (
	"math"

	"simclr/internal/gemm"
	"simclr/internal/tensor"
)

// normEps is F.normalize's default eps: rows are divided by max(||x||, eps).
const normEps = 1e-12

// L2NormalizeForward computes y[i] = x[i]/max(||x[i]||, 1e-12) for each row
// of x [N,D] and keeps the norms [N] (accumulated in float64) for the
// backward pass.
func (b *Backend) L2NormalizeForward(x, y, norms *Tensor) error {
	const op = "l2 normalize forward"
	if err := checkRank(op, "x", x, 2, "[N,D]"); err != nil {
		return err
	}
	if err := checkShape(op, "y", y, x.Shape); err != nil {
		return err
	}
	if err := checkShape(op, "norms", norms, tensor.Shape{x.Shape[0]}); err != nil {
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
	const op = "l2 normalize backward"
	if err := checkRank(op, "y", y, 2, "[N,D]"); err != nil {
		return err
	}
	if err := checkShape(op, "norms", norms, tensor.Shape{y.Shape[0]}); err != nil {
		return err
	}
	if err := checkShape(op, "dy", dy, y.Shape); err != nil {
		return err
	}
	if err := checkShape(op, "dx", dx, y.Shape); err != nil {
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

// SimilarityForward computes s = z z^T for z [M,D], s [M,M].
func (b *Backend) SimilarityForward(z, s *Tensor) error {
	const op = "similarity forward"
	if err := checkRank(op, "z", z, 2, "[M,D]"); err != nil {
		return err
	}
	m, d := z.Shape[0], z.Shape[1]
	if err := checkShape(op, "s", s, tensor.Shape{m, m}); err != nil {
		return err
	}
	gemm.Sgemm(false, true, m, m, d, 1, z.Host, d, z.Host, d, 0, s.Host, m)
	return nil
}

// SimilarityBackward computes dz = (ds + ds^T) z.
func (b *Backend) SimilarityBackward(z, ds, dz *Tensor) error {
	const op = "similarity backward"
	if err := checkRank(op, "z", z, 2, "[M,D]"); err != nil {
		return err
	}
	m, d := z.Shape[0], z.Shape[1]
	if err := checkShape(op, "ds", ds, tensor.Shape{m, m}); err != nil {
		return err
	}
	if err := checkShape(op, "dz", dz, z.Shape); err != nil {
		return err
	}
	sym := b.scratch.get(m * m)
	defer b.scratch.put(sym)
	g := ds.Host
	parallelFor(m, grainFor(m, elemGrain), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := sym[i*m : (i+1)*m]
			src := g[i*m : (i+1)*m]
			for j := range row {
				row[j] = src[j] + g[j*m+i]
			}
		}
	})
	gemm.Sgemm(false, false, m, d, m, 1, sym, m, z.Host, d, 0, dz.Host, d)
	return nil
}
