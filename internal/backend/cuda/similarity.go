//go:build cuda || cudaemu

package cuda

import "simclr/internal/tensor"

// SimilarityForward computes s = z z^T for z [M,D], s [M,M].
func (b *Backend) SimilarityForward(z, s *Tensor) error {
	const op = "similarity forward"
	if err := b.checkRank(op, "z", z, 2, "[M,D]"); err != nil {
		return err
	}
	m, d := z.Shape[0], z.Shape[1]
	if err := b.checkShape(op, "s", s, tensor.Shape{m, m}); err != nil {
		return err
	}
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
	const op = "similarity backward"
	if err := b.checkRank(op, "z", z, 2, "[M,D]"); err != nil {
		return err
	}
	m, d := z.Shape[0], z.Shape[1]
	if err := b.checkShape(op, "ds", ds, tensor.Shape{m, m}); err != nil {
		return err
	}
	if err := b.checkShape(op, "dz", dz, z.Shape); err != nil {
		return err
	}
	if dz.Numel() == 0 {
		return nil
	}
	grid, err := gemmGrid(op, m, d, 1)
	if err != nil {
		return err
	}
	return b.launch(op, "similarity_bwd", grid, block1D(), args{}.ptr(z).ptr(ds).ptr(dz).i(m).i(d), z.Shape, ds.Shape)
}
