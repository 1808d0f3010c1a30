package gemm

import "fmt"

// Gathered operands. A convolution's column matrix (im2col) is a set of
// shifted views of the input: with the input zero-padded (and split into
// phase planes for strides above 1), every row of the column matrix is a
// contiguous run of the padded input starting at a row-dependent offset.
// The entry points here take that operand as a list of offsets instead of a
// materialised matrix and read it in place inside the micro-kernel, so the
// column matrix is never written:
//
//   - SgemmColOffsetsA: A's columns are the runs (the forward convolution
//     computed position-major: A = col^T, B = packed w^T);
//   - SgemmRowOffsetsA: A's rows are the runs (the weight gradient:
//     A = col, B = dy^T).

// SgemmRowOffsetsA computes C[m,n] = alpha * A·op(B) + beta*C[m,n] where A
// is m×k given by row offsets (row i of A is a[off[i] : off[i]+k]) and B
// is k×n (n×k when transB) with row stride ldb. C is m×n with row stride
// ldc; when beta == 0 C is overwritten without being read. It runs on the
// calling goroutine, and the result is bit-identical to Sgemm with the
// materialised A: the A panels are read in place by the micro-kernel
// instead of being packed.
func SgemmRowOffsetsA(m, n, k int, alpha float32, a []float32, off []int, transB bool, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if err := checkRowOffsetsA(m, n, k, a, off, transB, len(b), ldb, len(c), ldc); err != nil {
		panic(err) // programming error: callers check shapes first
	}
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	ks := kernelsFor(activeKernel)
	kern, rowsKern := ks.tile[0][0], ks.rowsA[0]
	ws := getWorkspace()
	defer putWorkspace(ws)
	kcMaxK := kBlock(k)
	// The row offsets of the current rows live in the workspace: the kernels
	// are called through func values, so a local array would escape, and a
	// per-tile array cost a heap allocation per tile.
	offs := &ws.offs
	lo, hi := (*[mr]int)(offs[:mr]), (*[mr]int)(offs[mr:])
	for p0 := 0; p0 < k; p0 += kcMaxK {
		kc := min(kcMaxK, k-p0)
		bEff := beta
		if p0 > 0 {
			bEff = 1
		}
		for j0 := 0; j0 < n; j0 += nbMax {
			nt := min(nbMax, n-j0)
			packB(ws.b, transB, b, ldb, p0, kc, j0, nt)
			for ir := 0; ir < m; {
				if ks.rowsA12x16 != nil && m-ir >= 2*mr {
					// Twelve rows: 6x32 tiles (two B panels) where they fit,
					// the 12x16 tile for a single 16-column panel, 6-row
					// edge tiles for a column edge.
					for i := range offs {
						offs[i] = off[ir+i] + p0
					}
					for jr := 0; jr < nt; {
						if nt-jr >= nr && nt-jr < 2*nr {
							cOff := ir*ldc + j0 + jr
							ks.rowsA12x16(kc, a, offs, ws.b[jr*kc:jr*kc+kc*nr], c[cOff:], ldc, alpha, bEff)
							jr += nr
							continue
						}
						rowOffsetsTile(ws, ks, kc, a, lo, mr, nt, jr, c, ir*ldc+j0, ldc, alpha, bEff)
						jr += rowOffsetsTile(ws, ks, kc, a, hi, mr, nt, jr, c, (ir+mr)*ldc+j0, ldc, alpha, bEff)
					}
					ir += 2 * mr
					continue
				}
				rows := min(mr, m-ir)
				// Rows past m repeat the last row; their results are
				// dropped with the edge tile.
				for i := range lo {
					lo[i] = off[ir+min(i, rows-1)] + p0
				}
				if rowsKern == nil {
					aPanel := ws.a[:kc*mr]
					for i, o := range lo {
						for p, v := range a[o : o+kc] {
							aPanel[p*mr+i] = v
						}
					}
					for jr := 0; jr < nt; jr += nr {
						packedTile(ws, kern, kc, rows, aPanel, ws.b[jr*kc:jr*kc+kc*nr], c, ir*ldc+j0+jr, ldc, nt-jr, alpha, bEff)
					}
				} else {
					for jr := 0; jr < nt; {
						jr += rowOffsetsTile(ws, ks, kc, a, lo, rows, nt, jr, c, ir*ldc+j0, ldc, alpha, bEff)
					}
				}
				ir += mr
			}
		}
	}
}

// rowOffsetsTile computes the tile of SgemmRowOffsetsA at columns jr.. of
// the packed B block (nt columns) for the mr rows at offs (rows of them
// valid), C row 0 of the rows at c[cRow+jr:], and returns how many columns
// it did: two B panels with the wide kernel when they fit, else one
// (through the scratch tile at an edge).
func rowOffsetsTile(ws *workspace, ks *kernelSet, kc int, a []float32, offs *[mr]int, rows, nt, jr int, c []float32, cRow, ldc int, alpha, beta float32) int {
	cOff := cRow + jr
	if rows == mr && nt-jr >= 2*nr && ks.rowsA[1] != nil {
		ks.rowsA[1](kc, a, offs, ws.b[jr*kc:jr*kc+2*kc*nr], c[cOff:], ldc, alpha, beta)
		return 2 * nr
	}
	bPanel := ws.b[jr*kc : jr*kc+kc*nr]
	cols := min(nr, nt-jr)
	if rows == mr && cols == nr {
		ks.rowsA[0](kc, a, offs, bPanel, c[cOff:], ldc, alpha, beta)
		return nr
	}
	if beta != 0 {
		for i := 0; i < rows; i++ {
			copy(ws.tile[i*nr:i*nr+cols], c[cOff+i*ldc:cOff+i*ldc+cols])
		}
	}
	ks.rowsA[0](kc, a, offs, bPanel, ws.tile[:], nr, alpha, beta)
	for i := 0; i < rows; i++ {
		copy(c[cOff+i*ldc:cOff+i*ldc+cols], ws.tile[i*nr:i*nr+cols])
	}
	return nr
}

// checkRowOffsetsA checks B and C like checkArgs and every row of A
// against a.
func checkRowOffsetsA(m, n, k int, a []float32, off []int, transB bool, nb, ldb, nc, ldc int) error {
	// A's extent is checked below; pass an A that trivially fits.
	if err := checkArgs(false, transB, m, n, k, m*k, k, nb, ldb, nc, ldc); err != nil {
		return err
	}
	if len(off) != m {
		return fmt.Errorf("gemm: %d row offsets for m=%d", len(off), m)
	}
	if k > 0 {
		for i, o := range off {
			if o < 0 || o+k > len(a) {
				return fmt.Errorf("gemm: row %d of A at offset %d (k=%d) is outside len %d", i, o, k, len(a))
			}
		}
	}
	return nil
}

// SgemmColOffsetsA computes C[m,n] = alpha * A·B + beta*C[m,n] for B
// prepacked by PackB (k×n) and A given by column offsets: element (i, p) of
// A is a[off[p]+i], i.e. column p of A is the run a[off[p] : off[p]+m]. C is
// m×n with row stride ldc; when beta == 0 C is overwritten without being
// read. It runs on the calling goroutine, and the result is bit-identical
// to Sgemm with the materialised A (same k-blocks, same kernel arithmetic).
//
// This is a convolution with its output transposed: with A the column
// matrix of a padded image read in place (rows = output positions) and B
// the transposed weights, C is the output in position-major layout.
func SgemmColOffsetsA(pb *PackedB, m int, alpha float32, a []float32, off []int, beta float32, c []float32, ldc int) {
	k, n := pb.k, pb.n
	maxOff, err := checkColOffsetsA(m, n, k, a, off, len(c), ldc)
	if err != nil {
		panic(err) // programming error: callers check shapes first
	}
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	ks := kernelsFor(activeKernel)
	kern, colsKern := ks.tile[0][0], ks.colsA[0][0]
	ws := getWorkspace()
	defer putWorkspace(ws)
	for p0 := 0; p0 < k; p0 += pb.kc {
		kc := min(pb.kc, k-p0)
		bEff := beta
		if p0 > 0 {
			bEff = 1
		}
		bBlock := pb.buf[p0*pb.nPad:]
		offs := off[p0 : p0+kc]
		for ir := 0; ir < m; {
			if m-ir >= 2*mr && ks.colsA[1][0] != nil {
				// Twelve whole rows (read in place, they lie inside every
				// column): wide tiles, mr×nr ones for a column edge.
				for jr := 0; jr < n; {
					cOff := ir*ldc + jr
					switch {
					case n-jr >= 2*nr && ks.colsA[1][1] != nil:
						ks.colsA[1][1](kc, a[ir:], offs, bBlock[jr*kc:jr*kc+2*kc*nr], c[cOff:], ldc, alpha, bEff)
						jr += 2 * nr
					case n-jr >= nr:
						ks.colsA[1][0](kc, a[ir:], offs, bBlock[jr*kc:jr*kc+kc*nr], c[cOff:], ldc, alpha, bEff)
						jr += nr
					default:
						colOffsetsTile(ws, colsKern, kc, mr, a, ir, offs, bBlock[jr*kc:jr*kc+kc*nr], c, cOff, ldc, n-jr, alpha, bEff)
						colOffsetsTile(ws, colsKern, kc, mr, a, ir+mr, offs, bBlock[jr*kc:jr*kc+kc*nr], c, cOff+mr*ldc, ldc, n-jr, alpha, bEff)
						jr = n
					}
				}
				ir += 2 * mr
				continue
			}
			rows := min(mr, m-ir)
			var aPanel []float32
			// An edge tile reads its missing rows too when a has room
			// for them (their results are dropped with the tile).
			inPlace := colsKern != nil && (rows == mr || maxOff+ir+mr <= len(a))
			if !inPlace {
				// Edge rows that cannot be read whole (or no gathering
				// kernel): pack the panel, zero rows past m, and use the
				// ordinary kernel.
				aPanel = ws.a[:kc*mr]
				for p, o := range offs {
					d := aPanel[p*mr : p*mr+mr : p*mr+mr]
					n := copy(d[:rows], a[o+ir:o+ir+rows])
					clear(d[n:])
				}
			}
			for jr := 0; jr < n; {
				cols := min(nr, n-jr)
				cOff := ir*ldc + jr
				if aPanel == nil && rows == mr && n-jr >= 2*nr && ks.colsA[0][1] != nil {
					ks.colsA[0][1](kc, a[ir:], offs, bBlock[jr*kc:jr*kc+2*kc*nr], c[cOff:], ldc, alpha, bEff)
					jr += 2 * nr
					continue
				}
				bPanel := bBlock[jr*kc : jr*kc+kc*nr]
				if aPanel == nil {
					colOffsetsTile(ws, colsKern, kc, rows, a, ir, offs, bPanel, c, cOff, ldc, cols, alpha, bEff)
				} else {
					packedTile(ws, kern, kc, rows, aPanel, bPanel, c, cOff, ldc, cols, alpha, bEff)
				}
				jr += nr
			}
			ir += mr
		}
	}
}

// colOffsetsTile computes one mr×nr tile of SgemmColOffsetsA with the
// column-offset kernel at rows ir.. of A (rows valid rows, cols valid
// columns; a partial tile goes through the scratch tile).
func colOffsetsTile(ws *workspace, colsKern colsAKernel, kc, rows int, a []float32, ir int, offs []int, bPanel, c []float32, cOff, ldc, cols int, alpha, beta float32) {
	if rows == mr && cols >= nr {
		colsKern(kc, a[ir:], offs, bPanel, c[cOff:], ldc, alpha, beta)
		return
	}
	cols = min(cols, nr)
	if beta != 0 {
		for i := 0; i < rows; i++ {
			copy(ws.tile[i*nr:i*nr+cols], c[cOff+i*ldc:cOff+i*ldc+cols])
		}
	}
	colsKern(kc, a[ir:], offs, bPanel, ws.tile[:], nr, alpha, beta)
	for i := 0; i < rows; i++ {
		copy(c[cOff+i*ldc:cOff+i*ldc+cols], ws.tile[i*nr:i*nr+cols])
	}
}

// packedTile is colOffsetsTile for a packed A panel and the mr×nr kernel.
func packedTile(ws *workspace, kern microKernel, kc, rows int, aPanel, bPanel, c []float32, cOff, ldc, cols int, alpha, beta float32) {
	if rows == mr && cols >= nr {
		kern(kc, aPanel, bPanel, c[cOff:], ldc, alpha, beta)
		return
	}
	cols = min(cols, nr)
	if beta != 0 {
		for i := 0; i < rows; i++ {
			copy(ws.tile[i*nr:i*nr+cols], c[cOff+i*ldc:cOff+i*ldc+cols])
		}
	}
	kern(kc, aPanel, bPanel, ws.tile[:], nr, alpha, beta)
	for i := 0; i < rows; i++ {
		copy(c[cOff+i*ldc:cOff+i*ldc+cols], ws.tile[i*nr:i*nr+cols])
	}
}

// checkColOffsetsA checks every column of A against a and that C fits,
// and returns the largest offset.
func checkColOffsetsA(m, n, k int, a []float32, off []int, nc, ldc int) (maxOff int, err error) {
	if m < 0 {
		return 0, fmt.Errorf("gemm: negative size m=%d", m)
	}
	if len(off) != k {
		return 0, fmt.Errorf("gemm: %d column offsets for k=%d", len(off), k)
	}
	if m > 0 {
		for p, o := range off {
			if o < 0 || o+m > len(a) {
				return 0, fmt.Errorf("gemm: column %d of A at offset %d (m=%d) is outside len %d", p, o, m, len(a))
			}
			maxOff = max(maxOff, o)
		}
	}
	if m > 0 && n > 0 && (ldc < n || nc < (m-1)*ldc+n) {
		return 0, fmt.Errorf("gemm: C %dx%d does not fit len %d ldc %d", m, n, nc, ldc)
	}
	return maxOff, nil
}
