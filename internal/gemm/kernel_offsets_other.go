//go:build !amd64 || noasm

package gemm

// rowsAKernelFor returns nil: without the assembly kernel the driver packs
// each A panel and uses the portable kernel.
func rowsAKernelFor(kernelKind) rowsAKernel { return nil }

// colsAKernelFor returns nil: without the assembly kernel the driver packs
// each A panel and uses the portable kernel.
func colsAKernelFor(kernelKind) colsAKernel { return nil }
