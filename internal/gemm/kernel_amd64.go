//go:build !noasm

package gemm

import "golang.org/x/sys/cpu"

// haveAVX2Kernel reports whether this build carries the AVX2 assembly kernel
// and the CPU and OS can run it (AVX2 and FMA3, YMM state enabled).
var haveAVX2Kernel = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// haveAVX512Kernel reports whether the CPU and OS can run the AVX-512
// kernels (AVX-512F, ZMM and mask state enabled; x/sys checks XCR0).
var haveAVX512Kernel = haveAVX2Kernel && cpu.X86.HasAVX512F

// kernelFMA6x16 is implemented in kernel_amd64.s.
//
//go:noescape
func kernelFMA6x16(kc int, a, b, c *float32, ldc int, alpha, beta float32)

// kernelAVX2Wrapper checks the panel and tile bounds (so a driver bug panics
// instead of corrupting memory) and calls the assembly kernel.
func kernelAVX2Wrapper(kc int, a, b, c []float32, ldc int, alpha, beta float32) {
	_ = a[kc*mr-1]
	_ = b[kc*nr-1]
	_ = c[(mr-1)*ldc+nr-1]
	kernelFMA6x16(kc, &a[0], &b[0], &c[0], ldc, alpha, beta)
}

var avx2Kernels = kernelSet{
	tile:  [2][2]microKernel{{kernelAVX2Wrapper}},
	rowsA: [2]rowsAKernel{kernelRowsAAVX2Wrapper},
	colsA: [2][2]colsAKernel{{kernelColsAAVX2Wrapper}},
}

// kernelsFor returns the kernels of kind k (the Go set for a kind this CPU
// cannot run).
func kernelsFor(k kernelKind) *kernelSet {
	switch {
	case k == kernelAVX512 && haveAVX512Kernel:
		return &avx512Kernels
	case k == kernelAVX2 && haveAVX2Kernel:
		return &avx2Kernels
	}
	return &goKernels
}

func bestKernel() kernelKind {
	switch {
	case haveAVX512Kernel:
		return kernelAVX512
	case haveAVX2Kernel:
		return kernelAVX2
	}
	return kernelGo
}
