//go:build !noasm

package gemm

// The AVX-512 kernels, generated into kernel_avx512_amd64.s by
// gen_avx512.go. Names give the tile: kernelZ12x32 computes 12 rows × 32
// columns from two 6-row A panels and two 16-column B panels.

//go:generate go run gen_avx512.go

type zKernel func(kc int, a, b, c *float32, ldc int, alpha, beta float32)

type zOffsetsKernel func(kc int, a *float32, off *int, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelZ6x16(kc int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelZ6x32(kc int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelZ12x16(kc int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelZ12x32(kc int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelZCols6x16(kc int, a *float32, off *int, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelZCols6x32(kc int, a *float32, off *int, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelZCols12x16(kc int, a *float32, off *int, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelZCols12x32(kc int, a *float32, off *int, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelZRows6x16(kc int, a *float32, offs *int, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelZRows12x16(kc int, a *float32, offs *int, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelZRows6x32(kc int, a *float32, offs *int, b, c *float32, ldc int, alpha, beta float32)

// zTile wraps a packed-operand kernel of ra A panels × cb B panels with the
// bounds checks of its panels and tile.
func zTile(ra, cb int, f zKernel) microKernel {
	return func(kc int, a, b, c []float32, ldc int, alpha, beta float32) {
		_ = a[kc*mr*ra-1]
		_ = b[kc*nr*cb-1]
		_ = c[(ra*mr-1)*ldc+cb*nr-1]
		f(kc, &a[0], &b[0], &c[0], ldc, alpha, beta)
	}
}

// zCols wraps a column-offset kernel. The caller has checked that
// a[off[p]:] holds ra·mr values for every p.
func zCols(ra, cb int, f zOffsetsKernel) colsAKernel {
	return func(kc int, a []float32, off []int, b, c []float32, ldc int, alpha, beta float32) {
		_ = off[kc-1]
		_ = b[kc*nr*cb-1]
		_ = c[(ra*mr-1)*ldc+cb*nr-1]
		f(kc, &a[0], &off[0], &b[0], &c[0], ldc, alpha, beta)
	}
}

// zRows wraps a row-offset kernel (mr rows).
func zRows(cb int, f zOffsetsKernel) rowsAKernel {
	return func(kc int, a []float32, offs *[mr]int, b, c []float32, ldc int, alpha, beta float32) {
		for _, o := range offs {
			_ = a[o+kc-1]
		}
		_ = b[kc*nr*cb-1]
		_ = c[(mr-1)*ldc+cb*nr-1]
		f(kc, &a[0], &offs[0], &b[0], &c[0], ldc, alpha, beta)
	}
}

// zRows12x16 wraps kernelZRows12x16.
func zRows12x16(kc int, a []float32, offs *[2 * mr]int, b, c []float32, ldc int, alpha, beta float32) {
	for _, o := range offs {
		_ = a[o+kc-1]
	}
	_ = b[kc*nr-1]
	_ = c[(2*mr-1)*ldc+nr-1]
	kernelZRows12x16(kc, &a[0], &offs[0], &b[0], &c[0], ldc, alpha, beta)
}

var avx512Kernels = kernelSet{
	tile: [2][2]microKernel{
		{zTile(1, 1, kernelZ6x16), zTile(1, 2, kernelZ6x32)},
		{zTile(2, 1, kernelZ12x16), zTile(2, 2, kernelZ12x32)},
	},
	rowsA:      [2]rowsAKernel{zRows(1, kernelZRows6x16), zRows(2, kernelZRows6x32)},
	rowsA12x16: zRows12x16,
	colsA: [2][2]colsAKernel{
		{zCols(1, 1, kernelZCols6x16), zCols(1, 2, kernelZCols6x32)},
		{zCols(2, 1, kernelZCols12x16), zCols(2, 2, kernelZCols12x32)},
	},
}
