package cpu

import (
	"simclr/internal/backend"
	"simclr/internal/gemm"
)

// normEps is F.normalize's default eps: rows are divided by max(||x||, eps).
const normEps = 1e-12

// SimilarityForward computes s = z z^T for z [M,D], s [M,M].
func (b *Backend) SimilarityForward(z, s *Tensor) error {
	if err := checkHost(backend.OpSimilarityForward, "z s", z, s); err != nil {
		return err
	}
	if err := backend.CheckSimilarityForward(z.Shape, s.Shape); err != nil {
		return err
	}
	m, d := z.Shape[0], z.Shape[1]
	gemm.Sgemm(false, true, m, m, d, 1, z.Host, d, z.Host, d, 0, s.Host, m)
	return nil
}

// SimilarityBackward computes dz = (ds + ds^T) z.
func (b *Backend) SimilarityBackward(z, ds, dz *Tensor) error {
	if err := checkHost(backend.OpSimilarityBackward, "z ds dz", z, ds, dz); err != nil {
		return err
	}
	if err := backend.CheckSimilarityBackward(z.Shape, ds.Shape, dz.Shape); err != nil {
		return err
	}
	m, d := z.Shape[0], z.Shape[1]
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
