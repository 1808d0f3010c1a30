package cpu

import (
	"simclr/internal/gemm"
	"simclr/internal/tensor"
)

// normEps is F.normalize's default eps: rows are divided by max(||x||, eps).
const normEps = 1e-12

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
