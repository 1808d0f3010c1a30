package gemm

import (
	"math/rand/v2"
	"testing"
)

// wideShapes exercise every AVX-512 tile (12x32, 12x16, 6x32, 6x16), the
// row and column edges next to each, several k-blocks and the parallel
// plans.
var wideShapes = []struct{ m, n, k int }{
	{1, 1, 1}, {12, 32, 4}, {24, 64, 256}, {13, 33, 257}, {30, 100, 513},
	{144, 512, 600}, {150, 530, 70}, {11, 31, 5}, {17, 16, 1000}, {12, 48, 9},
	{64, 16, 576}, {18, 47, 3}, {200, 96, 300},
}

// requireBothSIMD skips unless this machine runs both assembly kinds.
func requireBothSIMD(t *testing.T) {
	t.Helper()
	if !haveAVX512Kernel || !haveAVX2Kernel {
		t.Skip("needs AVX2 and AVX-512 kernels (CPU without AVX-512, or a noasm/non-amd64 build)")
	}
}

// TestAVX512BitIdenticalToAVX2: the AVX-512 tiles sum every element in the
// AVX2 kernel's order, so Sgemm and the prepacked-A path give the same bits
// on both kinds, for every transpose, beta, edge and thread count.
func TestAVX512BitIdenticalToAVX2(t *testing.T) {
	requireBothSIMD(t)
	rng := rand.New(rand.NewPCG(41, 42))
	for i, sh := range wideShapes {
		for _, tr := range transCombos {
			for _, beta := range []float32{0, 1, -0.5} {
				p := newProblem(rng, tr[0], tr[1], sh.m, sh.n, sh.k, i%3, (i+1)%3, i%2*3, 1.25, beta)
				for _, threads := range []int{1, 3} {
					want := p.run(kernelAVX2, threads)
					got := p.run(kernelAVX512, threads)
					if !bitsEqual(got, want) {
						t.Errorf("%v threads=%d: AVX-512 Sgemm differs from AVX2", p, threads)
					}
					if !tr[0] {
						if got := p.runPacked(t, kernelAVX512, threads); !bitsEqual(got, want) {
							t.Errorf("%v threads=%d: AVX-512 SgemmPackedA differs from AVX2", p, threads)
						}
					}
				}
				if i%4 == 0 {
					p.check(t, "avx512", p.run(kernelAVX512, 2))
				}
			}
		}
	}
}

// TestAVX512OffsetsBitIdenticalToAVX2: the in-place (row and column offset)
// entry points on the AVX-512 kind give the bits of AVX2 Sgemm on the
// materialised operand.
func TestAVX512OffsetsBitIdenticalToAVX2(t *testing.T) {
	requireBothSIMD(t)
	rng := rand.New(rand.NewPCG(43, 44))
	for i, sh := range wideShapes {
		for _, transB := range []bool{false, true} {
			for _, beta := range []float32{0, 1} {
				p := newProblem(rng, false, transB, sh.m, sh.n, sh.k, 0, i%3, (i+1)%3, 1.25, beta)

				// Row offsets: row r of A is a run of the source.
				g := newGatherSource(rng, sh.m, sh.k)
				want := append([]float32(nil), p.c...)
				sgemm(kernelAVX2, 1, false, transB, sh.m, sh.n, sh.k, p.alpha, g.materialise(sh.k), sh.k, p.b, p.ldb, beta, want, p.ldc)
				got := append([]float32(nil), p.c...)
				withKernel(kernelAVX512, func() {
					SgemmRowOffsetsA(sh.m, sh.n, sh.k, p.alpha, g.src, g.off, transB, p.b, p.ldb, beta, got, p.ldc)
				})
				if !bitsEqual(got, want) {
					t.Errorf("%v: AVX-512 SgemmRowOffsetsA differs from AVX2 Sgemm", p)
				}

				// Column offsets: column q of A is a run of the source.
				gc := newGatherSource(rng, sh.k, sh.m)
				runs := gc.materialise(sh.m)
				aMat := make([]float32, sh.m*sh.k)
				for r := 0; r < sh.m; r++ {
					for q := 0; q < sh.k; q++ {
						aMat[r*sh.k+q] = runs[q*sh.m+r]
					}
				}
				want = append([]float32(nil), p.c...)
				sgemm(kernelAVX2, 1, false, transB, sh.m, sh.n, sh.k, p.alpha, aMat, sh.k, p.b, p.ldb, beta, want, p.ldc)
				pb, err := PackB(make([]float32, PackedBSize(sh.k, sh.n)), transB, sh.k, sh.n, p.b, p.ldb)
				if err != nil {
					t.Fatal(err)
				}
				for _, slack := range []int{0, mr} {
					src := append(append([]float32(nil), gc.src[:gc.maxEnd(sh.m)]...), make([]float32, slack)...)
					got := append([]float32(nil), p.c...)
					withKernel(kernelAVX512, func() {
						SgemmColOffsetsA(pb, sh.m, p.alpha, src, gc.off, beta, got, p.ldc)
					})
					if !bitsEqual(got, want) {
						t.Errorf("%v slack=%d: AVX-512 SgemmColOffsetsA differs from AVX2 Sgemm", p, slack)
					}
				}
			}
		}
	}
}

// TestAVX512TilesAgainstReference checks each AVX-512 tile kernel alone
// against a float64 sum (tolerance), and that it writes nothing outside its
// tile: a wrong register or offset in the generated assembly shows here
// even where the driver would not use the tile.
func TestAVX512TilesAgainstReference(t *testing.T) {
	if !haveAVX512Kernel {
		t.Skip("no AVX-512 kernels on this CPU/build")
	}
	rng := rand.New(rand.NewPCG(45, 46))
	for ra := 1; ra <= 2; ra++ {
		for cb := 1; cb <= 2; cb++ {
			kern := kernelsFor(kernelAVX512).tile[ra-1][cb-1]
			rows, cols := ra*mr, cb*nr
			for _, kc := range []int{1, 3, 4, 7, 256} {
				a := filled(rng, kc*ra, mr, mr, 0, false) // ra panels of kc×mr
				b := filled(rng, kc*cb, nr, nr, 0, false) // cb panels of kc×nr
				for _, beta := range []float32{0, 0.75} {
					ldc := cols + 5
					c0 := filled(rng, rows, cols, ldc, sentinel, beta == 0)
					c0 = append(c0, sentinel, sentinel, sentinel)
					c := append([]float32(nil), c0...)
					kern(kc, a, b, c, ldc, 0.5, beta)
					for i := 0; i < rows; i++ {
						for j := 0; j < ldc && i*ldc+j < len(c); j++ {
							if j >= cols {
								if c[i*ldc+j] != sentinel {
									t.Fatalf("%dx%d kc=%d: wrote past the tile at [%d][%d]", rows, cols, kc, i, j)
								}
								continue
							}
							var s float64
							ap, ai := i/mr, i%mr
							bq, bj := j/nr, j%nr
							for q := 0; q < kc; q++ {
								s += float64(a[ap*kc*mr+q*mr+ai]) * float64(b[bq*kc*nr+q*nr+bj])
							}
							w := 0.5 * s
							if beta != 0 {
								w += float64(beta) * float64(c0[i*ldc+j])
							}
							if d := float64(c[i*ldc+j]) - w; d > 1e-5*float64(kc+1) || d < -1e-5*float64(kc+1) {
								t.Fatalf("%dx%d kc=%d beta=%g: C[%d][%d] = %g, want %g", rows, cols, kc, beta, i, j, c[i*ldc+j], w)
							}
						}
					}
				}
			}
		}
	}
}

// TestPickKernel: the override names select the kinds this machine has and
// fall back to the best one otherwise; SetKernel refuses a missing kind.
func TestPickKernel(t *testing.T) {
	if got := pickKernel("go"); got != kernelGo {
		t.Errorf(`pickKernel("go") = %v`, got)
	}
	if got := pickKernel("no-such-kernel"); got != bestKernel() {
		t.Errorf(`pickKernel("no-such-kernel") = %v, want %v`, got, bestKernel())
	}
	if got, want := pickKernel("avx2"), kernelAVX2; haveAVX2Kernel && got != want {
		t.Errorf(`pickKernel("avx2") = %v, want %v`, got, want)
	}
	if got, want := pickKernel("avx512"), kernelAVX512; haveAVX512Kernel && got != want {
		t.Errorf(`pickKernel("avx512") = %v, want %v`, got, want)
	}
	prev := Kernel()
	defer func() { activeKernel = pickKernel(prev) }()
	for _, name := range Kernels() {
		if _, err := SetKernel(name); err != nil || Kernel() != name {
			t.Errorf("SetKernel(%q): err %v, active %q", name, err, Kernel())
		}
	}
	if !haveAVX512Kernel {
		if _, err := SetKernel("avx512"); err == nil {
			t.Error(`SetKernel("avx512") without AVX-512: no error`)
		}
	}
	if _, err := SetKernel("bogus"); err == nil {
		t.Error(`SetKernel("bogus"): no error`)
	}
}
