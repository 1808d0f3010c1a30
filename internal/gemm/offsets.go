package gemm

import "fmt"

// Gathered operands. A convolution's column matrix (im2col) is a set of
// shifted views of the input: with the input zero-padded, every row of the
// column matrix of a stride-1 convolution is a contiguous run of the padded
// input starting at a row-dependent offset. The entry points here take B as
// such a list of offsets instead of a materialised matrix, so the column
// matrix is never written: SgemmPackedARowOffsets reads the rows of B
// straight from the input inside the micro-kernel, and SgemmColOffsetsB
// packs its columns from the input.

// SgemmPackedARowOffsets computes C[m,n] = alpha * A·B + beta*C[m,n] for A
// prepacked by PackA (m×k) and B given by row offsets: row p of B is
// b[off[p] : off[p]+n]. C is m×n with row stride ldc; when beta == 0 C is
// overwritten without being read. It runs on the calling goroutine.
//
// The result is bit-identical to SgemmPackedA with the materialised B: the
// same k-blocks, the same micro-kernel arithmetic.
func SgemmPackedARowOffsets(pa *PackedA, n int, alpha float32, b []float32, off []int, beta float32, c []float32, ldc int) {
	m, k := pa.m, pa.k
	if err := checkRowOffsets(m, n, k, b, off, len(c), ldc); err != nil {
		panic(err) // programming error: callers check shapes first
	}
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	kern := kernelFor(activeKernel)
	offKern := offsetKernelFor(activeKernel)
	ws := getWorkspace()
	defer putWorkspace(ws)
	full := n / nr * nr
	for p0 := 0; p0 < k; p0 += pa.kc {
		kc := min(pa.kc, k-p0)
		bEff := beta
		if p0 > 0 {
			bEff = 1
		}
		ap := pa.block(0, p0, kc)
		offs := off[p0 : p0+kc]
		for jr := 0; jr < n; jr += nr {
			cols := min(nr, n-jr)
			var panel []float32
			if offKern == nil || jr >= full {
				// Edge panel (or no gathering kernel): pack it, padding
				// with zero columns, and use the ordinary kernel.
				panel = ws.b[:kc*nr]
				packRowOffsetsPanel(panel, b, offs, jr, cols)
			}
			for ir := 0; ir < m; ir += mr {
				rows := min(mr, m-ir)
				aPanel := ap[ir*kc : ir*kc+kc*mr]
				dst, ld := c[ir*ldc+jr:], ldc
				if rows < mr || cols < nr {
					dst, ld = ws.tile[:], nr
					if bEff != 0 {
						for i := 0; i < rows; i++ {
							copy(ws.tile[i*nr:i*nr+cols], c[(ir+i)*ldc+jr:(ir+i)*ldc+jr+cols])
						}
					}
				}
				if panel != nil {
					kern(kc, aPanel, panel, dst, ld, alpha, bEff)
				} else {
					offKern(kc, aPanel, b[jr:], offs, dst, ld, alpha, bEff)
				}
				if rows < mr || cols < nr {
					for i := 0; i < rows; i++ {
						copy(c[(ir+i)*ldc+jr:(ir+i)*ldc+jr+cols], ws.tile[i*nr:i*nr+cols])
					}
				}
			}
		}
	}
}

// checkRowOffsets checks that every row of B lies inside b and that C fits.
func checkRowOffsets(m, n, k int, b []float32, off []int, nc, ldc int) error {
	if n < 0 {
		return fmt.Errorf("gemm: negative size n=%d", n)
	}
	if len(off) != k {
		return fmt.Errorf("gemm: %d row offsets for k=%d", len(off), k)
	}
	if n > 0 {
		for p, o := range off {
			if o < 0 || o+n > len(b) {
				return fmt.Errorf("gemm: row %d of B at offset %d (n=%d) is outside len %d", p, o, n, len(b))
			}
		}
	}
	if m > 0 && n > 0 && (ldc < n || nc < (m-1)*ldc+n) {
		return fmt.Errorf("gemm: C %dx%d does not fit len %d ldc %d", m, n, nc, ldc)
	}
	return nil
}

// packRowOffsetsPanel packs columns j0..j0+cols-1 of the rows b[off[p]:] into
// one kc×nr micro-panel, zero-filling columns past cols.
func packRowOffsetsPanel(dst, b []float32, off []int, j0, cols int) {
	for p, o := range off {
		d := dst[p*nr : p*nr+nr : p*nr+nr]
		n := copy(d[:cols], b[o+j0:o+j0+cols])
		clear(d[n:])
	}
}

// SgemmColOffsetsB computes C[m,n] = alpha * op(A)·B + beta*C[m,n] where A
// is m×k (k×m when transA, row stride lda) and B is k×n given by column
// offsets: column j of B is b[off[j] : off[j]+k]. C is m×n with row stride
// ldc. It uses up to threads goroutines (GOMAXPROCS when threads <= 0); the
// result does not depend on the number and is bit-identical to Sgemm with
// the materialised B (transposed).
func SgemmColOffsetsB(threads int, transA bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, off []int, beta float32, c []float32, ldc int) {
	if err := checkColOffsets(transA, m, n, k, a, lda, b, off, len(c), ldc); err != nil {
		panic(err) // programming error: callers check shapes first
	}
	sgemmGather(kernelFor(activeKernel), threadBudget(threads), nil, transA, m, n, k, alpha, a, lda, operandB{b: b, colOff: off}, beta, c, ldc)
}

// checkColOffsets checks A and C like checkArgs and every column of B
// against b.
func checkColOffsets(transA bool, m, n, k int, a []float32, lda int, b []float32, off []int, nc, ldc int) error {
	// B's extent is checked below; pass a B that trivially fits.
	if err := checkArgs(transA, false, m, n, k, len(a), lda, k*n, n, nc, ldc); err != nil {
		return err
	}
	if len(off) != n {
		return fmt.Errorf("gemm: %d column offsets for n=%d", len(off), n)
	}
	if k > 0 {
		for j, o := range off {
			if o < 0 || o+k > len(b) {
				return fmt.Errorf("gemm: column %d of B at offset %d (k=%d) is outside len %d", j, o, k, len(b))
			}
		}
	}
	return nil
}
