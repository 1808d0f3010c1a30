//go:build cuda || cudaemu

package cuda

import "simclr/internal/backend"

// SimilarityForward computes s = z z^T for z [M,D], s [M,M].
func (b *Backend) SimilarityForward(z, s *Tensor) error {
	const op = backend.OpSimilarityForward
	if err := b.checkDev(op, "z s", z, s); err != nil {
		return err
	}
	if err := backend.CheckSimilarityForward(z.Shape, s.Shape); err != nil {
		return err
	}
	m, d := z.Shape[0], z.Shape[1]
	if m == 0 {
		return nil
	}
	grid, err := gemmGrid(op, m, m, 1)
	if err != nil {
		return err
	}
	return b.launch(op, "similarity_fwd", grid, block1D(), args{}.ptr(z).ptr(s).i(m).i(d), z.Shape)
}

// SimilarityBackward computes dz = (ds + ds^T) z.
func (b *Backend) SimilarityBackward(z, ds, dz *Tensor) error {
	const op = backend.OpSimilarityBackward
	if err := b.checkDev(op, "z ds dz", z, ds, dz); err != nil {
		return err
	}
	if err := backend.CheckSimilarityBackward(z.Shape, ds.Shape, dz.Shape); err != nil {
		return err
	}
	m, d := z.Shape[0], z.Shape[1]
	if dz.Numel() == 0 {
		return nil
	}
	grid, err := gemmGrid(op, m, d, 1)
	if err != nil {
		return err
	}
	return b.launch(op, "similarity_bwd", grid, block1D(), args{}.ptr(z).ptr(ds).ptr(dz).i(m).i(d), z.Shape, ds.Shape)
}
