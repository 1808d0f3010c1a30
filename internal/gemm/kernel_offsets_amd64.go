//go:build !noasm

package gemm

// kernelFMA6x16Off is implemented in kernel_offsets_amd64.s.
//
//go:noescape
func kernelFMA6x16Off(kc int, a, b *float32, off *int, c *float32, ldc int, alpha, beta float32)

// kernelOffAVX2Wrapper checks the A panel, offsets and C tile bounds and
// calls the assembly kernel. The caller has checked that b[off[p]:] holds
// nr values for every p.
func kernelOffAVX2Wrapper(kc int, a, b []float32, off []int, c []float32, ldc int, alpha, beta float32) {
	_ = a[kc*mr-1]
	_ = off[kc-1]
	_ = c[(mr-1)*ldc+nr-1]
	kernelFMA6x16Off(kc, &a[0], &b[0], &off[0], &c[0], ldc, alpha, beta)
}

// offsetKernelFor returns the in-place-B kernel of kind k, or nil when k
// has none (the driver then packs each panel).
func offsetKernelFor(k kernelKind) offsetKernel {
	if k == kernelAVX2 && haveAVX2Kernel {
		return kernelOffAVX2Wrapper
	}
	return nil
}
