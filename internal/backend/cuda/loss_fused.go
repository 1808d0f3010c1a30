//go:build cuda || cudaemu

package cuda

import (
	"fmt"
	"math"

	"simclr/internal/backend"
)

// Launch geometry of kernels/ntxent_fused.cu.
const (
	fusedTile    = 32  // NF_T: rows (and columns) per tile
	fusedDzChunk = 128 // NF_DC: dz columns per backward block
)

// NTXentFusedForward returns the NT-Xent loss of z z^T without forming the
// similarity matrix (see backend.Backend): one block per 32 rows streams
// 32-column tiles of similarities with an online log-sum-exp; the row
// losses come back (one host read) and are added in row order like the
// CPU backend's.
func (b *Backend) NTXentFusedForward(z, stats *Tensor, tau float32) (float32, error) {
	const op = backend.OpNTXentFusedForward
	if err := b.checkDev(op, "z stats", z, stats); err != nil {
		return 0, err
	}
	m, d, err := backend.CheckNTXentFusedForward(z.Shape, stats.Shape, tau)
	if err != nil {
		return 0, err
	}
	buf, err := b.scratch(int64(m) * 8)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	defer buf.release()
	grid := dim3{ceilDiv(m, fusedTile), 1, 1}
	if err := b.launch(op, "ntxent_fused_fwd", grid, block1D(), args{}.ptr(z).i(m).i(d).f(tau).raw(buf.ptr).ptr(stats), z.Shape); err != nil {
		return 0, err
	}
	loss, err := b.downloadF64(buf.ptr, m)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	for _, l := range loss {
		if math.IsNaN(l) {
			return 0, b.nonFiniteError(op, "z", z)
		}
	}
	return meanOf(loss), nil
}

// NTXentFusedForwardInto writes NTXentFusedForward's loss into
// losses[slot] and its stats, without a host read (see NTXentForwardInto).
func (b *Backend) NTXentFusedForwardInto(z, stats *Tensor, tau float32, losses *Tensor, slot int) error {
	const op = backend.OpNTXentFusedForwardInto
	if err := b.checkDev(op, "z stats losses", z, stats, losses); err != nil {
		return err
	}
	m, d, err := backend.CheckNTXentFusedForwardInto(z.Shape, stats.Shape, tau, losses.Shape, slot)
	if err != nil {
		return err
	}
	buf, err := b.scratch(int64(m) * 8)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer buf.release() // reused only by work queued after the mean kernel
	grid := dim3{ceilDiv(m, fusedTile), 1, 1}
	if err := b.launch(op, "ntxent_fused_fwd", grid, block1D(), args{}.ptr(z).i(m).i(d).f(tau).raw(buf.ptr).ptr(stats), z.Shape); err != nil {
		return err
	}
	return b.meanInto(op, buf.ptr, m, losses, slot)
}

// NTXentFusedBackward writes dz from z and the forward's stats without
// forming the similarity matrix: block (x, y) recomputes the similarity
// tiles of rows 32x.. and accumulates dz's columns 128y.. over the column
// tiles in order.
func (b *Backend) NTXentFusedBackward(z, stats *Tensor, tau float32, dz *Tensor) error {
	const op = backend.OpNTXentFusedBackward
	if err := b.checkDev(op, "z stats dz", z, stats, dz); err != nil {
		return err
	}
	m, d, err := backend.CheckNTXentFusedBackward(z.Shape, stats.Shape, tau, dz.Shape)
	if err != nil {
		return err
	}
	grid := dim3{ceilDiv(m, fusedTile), ceilDiv(d, fusedDzChunk), 1}
	if grid.y > maxGridYZ {
		return fmt.Errorf("%s: z %v needs grid %v, beyond CUDA's grid.y limit; use a projection dimension below %d", op, z.Shape, grid, maxGridYZ*fusedDzChunk)
	}
	return b.launch(op, "ntxent_fused_bwd", grid, block1D(), args{}.ptr(z).ptr(stats).i(m).i(d).f(tau).ptr(dz), z.Shape, stats.Shape)
}
