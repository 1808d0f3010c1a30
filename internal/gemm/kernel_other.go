//go:build !amd64 || noasm

package gemm

// haveAVX2Kernel and haveAVX512Kernel are false: this build has no assembly
// kernels (non-amd64, or built with the noasm tag).
const (
	haveAVX2Kernel   = false
	haveAVX512Kernel = false
)

// kernelsFor returns the portable Go kernels whatever the kind.
func kernelsFor(kernelKind) *kernelSet { return &goKernels }

func bestKernel() kernelKind { return kernelGo }
