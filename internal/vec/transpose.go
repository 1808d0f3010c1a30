package vec

import "fmt"

// Transpose writes dst[j*ldd+i] = src[i*lds+j] for i < rows, j < cols: the
// rows×cols matrix src (row stride lds) transposed into dst (row stride
// ldd). Full 8×8 blocks go through the AVX2 kernel; so does a last block of
// fewer than 8 rows when src holds 8 readable rows for it (rows rounded up
// to a multiple of 8 fit in src) — the extra rows are read, never written.
// The remaining columns (cols mod 8) are copied one by one.
func Transpose(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	if rows == 0 || cols == 0 {
		return
	}
	if rows < 0 || cols < 0 || lds < cols || ldd < rows ||
		len(src) < (rows-1)*lds+cols || len(dst) < (cols-1)*ldd+rows {
		panic(fmt.Sprintf("vec.Transpose: %dx%d does not fit src len %d lds %d / dst len %d ldd %d", rows, cols, len(src), lds, len(dst), ldd))
	}
	fullCols := cols &^ 7
	blockRows := rows &^ 7
	if rows > blockRows && fullCols > 0 && (((rows+7)&^7)-1)*lds+fullCols <= len(src) {
		// The partial last block can read 8 rows of 8 columns.
		blockRows = rows
	}
	if !haveAVX2 {
		blockRows, fullCols = 0, 0
	}
	for i0 := 0; i0 < blockRows; i0 += 8 {
		n := min(8, rows-i0)
		for j0 := 0; j0 < fullCols; j0 += 8 {
			transposeBlock(dst[j0*ldd+i0:], ldd, src[i0*lds+j0:], lds, n)
		}
	}
	// Rows not covered by blocks, then columns not covered by blocks.
	for i := blockRows; i < rows; i++ {
		for j := 0; j < fullCols; j++ {
			dst[j*ldd+i] = src[i*lds+j]
		}
	}
	for j := fullCols; j < cols; j++ {
		for i := 0; i < rows; i++ {
			dst[j*ldd+i] = src[i*lds+j]
		}
	}
}
