//go:build !noasm

package gemm

// kernelFMA6x16RowsA is implemented in kernel_offsets_amd64.s.
//
//go:noescape
func kernelFMA6x16RowsA(kc int, a *float32, offs *int, b, c *float32, ldc int, alpha, beta float32)

// kernelRowsAAVX2Wrapper checks the rows of A, the B panel and the C tile
// and calls the assembly kernel.
func kernelRowsAAVX2Wrapper(kc int, a []float32, offs *[mr]int, b, c []float32, ldc int, alpha, beta float32) {
	for _, o := range offs {
		_ = a[o+kc-1]
	}
	_ = b[kc*nr-1]
	_ = c[(mr-1)*ldc+nr-1]
	kernelFMA6x16RowsA(kc, &a[0], &offs[0], &b[0], &c[0], ldc, alpha, beta)
}

// kernelFMA6x16ColsA is implemented in kernel_offsets_amd64.s.
//
//go:noescape
func kernelFMA6x16ColsA(kc int, a *float32, off *int, b, c *float32, ldc int, alpha, beta float32)

// kernelColsAAVX2Wrapper checks the offsets, the B panel and the C tile and
// calls the assembly kernel. The caller has checked that a[off[p]:] holds
// mr values for every p.
func kernelColsAAVX2Wrapper(kc int, a []float32, off []int, b, c []float32, ldc int, alpha, beta float32) {
	_ = off[kc-1]
	_ = b[kc*nr-1]
	_ = c[(mr-1)*ldc+nr-1]
	kernelFMA6x16ColsA(kc, &a[0], &off[0], &b[0], &c[0], ldc, alpha, beta)
}
