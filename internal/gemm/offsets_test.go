package gemm

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// gatherSource is a source buffer and offsets that describe a k×n B (row
// offsets) or its transpose (column offsets); rows overlap like the shifted
// views of a convolution's input.
type gatherSource struct {
	src []float32
	off []int
}

func newGatherSource(rng *rand.Rand, count, length int) gatherSource {
	// Overlapping runs: offset i*3 + a random jitter, like shifted taps.
	g := gatherSource{off: make([]int, count)}
	maxOff := 0
	for i := range g.off {
		g.off[i] = i*3 + rng.IntN(5)
		maxOff = max(maxOff, g.off[i])
	}
	g.src = make([]float32, maxOff+length+rng.IntN(3))
	for i := range g.src {
		g.src[i] = rng.Float32()*2 - 1
	}
	return g
}

// maxEnd is the end of the furthest run of length n.
func (g gatherSource) maxEnd(n int) int {
	end := 0
	for _, o := range g.off {
		end = max(end, o+n)
	}
	return end
}

// materialise writes run i (length n) as row i of a count×n matrix.
func (g gatherSource) materialise(n int) []float32 {
	out := make([]float32, len(g.off)*n)
	for i, o := range g.off {
		copy(out[i*n:(i+1)*n], g.src[o:o+n])
	}
	return out
}

// withKernel runs f with activeKernel set to kind.
func withKernel(kind kernelKind, f func()) {
	prev := activeKernel
	activeKernel = kind
	defer func() { activeKernel = prev }()
	f()
}

// TestSgemmRowOffsetsAMatchesSgemm: A read in place through row offsets
// gives bit-identical results to Sgemm with the materialised A, both
// kernels, both transposes of B, edge tiles, several k-blocks and column
// blocks.
func TestSgemmRowOffsetsAMatchesSgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 36))
	shapes := []struct{ m, n, k int }{
		{1, 1, 1}, {6, 16, 4}, {144, 16, 838}, {288, 32, 222}, {9, 16, 784}, {13, 40, 257}, {7, 600, 30}, {20, 5, 3},
	}
	for _, kind := range kernelsUnderTest() {
		for i, sh := range shapes {
			for _, transB := range []bool{false, true} {
				for _, beta := range []float32{0, 1} {
					g := newGatherSource(rng, sh.m, sh.k)
					p := newProblem(rng, false, transB, sh.m, sh.n, sh.k, 0, i%3, (i+1)%3, 1.25, beta)
					want := append([]float32(nil), p.c...)
					got := append([]float32(nil), p.c...)
					withKernel(kind, func() {
						sgemm(kind, 1, false, transB, sh.m, sh.n, sh.k, p.alpha, g.materialise(sh.k), sh.k, p.b, p.ldb, beta, want, p.ldc)
						SgemmRowOffsetsA(sh.m, sh.n, sh.k, p.alpha, g.src, g.off, transB, p.b, p.ldb, beta, got, p.ldc)
					})
					if !bitsEqual(got, want) {
						t.Errorf("%v m=%d n=%d k=%d transB=%v beta=%v: row-offset-A result differs from Sgemm", kind, sh.m, sh.n, sh.k, transB, beta)
					}
				}
			}
		}
	}
}

// TestSgemmColOffsetsAMatchesSgemm: A read in place by column offsets with
// a prepacked B gives bit-identical results to Sgemm with the materialised
// A, for both kernels, both transposes of B, edge tiles and several
// k-blocks.
func TestSgemmColOffsetsAMatchesSgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(37, 38))
	shapes := []struct{ m, n, k int }{
		{1, 1, 1}, {6, 16, 4}, {838, 16, 144}, {222, 32, 288}, {61, 64, 576}, {13, 40, 257}, {5, 17, 3},
	}
	for _, kind := range kernelsUnderTest() {
		for i, sh := range shapes {
			for _, transB := range []bool{false, true} {
				for _, beta := range []float32{0, 1} {
					g := newGatherSource(rng, sh.k, sh.m) // column p of A = run p
					p := newProblem(rng, false, transB, sh.m, sh.n, sh.k, 0, i%3, (i+1)%3, 1.25, beta)
					runs := g.materialise(sh.m) // k×m: row p is column p of A
					aMat := make([]float32, sh.m*sh.k)
					for r := 0; r < sh.m; r++ {
						for q := 0; q < sh.k; q++ {
							aMat[r*sh.k+q] = runs[q*sh.m+r]
						}
					}
					pb, err := PackB(make([]float32, PackedBSize(sh.k, sh.n)), transB, sh.k, sh.n, p.b, p.ldb)
					if err != nil {
						t.Fatal(err)
					}
					want := append([]float32(nil), p.c...)
					withKernel(kind, func() {
						sgemm(kind, 1, false, transB, sh.m, sh.n, sh.k, p.alpha, aMat, sh.k, p.b, p.ldb, beta, want, p.ldc)
					})
					// Without and with room after the source: an edge tile
					// is packed, or read in place past the last row.
					for _, slack := range []int{0, mr} {
						src := append(append([]float32(nil), g.src[:g.maxEnd(sh.m)]...), make([]float32, slack)...)
						got := append([]float32(nil), p.c...)
						withKernel(kind, func() {
							SgemmColOffsetsA(pb, sh.m, p.alpha, src, g.off, beta, got, p.ldc)
						})
						if !bitsEqual(got, want) {
							t.Errorf("%v m=%d n=%d k=%d transB=%v beta=%v slack=%d: column-offset-A result differs from Sgemm", kind, sh.m, sh.n, sh.k, transB, beta, slack)
						}
					}
				}
			}
		}
	}
}

// TestOffsetsOutOfRangePanic: an offset that would read past the source is
// refused before any memory is touched.
func TestOffsetsOutOfRangePanic(t *testing.T) {
	cases := []struct {
		name string
		call func()
		want string
	}{
		{"A row offset past the end", func() {
			SgemmRowOffsetsA(2, 2, 3, 1, make([]float32, 5), []int{0, 3}, false, make([]float32, 6), 2, 0, make([]float32, 4), 2)
		}, "row 1 of A at offset 3"},
		{"negative A row offset", func() {
			SgemmRowOffsetsA(2, 2, 3, 1, make([]float32, 5), []int{-1, 0}, false, make([]float32, 6), 2, 0, make([]float32, 4), 2)
		}, "row 0 of A at offset -1"},
		{"wrong number of A row offsets", func() {
			SgemmRowOffsetsA(2, 2, 3, 1, make([]float32, 5), []int{0}, false, make([]float32, 6), 2, 0, make([]float32, 4), 2)
		}, "1 row offsets for m=2"},
		{"A column offset past the end", func() {
			pb, err := PackB(make([]float32, PackedBSize(2, 2)), false, 2, 2, []float32{1, 2, 3, 4}, 2)
			if err != nil {
				t.Fatal(err)
			}
			SgemmColOffsetsA(pb, 3, 1, make([]float32, 5), []int{0, 3}, 0, make([]float32, 6), 2)
		}, "column 1 of A at offset 3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("no panic")
				}
				if msg := r.(error).Error(); !strings.Contains(msg, tc.want) {
					t.Errorf("panic %q does not contain %q", msg, tc.want)
				}
			}()
			tc.call()
		})
	}
}
