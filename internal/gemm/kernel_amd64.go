//go:build !noasm

package gemm

import "golang.org/x/sys/cpu"

// haveAVX2Kernel reports whether this build carries the AVX2 assembly kernel
// and the CPU and OS can run it (AVX2 and FMA3, YMM state enabled).
var haveAVX2Kernel = cpu.X86.HasAVX2 && cpu.X86.HasFMA

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

func bestKernel() kernelKind {
	if haveAVX2Kernel {
		return kernelAVX2
	}
	return kernelGo
}
