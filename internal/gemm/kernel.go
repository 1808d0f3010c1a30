package gemm

import (
	"fmt"
	"os"
	"strings"
)

// Register tile of the micro-kernel: every kernel computes an mr×nr block of
// C from an mr-row micro-panel of packed A and an nr-column micro-panel of
// packed B.
const (
	mr = 6
	nr = 16
)

// microKernel computes, for the mr×nr tile of C at c (row stride ldc),
//
//	C = alpha*acc + beta*C   (C not read when beta == 0)
//
// where acc[i][j] = sum over p = 0..kc-1, in increasing p, of
// a[p*mr+i]*b[p*nr+j]. a and b are packed micro-panels.
type microKernel func(kc int, a, b, c []float32, ldc int, alpha, beta float32)

// kernelKind names a micro-kernel implementation.
type kernelKind int

const (
	kernelGo     kernelKind = iota // portable Go loops
	kernelAVX2                     // AVX2 + FMA3 assembly, 6x16 YMM tiles (amd64)
	kernelAVX512                   // AVX-512F assembly, up to 12x32 ZMM tiles (amd64)
)

func (k kernelKind) String() string {
	switch k {
	case kernelGo:
		return "go"
	case kernelAVX2:
		return "avx2-fma"
	case kernelAVX512:
		return "avx512"
	}
	return "unknown"
}

// kernelSet is every micro-kernel of one kind. The tiles are made of the
// packed mr×nr micro-panels: tile[ra-1][cb-1] computes a (ra·mr)×(cb·nr)
// block of C from ra consecutive A panels and cb consecutive B panels
// (panels of one packed block are kc·mr and kc·nr floats apart), so all
// kinds share the packing. tile[0][0] is the mr×nr kernel every kind has;
// a nil entry means the kind has no such tile. Every kernel sums each
// element in the same order (from +0, one FMA per k, increasing k, then
// alpha·acc and beta·C + that), so all tiles of one kind give bit-identical
// elements, and the AVX2 and AVX-512 kinds agree bit for bit.
type kernelSet struct {
	tile  [2][2]microKernel
	rowsA [2]rowsAKernel // [cb-1]: mr rows read in place; nil: pack the A panel
	// rowsA12x16: 2·mr rows read in place against one B panel (more
	// accumulator chains for 16-column products); nil: none.
	rowsA12x16 rowsA12Kernel
	colsA      [2][2]colsAKernel // [ra-1][cb-1]: A by column offsets; nil: pack
}

// goKernels is the portable set: the mr×nr Go kernel only.
var goKernels = kernelSet{tile: [2][2]microKernel{{kernelGoPortable}}}

// KernelEnv names the environment variable that overrides the CPU-feature
// choice of micro-kernels: "go", "avx2-fma" (or "avx2") or "avx512". A kind
// the CPU or build cannot run is ignored (the best available one is used).
// (Not SIMCLR_*: the CLI treats every SIMCLR_* variable as a config key.)
const KernelEnv = "GEMM_KERNEL"

// activeKernel is the micro-kernel kind every entry point uses; chosen once
// at start-up from the CPU features (see bestKernel) or KernelEnv, and
// switched only by tests and SetKernel.
var activeKernel = pickKernel(os.Getenv(KernelEnv))

// pickKernel returns the kind named by name when this build and CPU can
// run it, else bestKernel().
func pickKernel(name string) kernelKind {
	switch name {
	case "go":
		return kernelGo
	case "avx2", "avx2-fma":
		if haveAVX2Kernel {
			return kernelAVX2
		}
	case "avx512":
		if haveAVX512Kernel {
			return kernelAVX512
		}
	}
	return bestKernel()
}

// Kernel returns the name of the micro-kernel kind in use ("go",
// "avx2-fma" or "avx512").
func Kernel() string { return activeKernel.String() }

// SetKernel switches every entry point to the kind named (see KernelEnv)
// and returns the previous kind's name, for tests and benchmarks that
// compare the paths in one process. A kind this CPU or build cannot run is
// an error. It must not be called while a product is running.
func SetKernel(name string) (prev string, err error) {
	k := pickKernel(name)
	if k.String() != name && !(name == "avx2" && k == kernelAVX2) {
		return activeKernel.String(), fmt.Errorf("gemm: kernel %q is not available on this CPU/build (have %s)", name, availableKernels())
	}
	prev = activeKernel.String()
	activeKernel = k
	return prev, nil
}

// Kernels lists the kinds this build and CPU can run, slowest first.
func Kernels() []string {
	ks := []string{kernelGo.String()}
	if haveAVX2Kernel {
		ks = append(ks, kernelAVX2.String())
	}
	if haveAVX512Kernel {
		ks = append(ks, kernelAVX512.String())
	}
	return ks
}

func availableKernels() string { return strings.Join(Kernels(), ", ") }

// kernelFor returns the mr×nr micro-kernel of kind k.
func kernelFor(k kernelKind) microKernel { return kernelsFor(k).tile[0][0] }

// kernelGoPortable is the pure-Go micro-kernel. It walks the tile in strips of
// eight columns per row so the running sums stay in registers.
func kernelGoPortable(kc int, a, b, c []float32, ldc int, alpha, beta float32) {
	a = a[:kc*mr]
	b = b[:kc*nr]
	_ = c[(mr-1)*ldc+nr-1]
	for i := 0; i < mr; i++ {
		for j := 0; j < nr; j += 8 {
			var s0, s1, s2, s3, s4, s5, s6, s7 float32
			for p := 0; p < kc; p++ {
				av := a[p*mr+i]
				bp := b[p*nr+j : p*nr+j+8 : p*nr+j+8]
				s0 += av * bp[0]
				s1 += av * bp[1]
				s2 += av * bp[2]
				s3 += av * bp[3]
				s4 += av * bp[4]
				s5 += av * bp[5]
				s6 += av * bp[6]
				s7 += av * bp[7]
			}
			row := c[i*ldc+j : i*ldc+j+8 : i*ldc+j+8]
			if beta == 0 {
				row[0] = alpha * s0
				row[1] = alpha * s1
				row[2] = alpha * s2
				row[3] = alpha * s3
				row[4] = alpha * s4
				row[5] = alpha * s5
				row[6] = alpha * s6
				row[7] = alpha * s7
			} else {
				row[0] = alpha*s0 + beta*row[0]
				row[1] = alpha*s1 + beta*row[1]
				row[2] = alpha*s2 + beta*row[2]
				row[3] = alpha*s3 + beta*row[3]
				row[4] = alpha*s4 + beta*row[4]
				row[5] = alpha*s5 + beta*row[5]
				row[6] = alpha*s6 + beta*row[6]
				row[7] = alpha*s7 + beta*row[7]
			}
		}
	}
}

// rowsAKernel is a microKernel whose A panel is read in place: row i of the
// panel is a[offs[i] : offs[i]+kc].
type rowsAKernel func(kc int, a []float32, offs *[mr]int, b, c []float32, ldc int, alpha, beta float32)

// rowsA12Kernel is a rowsAKernel for 2·mr rows: row i of A is
// a[offs[i] : offs[i]+kc].
type rowsA12Kernel func(kc int, a []float32, offs *[2 * mr]int, b, c []float32, ldc int, alpha, beta float32)

// colsAKernel is a microKernel whose A panel is read in place by columns:
// element (i, p) of the panel is a[off[p]+i].
type colsAKernel func(kc int, a []float32, off []int, b, c []float32, ldc int, alpha, beta float32)
