//go:build !amd64 || noasm

package gemm

// haveAVX2Kernel is false: this build has no assembly kernels (non-amd64, or
// built with the noasm tag).
const haveAVX2Kernel = false

func kernelAVX2Wrapper(kc int, a, b, c []float32, ldc int, alpha, beta float32) {
	kernelGoPortable(kc, a, b, c, ldc, alpha, beta)
}

func bestKernel() kernelKind { return kernelGo }
