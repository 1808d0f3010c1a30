package cpu

import (
	"math"

	"simclr/internal/backend"
	"simclr/internal/gemm"
)

// Tile sizes of the fused NT-Xent: a task owns fusedRows rows of z (and of
// dz) and streams the columns in tiles of fusedCols, so a task holds one
// fusedRows x fusedCols tile of similarities (32 KiB) and the [2N,2N]
// matrix is never formed. The tile boundaries depend only on M, so the
// results are bit-identical whatever GOMAXPROCS is.
const (
	fusedRows = 64
	fusedCols = 128
)

// simTile writes the similarities z[lo:hi] z[c0:c0+cols]^T into tile
// (row-major, stride cols). Each element is the same float32 dot product
// as the corresponding element of SimilarityForward's s (gemm sums over k
// in a fixed order whatever the blocking of m and n).
func simTile(zv []float32, d, lo, hi, c0, cols int, tile []float32) {
	gemm.Sgemm(false, true, hi-lo, cols, d, 1, zv[lo*d:], d, zv[c0*d:], d, 0, tile, cols)
}

// rowLSEOf reads row i's log-sum-exp from stats [M,2] (head + tail).
func rowLSEOf(sv []float32, i int) float64 {
	return float64(sv[2*i]) + float64(sv[2*i+1])
}

// NTXentFusedForward returns the NT-Xent loss of z z^T (see
// backend.Backend) without forming the similarity matrix: per block of
// fusedRows rows, an online max and sum of exp over streamed column
// tiles (float64), then lse_i - l_i,pos(i) per row, added in row order.
// stats[i] receives lse_i split into a float32 head and tail.
func (b *Backend) NTXentFusedForward(z, stats *Tensor, tau float32) (float32, error) {
	const op = backend.OpNTXentFusedForward
	if err := checkHost(op, "z stats", z, stats); err != nil {
		return 0, err
	}
	m, d, err := backend.CheckNTXentFusedForward(z.Shape, stats.Shape, tau)
	if err != nil {
		return 0, err
	}
	if err := backend.FirstNonFinite(op, "z", z.Host, d); err != nil {
		return 0, err
	}
	return b.ntxentFusedMean(z.Host, stats.Host, m, d, tau), nil
}

// NTXentFusedForwardInto writes NTXentFusedForward's loss into
// losses[slot] and its stats (see backend.Backend); a NaN or infinity in
// z makes the loss and every stats entry NaN.
func (b *Backend) NTXentFusedForwardInto(z, stats *Tensor, tau float32, losses *Tensor, slot int) error {
	const op = backend.OpNTXentFusedForwardInto
	if err := checkHost(op, "z stats losses", z, stats, losses); err != nil {
		return err
	}
	m, d, err := backend.CheckNTXentFusedForwardInto(z.Shape, stats.Shape, tau, losses.Shape, slot)
	if err != nil {
		return err
	}
	if backend.FirstNonFinite(op, "z", z.Host, d) != nil {
		nan := float32(math.NaN())
		for i := range stats.Host {
			stats.Host[i] = nan
		}
		losses.Host[slot] = nan
		return nil
	}
	losses.Host[slot] = b.ntxentFusedMean(z.Host, stats.Host, m, d, tau)
	return nil
}

// ntxentFusedMean is the fused NT-Xent loss of the finite zv [m,d]; it
// writes the stats sv [m,2].
func (b *Backend) ntxentFusedMean(zv, sv []float32, m, d int, tau float32) float32 {
	invTau := 1 / float64(tau)
	rowLoss := make([]float64, m)
	parallelFor(m, fusedRows, func(lo, hi int) {
		tile := b.scratch.get(fusedRows * fusedCols)
		defer b.scratch.put(tile)
		var mx, sum, posL [fusedRows]float64
		for r := range mx {
			mx[r] = math.Inf(-1)
		}
		for c0 := 0; c0 < m; c0 += fusedCols {
			cols := min(fusedCols, m-c0)
			simTile(zv, d, lo, hi, c0, cols, tile)
			for r := 0; r < hi-lo; r++ {
				i := lo + r
				pos := (i + m/2) % m
				row := tile[r*cols : (r+1)*cols]
				tmx := math.Inf(-1)
				for jj, v := range row {
					j := c0 + jj
					if j == i {
						continue
					}
					l := float64(v) * invTau
					if l > tmx {
						tmx = l
					}
					if j == pos {
						posL[r] = l
					}
				}
				if math.IsInf(tmx, -1) {
					continue // the tile held only the diagonal
				}
				if tmx > mx[r] {
					sum[r] *= math.Exp(mx[r] - tmx) // 0 while mx is -inf
					mx[r] = tmx
				}
				var s float64
				for jj, v := range row {
					if c0+jj != i {
						s += math.Exp(float64(v)*invTau - mx[r])
					}
				}
				sum[r] += s
			}
		}
		for r := 0; r < hi-lo; r++ {
			i := lo + r
			lse := mx[r] + math.Log(sum[r])
			rowLoss[i] = lse - posL[r]
			head := float32(lse)
			sv[2*i] = head
			sv[2*i+1] = float32(lse - float64(head))
		}
	})
	return meanOf(rowLoss)
}

// NTXentFusedBackward writes dz = G z with
// G_ij = (p_ij + p_ji - 2[j == pos(i)]) / (2N*tau), G_ii = 0, tile by
// tile: each block of fusedRows rows of dz recomputes its similarity
// tiles, turns them into G in float64 (rounded to float32) from the saved
// log-sum-exps, and accumulates G_IJ z_J over the column tiles in order.
func (b *Backend) NTXentFusedBackward(z, stats *Tensor, tau float32, dz *Tensor) error {
	const op = backend.OpNTXentFusedBackward
	if err := checkHost(op, "z stats dz", z, stats, dz); err != nil {
		return err
	}
	m, d, err := backend.CheckNTXentFusedBackward(z.Shape, stats.Shape, tau, dz.Shape)
	if err != nil {
		return err
	}
	if err := backend.FirstNonFinite(op, "z", z.Host, d); err != nil {
		return err
	}
	if err := backend.FirstNonFinite(op, "stats", stats.Host, 2); err != nil {
		return err
	}
	invTau := 1 / float64(tau)
	scale := invTau / float64(m)
	zv, sv, dv := z.Host, stats.Host, dz.Host
	parallelFor(m, fusedRows, func(lo, hi int) {
		tile := b.scratch.get(fusedRows * fusedCols)
		defer b.scratch.put(tile)
		out := dv[lo*d : hi*d]
		for c0 := 0; c0 < m; c0 += fusedCols {
			cols := min(fusedCols, m-c0)
			simTile(zv, d, lo, hi, c0, cols, tile)
			for r := 0; r < hi-lo; r++ {
				i := lo + r
				pos := (i + m/2) % m
				lseI := rowLSEOf(sv, i)
				row := tile[r*cols : (r+1)*cols]
				for jj, v := range row {
					j := c0 + jj
					if j == i {
						row[jj] = 0
						continue
					}
					l := float64(v) * invTau
					g := math.Exp(l-lseI) + math.Exp(l-rowLSEOf(sv, j))
					if j == pos {
						g -= 2
					}
					row[jj] = float32(g * scale)
				}
			}
			var beta float32
			if c0 > 0 {
				beta = 1
			}
			gemm.Sgemm(false, false, hi-lo, d, cols, 1, tile, cols, zv[c0*d:], d, beta, out, d)
		}
	})
	return nil
}
