// Package gemm is the float32 matrix-multiply core behind convolutions and
// linear layers on the CPU.
//
// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices, where
// op(X) is X or its transpose. Results are bit-for-bit reproducible whatever
// the number of goroutines: each element of C is summed over k in a fixed
// order that does not depend on how the work is split.
package gemm

import (
	"fmt"
	"runtime"
)

// Sgemm computes C[m,n] = alpha * sum_k op(A)[m,k]*op(B)[k,n] + beta*C[m,n].
//
// A is m×k (or k×m when transA), B is k×n (or n×k when transB), C is m×n;
// lda, ldb, ldc are the row strides (elements) of A, B and C as stored.
// When beta == 0, C is overwritten without being read.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if err := checkArgs(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc); err != nil {
		panic(err) // programming error: callers check shapes first
	}
	sgemm(activeKernel, runtime.GOMAXPROCS(0), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func checkArgs(transA, transB bool, m, n, k, na, lda, nb, ldb, nc, ldc int) error {
	if m < 0 || n < 0 || k < 0 {
		return fmt.Errorf("gemm: negative size m=%d n=%d k=%d", m, n, k)
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if ar > 0 && ac > 0 && (lda < ac || na < (ar-1)*lda+ac) {
		return fmt.Errorf("gemm: A %dx%d does not fit len %d lda %d", ar, ac, na, lda)
	}
	if br > 0 && bc > 0 && (ldb < bc || nb < (br-1)*ldb+bc) {
		return fmt.Errorf("gemm: B %dx%d does not fit len %d ldb %d", br, bc, nb, ldb)
	}
	if m > 0 && n > 0 && (ldc < n || nc < (m-1)*ldc+n) {
		return fmt.Errorf("gemm: C %dx%d does not fit len %d ldc %d", m, n, nc, ldc)
	}
	return nil
}

// sgemmRef is the simple triple loop every faster path is checked against.
func sgemmRef(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var sum float32
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				sum += av * bv
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * sum
			} else {
				c[i*ldc+j] = alpha*sum + beta*c[i*ldc+j]
			}
		}
	}
}
