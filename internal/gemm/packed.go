package gemm

import (
	"fmt"
	"runtime"
)

// PackedA is the left operand op(A) of Sgemm packed once into the layout
// the micro-kernel reads, for reuse across many products with the same A
// (a convolution multiplies one weight matrix by the columns of every
// image). Products through SgemmPackedA are bit-identical to Sgemm with
// the unpacked A.
type PackedA struct {
	m, k int
	kc   int       // k-block depth, kBlock(k)
	mPad int       // m rounded up to a multiple of mr
	buf  []float32 // k-block q (starting at p0) holds mPad×kc values at p0*mPad
}

// PackedASize returns the number of float32s PackA needs for an m×k op(A).
func PackedASize(m, k int) int {
	return roundUp(max(m, 0), mr) * max(k, 0)
}

// PackA packs op(A) (m×k; A is k×m when transA, row stride lda) into buf,
// which must hold at least PackedASize(m, k) values, and returns the packed
// operand. buf is referenced, not copied: keep it unchanged while the
// result is in use.
func PackA(buf []float32, transA bool, m, k int, a []float32, lda int) (*PackedA, error) {
	if err := checkArgs(transA, false, m, 0, k, len(a), lda, 0, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("pack A: %w", err)
	}
	if need := PackedASize(m, k); len(buf) < need {
		return nil, fmt.Errorf("pack A: buffer holds %d values, need %d for a %dx%d operand (use PackedASize)", len(buf), need, m, k)
	}
	p := &PackedA{m: m, k: k, mPad: roundUp(m, mr), buf: buf[:PackedASize(m, k)]}
	if m == 0 || k == 0 {
		return p, nil
	}
	p.kc = kBlock(k)
	for p0 := 0; p0 < k; p0 += p.kc {
		kc := min(p.kc, k-p0)
		packA(p.buf[p0*p.mPad:], transA, a, lda, 0, m, p0, kc)
	}
	return p, nil
}

// Rows and Cols return m and k, the shape of the packed op(A).
func (p *PackedA) Rows() int { return p.m }

// Cols returns k, the number of columns of the packed op(A).
func (p *PackedA) Cols() int { return p.k }

// block returns the packed rows ic.. of the k-block starting at p0 (depth
// kc) in the layout packA writes for that block; ic is a multiple of mr.
func (p *PackedA) block(ic, p0, kc int) []float32 {
	return p.buf[p0*p.mPad+ic*kc:]
}

// SgemmPackedA computes C[m,n] = alpha * A·op(B) + beta*C[m,n] with A
// prepacked by PackA (m and k are those of pa). B is k×n (n×k when
// transB) with row stride ldb, C is m×n with row stride ldc. When
// beta == 0, C is overwritten without being read. It uses up to threads
// goroutines (GOMAXPROCS when threads <= 0); the result does not depend on
// the number.
func SgemmPackedA(threads int, pa *PackedA, transB bool, n int, alpha float32, b []float32, ldb int, beta float32, c []float32, ldc int) {
	m, k := pa.m, pa.k
	// A's own extent was checked by PackA; check B and C with a dummy A.
	if err := checkArgs(false, transB, m, n, k, m*k, k, len(b), ldb, len(c), ldc); err != nil {
		panic(err) // programming error: callers check shapes first
	}
	sgemmWith(activeKernel, threadBudget(threads), pa, false, transB, m, n, k, alpha, nil, 0, b, ldb, beta, c, ldc)
}

// SgemmThreads is Sgemm with at most threads goroutines (GOMAXPROCS when
// threads <= 0), for callers that already run several products in
// parallel: one goroutine per product avoids splitting (and repacking)
// small products. The result does not depend on threads.
func SgemmThreads(threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if err := checkArgs(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc); err != nil {
		panic(err) // programming error: callers check shapes first
	}
	sgemmWith(activeKernel, threadBudget(threads), nil, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// threadBudget maps a requested goroutine count to the one used.
func threadBudget(threads int) int {
	if threads <= 0 {
		return runtime.GOMAXPROCS(0)
	}
	return threads
}

// PackedB is the right operand op(B) of a product packed once into the
// micro-kernel's panel layout, for reuse across many products with the
// same B (SgemmColOffsetsA).
type PackedB struct {
	k, n int
	kc   int       // k-block depth, kBlock(k)
	nPad int       // n rounded up to a multiple of nr
	buf  []float32 // k-block starting at p0 holds kc×nPad values at p0*nPad
}

// PackedBSize returns the number of float32s PackB needs for a k×n op(B).
func PackedBSize(k, n int) int {
	return roundUp(max(n, 0), nr) * max(k, 0)
}

// PackB packs op(B) (k×n; B is n×k when transB, row stride ldb) into buf,
// which must hold at least PackedBSize(k, n) values, and returns the packed
// operand. buf is referenced, not copied.
func PackB(buf []float32, transB bool, k, n int, b []float32, ldb int) (*PackedB, error) {
	if err := checkArgs(false, transB, 0, n, k, 0, 0, len(b), ldb, 0, 0); err != nil {
		return nil, fmt.Errorf("pack B: %w", err)
	}
	if need := PackedBSize(k, n); len(buf) < need {
		return nil, fmt.Errorf("pack B: buffer holds %d values, need %d for a %dx%d operand (use PackedBSize)", len(buf), need, k, n)
	}
	p := &PackedB{k: k, n: n, nPad: roundUp(n, nr), buf: buf[:PackedBSize(k, n)]}
	if k == 0 || n == 0 {
		return p, nil
	}
	p.kc = kBlock(k)
	for p0 := 0; p0 < k; p0 += p.kc {
		kc := min(p.kc, k-p0)
		packB(p.buf[p0*p.nPad:], transB, b, ldb, p0, kc, 0, n)
	}
	return p, nil
}
