package gemm

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"
)

// benchShapes are the GEMMs of a CIFAR ResNet-18 step at batch 64 (im2col
// convolutions: M = Cout, N = batch·H·W, K = Cin·3·3) plus square sizes.
var benchShapes = []struct {
	name    string
	m, n, k int
}{
	{"conv64_M64_N65536_K576", 64, 65536, 576},
	{"conv128_M128_N16384_K1152", 128, 16384, 1152},
	{"conv512_M512_N1024_K4608", 512, 1024, 4608},
	{"square512", 512, 512, 512},
	{"square1024", 1024, 1024, 1024},
}

// refGFLOPS measures sgemmRef on the first few columns of a shape (its speed
// per flop does not depend on n, and the full problem would take minutes),
// once per shape.
var refGFLOPS sync.Map

func measureRef(m, n, k int, a, b, c []float32) float64 {
	key := fmt.Sprint(m, n, k)
	if v, ok := refGFLOPS.Load(key); ok {
		return v.(float64)
	}
	cols := max(16, min(n, int(2e8/(2*float64(m)*float64(k)))))
	start := time.Now()
	// Same strides as the full problem so the access pattern is the same.
	sgemmRef(false, false, m, cols, k, 1, a, k, b, n, 0, c, n)
	g := 2 * float64(m) * float64(cols) * float64(k) / time.Since(start).Seconds() / 1e9
	refGFLOPS.Store(key, g)
	return g
}

// BenchmarkSgemm reports GFLOP/s of the blocked path with the active kernel
// at 1 goroutine and at GOMAXPROCS, beside the reference triple loop
// (ref-GFLOP/s) and the speed-up over it (x-ref).
func BenchmarkSgemm(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, sh := range benchShapes {
		b.Run(sh.name, func(b *testing.B) { benchShape(b, rng, sh.m, sh.n, sh.k) })
	}
}

// benchShape times one m×n×k shape (A m×k, B k×n, both untransposed) at one
// goroutine and at GOMAXPROCS.
func benchShape(b *testing.B, rng *rand.Rand, m, n, k int) {
	a := filled(rng, m, k, k, 0, false)
	bm := filled(rng, k, n, n, 0, false)
	c := make([]float32, m*n)
	flops := 2 * float64(m) * float64(n) * float64(k)
	for _, threads := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("%s/threads=%d", activeKernel, threads), func(b *testing.B) {
			kern := activeKernel
			for b.Loop() {
				sgemm(kern, threads, false, false, m, n, k, 1, a, k, bm, n, 0, c, n)
			}
			g := flops * float64(b.N) / b.Elapsed().Seconds() / 1e9
			ref := measureRef(m, n, k, a, bm, c)
			b.ReportMetric(g, "GFLOP/s")
			b.ReportMetric(ref, "ref-GFLOP/s")
			b.ReportMetric(g/ref, "x-ref")
		})
	}
}

// BenchmarkSgemmTransposed covers the layouts of the backward pass
// (weight gradient A·Bᵀ, input gradient Aᵀ·B) at a mid-size conv shape.
func BenchmarkSgemmTransposed(b *testing.B) {
	rng := rand.New(rand.NewPCG(2, 2))
	shapes := []struct {
		name           string
		transA, transB bool
		m, n, k        int
	}{
		{"dW_M128_N1152_K16384_NT", false, true, 128, 1152, 16384},
		{"dX_M1152_N16384_K128_TN", true, false, 1152, 16384, 128},
	}
	for _, sh := range shapes {
		p := newProblem(rng, sh.transA, sh.transB, sh.m, sh.n, sh.k, 0, 0, 0, 1, 0)
		flops := 2 * float64(sh.m) * float64(sh.n) * float64(sh.k)
		b.Run(fmt.Sprintf("%s/%s", sh.name, activeKernel), func(b *testing.B) {
			for b.Loop() {
				Sgemm(sh.transA, sh.transB, sh.m, sh.n, sh.k, 1, p.a, p.lda, p.b, p.ldb, 0, p.c, p.ldc)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkSgemmGoKernel measures the portable fallback micro-kernel (used on
// CPUs without AVX2/FMA and in noasm builds) on one goroutine.
func BenchmarkSgemmGoKernel(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	const m, n, k = 512, 512, 512
	a := filled(rng, m, k, k, 0, false)
	bm := filled(rng, k, n, n, 0, false)
	c := make([]float32, m*n)
	kern := kernelGo
	for b.Loop() {
		sgemm(kern, 1, false, false, m, n, k, 1, a, k, bm, n, 0, c, n)
	}
	b.ReportMetric(2*m*n*k*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkOffsets times the in-place entry points the shifted
// convolutions call, per image on one goroutine, at the shapes of the two
// bench-cpu models: the forward (and backward-data) product position-major
// through SgemmColOffsetsA (M = output positions on the padded grid,
// N = Cout, K = Cin·9) and the weight gradient through SgemmRowOffsetsA
// (M = Cin·9, N = Cout, K = positions). Run with GEMM_KERNEL=avx2 and
// =avx512 to compare the kernels.
func BenchmarkOffsets(b *testing.B) {
	rng := rand.New(rand.NewPCG(4, 4))
	shapes := []struct {
		name      string
		cin, cout int
		h, w      int // output map (stride 1, 3x3, pad 1)
	}{
		{"fm_l1_c16_28x28", 16, 16, 28, 28},
		{"fm_l2_c32_14x14", 32, 32, 14, 14},
		{"fm_l3_c64_7x7", 64, 64, 7, 7},
		{"r18w64_l1_c64_32x32", 64, 64, 32, 32},
		{"r18w64_l2_c128_16x16", 128, 128, 16, 16},
		{"r18w64_l3_c256_8x8", 256, 256, 8, 8},
	}
	for _, sh := range shapes {
		wp := sh.w + 2
		plane := (sh.h + 2) * wp
		grid := (sh.h-1)*wp + sh.w // positions computed on the padded grid
		k := sh.cin * 9
		src := filled(rng, 1, sh.cin*plane+8, sh.cin*plane+8, 0, false)
		off := make([]int, k)
		for ci := 0; ci < sh.cin; ci++ {
			for t := 0; t < 9; t++ {
				off[ci*9+t] = ci*plane + t/3*wp + t%3
			}
		}
		wt := filled(rng, sh.cout, k, k, 0, false)
		pb, err := PackB(make([]float32, PackedBSize(k, sh.cout)), true, k, sh.cout, wt, k)
		if err != nil {
			b.Fatal(err)
		}
		c := make([]float32, grid*sh.cout)
		flops := 2 * float64(grid) * float64(sh.cout) * float64(k)
		b.Run(fmt.Sprintf("fwd_%s_M%d_N%d_K%d/%s", sh.name, grid, sh.cout, k, activeKernel), func(b *testing.B) {
			for b.Loop() {
				SgemmColOffsetsA(pb, grid, 1, src, off, 0, c, sh.cout)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		dy := filled(rng, sh.cout, grid, grid, 0, false)
		dw := make([]float32, k*sh.cout)
		b.Run(fmt.Sprintf("dw_%s_M%d_N%d_K%d/%s", sh.name, k, sh.cout, grid, activeKernel), func(b *testing.B) {
			for b.Loop() {
				SgemmRowOffsetsA(k, sh.cout, grid, 1, src, off, true, dy, grid, 0, dw, sh.cout)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
