package gemm

import (
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// runPacked computes the problem through PackA + sgemmWith on a copy of C.
func (p *problem) runPacked(t *testing.T, kind kernelKind, threads int) []float32 {
	t.Helper()
	buf := make([]float32, PackedASize(p.m, p.k)+3)
	pa, err := PackA(buf, p.transA, p.m, p.k, p.a, p.lda)
	if err != nil {
		t.Fatalf("%v: PackA: %v", p, err)
	}
	if pa.Rows() != p.m || pa.Cols() != p.k {
		t.Fatalf("%v: packed shape %dx%d", p, pa.Rows(), pa.Cols())
	}
	c := append([]float32(nil), p.c...)
	sgemmWith(kind, threads, pa, false, p.transB, p.m, p.n, p.k, p.alpha, nil, 0, p.b, p.ldb, p.beta, c, p.ldc)
	return c
}

// TestSgemmPackedAMatchesSgemm: a prepacked A gives bit-identical results
// to Sgemm for every transpose, edge tiles in m, several k-blocks, serial
// and parallel plans.
func TestSgemmPackedAMatchesSgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	shapes := []struct{ m, n, k int }{
		{1, 1, 1}, {5, 17, 3}, {16, 784, 144}, {13, 40, 257}, {64, 300, 600}, {200, 301, 600}, {7, 33, 1000},
	}
	for _, kind := range kernelsUnderTest() {
		for i, sh := range shapes {
			for _, tr := range transCombos {
				p := newProblem(rng, tr[0], tr[1], sh.m, sh.n, sh.k, i%3, (i+1)%3, i%2, 1.25, float32(i%2)*0.5)
				for _, threads := range []int{1, 3} {
					want := p.run(kind, threads)
					if got := p.runPacked(t, kind, threads); !bitsEqual(got, want) {
						t.Errorf("%v %v threads=%d: packed-A result differs from Sgemm", kind, p, threads)
					}
				}
			}
		}
	}
}

// TestSgemmPackedAPublic checks the exported entry point against the
// reference and its independence of GOMAXPROCS.
func TestSgemmPackedAPublic(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	p := newProblem(rng, true, false, 150, 400, 700, 0, 0, 0, 1, 0)
	pa, err := PackA(make([]float32, PackedASize(p.m, p.k)), p.transA, p.m, p.k, p.a, p.lda)
	if err != nil {
		t.Fatal(err)
	}
	prev := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(prev)
	var first []float32
	for _, procs := range []int{1, 2, 8} {
		runtime.GOMAXPROCS(procs)
		c := append([]float32(nil), p.c...)
		SgemmPackedA(0, pa, p.transB, p.n, p.alpha, p.b, p.ldb, p.beta, c, p.ldc)
		if first == nil {
			p.check(t, "packed", c)
			first = c
		} else if !bitsEqual(c, first) {
			t.Errorf("GOMAXPROCS=%d differs from GOMAXPROCS=1", procs)
		}
		for _, threads := range []int{1, 2, 5} {
			got := append([]float32(nil), p.c...)
			SgemmPackedA(threads, pa, p.transB, p.n, p.alpha, p.b, p.ldb, p.beta, got, p.ldc)
			if !bitsEqual(got, first) {
				t.Errorf("GOMAXPROCS=%d: SgemmPackedA with %d threads differs", procs, threads)
			}
			got = append(got[:0], p.c...)
			SgemmThreads(threads, p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, got, p.ldc)
			if !bitsEqual(got, first) {
				t.Errorf("GOMAXPROCS=%d: SgemmThreads with %d threads differs", procs, threads)
			}
		}
	}
}

func TestPackARejectsBadInput(t *testing.T) {
	a := make([]float32, 12)
	cases := []struct {
		name   string
		buf    []float32
		m, k   int
		lda    int
		substr string
	}{
		{"buffer too small", make([]float32, 5), 3, 4, 4, "need"},
		{"A too short", make([]float32, 100), 4, 4, 4, "does not fit"},
		{"negative size", make([]float32, 100), -1, 4, 4, "negative"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := PackA(c.buf, false, c.m, c.k, a, c.lda)
			if err == nil || !strings.Contains(err.Error(), c.substr) {
				t.Fatalf("PackA error = %v, want one containing %q", err, c.substr)
			}
		})
	}
}
