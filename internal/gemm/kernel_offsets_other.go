//go:build !amd64 || noasm

package gemm

// offsetKernelFor returns nil: without the assembly kernel the driver packs
// each panel and uses the portable kernel.
func offsetKernelFor(kernelKind) offsetKernel { return nil }

// rowsAKernelFor returns nil: without the assembly kernel the driver packs
// each A panel and uses the portable kernel.
func rowsAKernelFor(kernelKind) rowsAKernel { return nil }

// colsAKernelFor returns nil: without the assembly kernel the driver packs
// each A panel and uses the portable kernel.
func colsAKernelFor(kernelKind) colsAKernel { return nil }
