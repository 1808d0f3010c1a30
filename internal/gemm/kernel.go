package gemm

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
	kernelGo   kernelKind = iota // portable Go loops
	kernelAVX2                   // AVX2 + FMA3 assembly (amd64)
)

func (k kernelKind) String() string {
	switch k {
	case kernelGo:
		return "go"
	case kernelAVX2:
		return "avx2-fma"
	}
	return "unknown"
}

// activeKernel is the micro-kernel Sgemm uses; chosen once at start-up from
// the CPU features (see bestKernel) and switched only by tests.
var activeKernel = bestKernel()

// kernelFor returns the implementation of kind k.
func kernelFor(k kernelKind) microKernel {
	if k == kernelAVX2 && haveAVX2Kernel {
		return kernelAVX2Wrapper
	}
	return kernelGoPortable
}

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

// colsAKernel is a microKernel whose A panel is read in place by columns:
// element (i, p) of the panel is a[off[p]+i].
type colsAKernel func(kc int, a []float32, off []int, b, c []float32, ldc int, alpha, beta float32)
