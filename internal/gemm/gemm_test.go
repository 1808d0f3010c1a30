package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"simclr/internal/benchcmp"
	"testing"
	"time"
)

// kernelsUnderTest lists every micro-kernel this build and CPU can run, so
// each code path is checked against the reference.
func kernelsUnderTest() []kernelKind {
	ks := []kernelKind{kernelGo}
	if haveAVX2Kernel {
		ks = append(ks, kernelAVX2)
	}
	if haveAVX512Kernel {
		ks = append(ks, kernelAVX512)
	}
	return ks
}

// problem is one Sgemm call with its operands laid out in strided storage.
type problem struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
}

// sentinel marks the padding of C past each row; it must survive every call.
const sentinel = float32(-12345.5)

// newProblem builds random operands. Padding of A and B (the part of each
// stored row beyond the matrix) is NaN so any read of it poisons the
// result; padding of C is sentinel so any write to it is detected. With
// beta == 0, C starts out all NaN to prove it is not read.
func newProblem(rng *rand.Rand, transA, transB bool, m, n, k, padA, padB, padC int, alpha, beta float32) *problem {
	p := &problem{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	p.lda, p.ldb, p.ldc = max(ac+padA, 1), max(bc+padB, 1), max(n+padC, 1)
	p.a = filled(rng, ar, ac, p.lda, float32(math.NaN()), false)
	p.b = filled(rng, br, bc, p.ldb, float32(math.NaN()), false)
	p.c = filled(rng, m, n, p.ldc, sentinel, beta == 0)
	return p
}

// filled returns rows×cols values in [-1, 1) at row stride ld, padding set
// to pad; with nanBody the matrix itself is NaN instead.
func filled(rng *rand.Rand, rows, cols, ld int, pad float32, nanBody bool) []float32 {
	if rows == 0 || cols == 0 {
		return nil
	}
	s := make([]float32, (rows-1)*ld+cols)
	for i := range s {
		s[i] = pad
	}
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			if nanBody {
				s[i*ld+j] = float32(math.NaN())
			} else {
				s[i*ld+j] = float32(rng.Float64()*2 - 1)
			}
		}
	}
	return s
}

func (p *problem) String() string {
	return fmt.Sprintf("tA=%v tB=%v m=%d n=%d k=%d lda=%d ldb=%d ldc=%d alpha=%g beta=%g",
		p.transA, p.transB, p.m, p.n, p.k, p.lda, p.ldb, p.ldc, p.alpha, p.beta)
}

// run computes the problem on a copy of C with the given kernel and thread
// budget and returns the result.
func (p *problem) run(kind kernelKind, threads int) []float32 {
	c := append([]float32(nil), p.c...)
	sgemm(kind, threads, p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, c, p.ldc)
	return c
}

// want computes the problem with sgemmRef.
func (p *problem) want() []float32 {
	c := append([]float32(nil), p.c...)
	sgemmRef(p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, c, p.ldc)
	return c
}

// check compares got with the reference: |diff| <= 1e-5·(|alpha|·k + |beta|
// + 1) per element (operands lie in [-1, 1)), and the padding of C intact.
func (p *problem) check(t *testing.T, label string, got []float32) {
	t.Helper()
	want := p.want()
	tol := 1e-5 * (math.Abs(float64(p.alpha))*float64(p.k) + math.Abs(float64(p.beta)) + 1)
	bad := 0
	for i := 0; i < p.m; i++ {
		for j := 0; j < p.ldc && i*p.ldc+j < len(got); j++ {
			idx := i*p.ldc + j
			g, w := got[idx], want[idx]
			if j >= p.n {
				if g != sentinel {
					t.Errorf("%s %v: wrote padding C[%d][%d] = %g", label, p, i, j, g)
					return
				}
				continue
			}
			if d := math.Abs(float64(g) - float64(w)); !(d <= tol) {
				if bad < 3 {
					t.Errorf("%s %v: C[%d][%d] = %g, want %g (|diff| %g > tol %g)", label, p, i, j, g, w, d, tol)
				}
				bad++
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s %v: %d elements out of tolerance", label, p, bad)
	}
}

var transCombos = [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}}

func TestSgemmMatchesReferenceSmallGrid(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{1, 7, 17, 33}
	scales := []struct{ alpha, beta float32 }{{1, 0}, {0.5, 1}, {1, -0.5}}
	for _, kind := range kernelsUnderTest() {
		for _, tr := range transCombos {
			for _, m := range sizes {
				for _, n := range sizes {
					for _, k := range sizes {
						for si, s := range scales {
							pad := si // 0, 1, 2: strides equal to and larger than the row length
							p := newProblem(rng, tr[0], tr[1], m, n, k, pad, 2*pad, 3*pad, s.alpha, s.beta)
							p.check(t, kind.String(), p.run(kind, 1))
						}
					}
				}
			}
		}
	}
}

func TestSgemmMatchesReferenceLargerShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	shapes := []struct{ m, n, k int }{
		{100, 257, 33},
		{257, 100, 257},
		{100, 100, 100},
		{6, 16, 256},   // exactly one micro-tile, one k-block
		{6, 16, 257},   // k just past one block
		{145, 513, 40}, // one past mcMax and nbMax
		{1, 300, 600},  // GEMV-like row
		{300, 1, 600},  // GEMV-like column
		{64, 576, 27},  // first conv layer im2col
	}
	scales := []struct{ alpha, beta float32 }{{1, 0}, {0.5, -0.5}}
	for _, kind := range kernelsUnderTest() {
		for _, tr := range transCombos {
			for si, sh := range shapes {
				s := scales[si%len(scales)]
				p := newProblem(rng, tr[0], tr[1], sh.m, sh.n, sh.k, si%3, (si+1)%4, si%2*5, s.alpha, s.beta)
				p.check(t, kind.String(), p.run(kind, 2))
			}
		}
	}
}

func TestSgemmPublicEntryPoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tr := range transCombos {
		p := newProblem(rng, tr[0], tr[1], 70, 90, 300, 1, 2, 3, 1, 0.5)
		c := append([]float32(nil), p.c...)
		Sgemm(p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, c, p.ldc)
		p.check(t, "Sgemm", c)
	}
}

func TestSgemmRandomShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	alphas := []float32{1, 0.5, -2}
	betas := []float32{0, 1, -0.5, 2}
	for i := 0; i < 300; i++ {
		tr := transCombos[rng.IntN(4)]
		p := newProblem(rng, tr[0], tr[1], 1+rng.IntN(70), 1+rng.IntN(70), 1+rng.IntN(300),
			rng.IntN(4), rng.IntN(4), rng.IntN(4), alphas[rng.IntN(3)], betas[rng.IntN(4)])
		for _, kind := range kernelsUnderTest() {
			p.check(t, kind.String(), p.run(kind, 1+rng.IntN(3)))
		}
	}
}

func TestSgemmDegenerate(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		name        string
		m, n, k     int
		alpha, beta float32
		c           []float32
		want        []float32
	}{
		{"k=0 beta=0 clears NaN", 2, 2, 0, 1, 0, []float32{nan, nan, nan, nan}, []float32{0, 0, 0, 0}},
		{"k=0 beta=1 keeps C", 2, 2, 0, 1, 1, []float32{1, 2, 3, 4}, []float32{1, 2, 3, 4}},
		{"k=0 beta=-0.5 scales C", 2, 2, 0, 1, -0.5, []float32{1, 2, 3, 4}, []float32{-0.5, -1, -1.5, -2}},
		{"alpha=0 beta=2 scales C", 2, 2, 3, 0, 2, []float32{1, 2, 3, 4}, []float32{2, 4, 6, 8}},
		{"alpha=0 beta=0 clears NaN", 2, 2, 3, 0, 0, []float32{nan, 1, 2, nan}, []float32{0, 0, 0, 0}},
		{"m=0 leaves C", 0, 2, 3, 1, 0, []float32{7, 7}, []float32{7, 7}},
		{"n=0 leaves C", 2, 0, 3, 1, 0, []float32{7, 7}, []float32{7, 7}},
	}
	a := []float32{1, 2, 3, 4, 5, 6}
	b := []float32{1, 2, 3, 4, 5, 6}
	for _, tt := range tests {
		for _, kind := range kernelsUnderTest() {
			t.Run(tt.name+"/"+kind.String(), func(t *testing.T) {
				c := append([]float32(nil), tt.c...)
				ldc := max(tt.n, 1)
				sgemm(kind, 2, false, false, tt.m, tt.n, tt.k, tt.alpha, a, max(tt.k, 1), b, ldc, tt.beta, c, ldc)
				for i := range c {
					if c[i] != tt.want[i] {
						t.Fatalf("C = %v, want %v", c, tt.want)
					}
				}
			})
		}
	}
}

func TestSgemmOneByOne(t *testing.T) {
	for _, kind := range kernelsUnderTest() {
		c := []float32{float32(math.NaN())}
		sgemm(kind, 1, false, false, 1, 1, 1, 2, []float32{3}, 1, []float32{-4}, 1, 0, c, 1)
		if c[0] != -24 {
			t.Errorf("%v: 2*3*(-4) = %g, want -24", kind, c[0])
		}
		c[0] = 10
		sgemm(kind, 1, true, true, 1, 1, 1, 1, []float32{3}, 1, []float32{-4}, 1, 0.5, c, 1)
		if c[0] != -7 {
			t.Errorf("%v: 3*(-4) + 0.5*10 = %g, want -7", kind, c[0])
		}
	}
}

// TestSgemmDeterministicAcrossThreads checks results are bit-identical for
// every goroutine budget, both through the explicit budget and through
// GOMAXPROCS on the public entry point.
func TestSgemmDeterministicAcrossThreads(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	shapes := []struct{ m, n, k int }{{200, 301, 600}, {64, 2000, 577}, {515, 77, 300}, {130, 130, 1200}}
	for _, kind := range kernelsUnderTest() {
		for i, sh := range shapes {
			tr := transCombos[i%4]
			p := newProblem(rng, tr[0], tr[1], sh.m, sh.n, sh.k, 1, 0, 2, 0.5, -0.5)
			if mp := makePlan(sh.m, sh.n, sh.k, 8); mp.workers < 2 {
				t.Fatalf("%v: plan %+v is single-threaded; the test needs a parallel split", p, mp)
			}
			base := p.run(kind, 1)
			p.check(t, kind.String(), base)
			for _, threads := range []int{2, 3, 8} {
				if got := p.run(kind, threads); !bitsEqual(got, base) {
					t.Errorf("%v %v: threads=%d differs from threads=1", kind, p, threads)
				}
			}
		}
	}

	p := newProblem(rng, false, true, 150, 400, 700, 0, 0, 0, 1, 0)
	prev := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(prev)
	var results [][]float32
	for _, procs := range []int{1, 2, 8} {
		runtime.GOMAXPROCS(procs)
		c := append([]float32(nil), p.c...)
		Sgemm(p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, c, p.ldc)
		results = append(results, c)
	}
	for i := 1; i < len(results); i++ {
		if !bitsEqual(results[0], results[i]) {
			t.Errorf("Sgemm result with GOMAXPROCS #%d differs from GOMAXPROCS=1", i)
		}
	}
}

func bitsEqual(x, y []float32) bool {
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
			return false
		}
	}
	return true
}

func TestMakePlanCoversOutput(t *testing.T) {
	shapes := []struct{ m, n, k int }{{1, 1, 1}, {64, 65536, 576}, {512, 1024, 4608}, {512, 512, 512}, {7, 5000, 9}, {5000, 7, 900}, {64, 576, 65536}}
	for _, sh := range shapes {
		for _, threads := range []int{1, 2, 8} {
			p := makePlan(sh.m, sh.n, sh.k, threads)
			if p.kc != kBlock(sh.k) || p.kc > kcMax || p.kc < 1 {
				t.Errorf("%v threads=%d: kc=%d, want kBlock(k)=%d within [1,%d]", sh, threads, p.kc, kBlock(sh.k), kcMax)
			}
			if p.nrb*p.mb < sh.m || (p.nrb-1)*p.mb >= sh.m || p.ncb*p.nb < sh.n || (p.ncb-1)*p.nb >= sh.n {
				t.Errorf("%v threads=%d: plan %+v does not tile the output exactly", sh, threads, p)
			}
			if p.nb > nbMax || p.nb%nr != 0 && p.ncb > 1 || p.mb%mr != 0 && p.nrb > 1 {
				t.Errorf("%v threads=%d: plan %+v breaks tile alignment or buffer size", sh, threads, p)
			}
			if p.workers < 1 || p.workers > threads {
				t.Errorf("%v threads=%d: %d workers", sh, threads, p.workers)
			}
		}
	}
}

func TestKBlock(t *testing.T) {
	tests := []struct{ k, want int }{{1, 4}, {27, 28}, {256, 256}, {257, 132}, {576, 192}, {1152, 232}, {4608, 256}}
	for _, tt := range tests {
		if got := kBlock(tt.k); got != tt.want {
			t.Errorf("kBlock(%d) = %d, want %d", tt.k, got, tt.want)
		}
	}
}

func TestCheckArgsRejectsBadShapes(t *testing.T) {
	tests := []struct {
		name    string
		tA, tB  bool
		m, n, k int
		na, lda int
		nb, ldb int
		nc, ldc int
		wantErr bool
	}{
		{"ok", false, false, 2, 3, 4, 8, 4, 12, 3, 6, 3, false},
		{"ok transposed strided", true, true, 2, 3, 4, 4*5 - 3, 5, 3*6 - 2, 6, 2*4 - 1, 4, false},
		{"negative m", false, false, -1, 3, 4, 8, 4, 12, 3, 6, 3, true},
		{"lda too small", false, false, 2, 3, 4, 8, 3, 12, 3, 6, 3, true},
		{"A too short", false, false, 2, 3, 4, 7, 4, 12, 3, 6, 3, true},
		{"B too short", false, false, 2, 3, 4, 8, 4, 11, 3, 6, 3, true},
		{"ldb too small for transB", false, true, 2, 3, 4, 8, 4, 12, 3, 6, 3, true},
		{"C too short", false, false, 2, 3, 4, 8, 4, 12, 3, 5, 3, true},
		{"ldc too small", false, false, 2, 3, 4, 8, 4, 12, 3, 6, 2, true},
	}
	for _, tt := range tests {
		err := checkArgs(tt.tA, tt.tB, tt.m, tt.n, tt.k, tt.na, tt.lda, tt.nb, tt.ldb, tt.nc, tt.ldc)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err = %v, wantErr %v", tt.name, err, tt.wantErr)
		}
	}
}

func TestSgemmPanicsOnBadShape(t *testing.T) {
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("Sgemm with a too-short C did not panic")
		}
	}()
	Sgemm(false, false, 2, 2, 2, 1, make([]float32, 4), 2, make([]float32, 4), 2, 0, make([]float32, 3), 2)
}

// TestSgemmSteadyStateAllocations checks the packing buffers are recycled:
// repeated calls must not allocate buffers proportional to the problem.
func TestSgemmSteadyStateAllocations(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	p := newProblem(rng, false, false, 200, 600, 500, 0, 0, 0, 1, 0)
	c := append([]float32(nil), p.c...)
	call := func() { Sgemm(false, false, p.m, p.n, p.k, 1, p.a, p.lda, p.b, p.ldb, 0, c, p.ldc) }
	call()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const calls = 10
	for i := 0; i < calls; i++ {
		call()
	}
	runtime.ReadMemStats(&after)
	perCall := (after.TotalAlloc - before.TotalAlloc) / calls
	if perCall > 4096 {
		t.Errorf("Sgemm allocates %d B per call in steady state, want <= 4096 (packing buffers not reused?)", perCall)
	}
}

func TestKernelsAgreeOnOneTile(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, kc := range []int{1, 2, 3, 4, 5, 8, 255, 256} {
		a := filled(rng, kc, mr, mr, 0, false)
		b := filled(rng, kc, nr, nr, 0, false)
		for _, beta := range []float32{0, 1, -0.5} {
			ldc := nr + 3
			c0 := filled(rng, mr, nr, ldc, sentinel, beta == 0)
			want := make([]float32, mr*nr)
			for i := 0; i < mr; i++ {
				for j := 0; j < nr; j++ {
					var s float64
					for p := 0; p < kc; p++ {
						s += float64(a[p*mr+i]) * float64(b[p*nr+j])
					}
					w := 0.5 * s
					if beta != 0 {
						w += float64(beta) * float64(c0[i*ldc+j])
					}
					want[i*nr+j] = float32(w)
				}
			}
			for _, kind := range kernelsUnderTest() {
				c := append([]float32(nil), c0...)
				kernelFor(kind)(kc, a, b, c, ldc, 0.5, beta)
				for i := 0; i < mr; i++ {
					for j := 0; j < ldc && i*ldc+j < len(c); j++ {
						got := c[i*ldc+j]
						if j >= nr {
							if got != sentinel {
								t.Fatalf("%v kc=%d: wrote past the tile at [%d][%d]", kind, kc, i, j)
							}
							continue
						}
						if d := math.Abs(float64(got - want[i*nr+j])); d > 1e-5*float64(kc+1) {
							t.Fatalf("%v kc=%d beta=%g: C[%d][%d] = %g, want %g", kind, kc, beta, i, j, got, want[i*nr+j])
						}
					}
				}
			}
		}
	}
}

func FuzzSgemm(f *testing.F) {
	f.Add(uint8(7), uint8(17), uint16(33), uint8(0), uint8(1), uint64(1))
	f.Add(uint8(1), uint8(1), uint16(1), uint8(3), uint8(0), uint64(2))
	f.Add(uint8(100), uint8(33), uint16(257), uint8(2), uint8(5), uint64(3))
	f.Fuzz(func(t *testing.T, m, n uint8, k uint16, trans, pad uint8, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, 99))
		p := newProblem(rng, trans&1 != 0, trans&2 != 0, int(m), int(n), int(k%1024),
			int(pad%4), int(pad/4%4), int(pad/16%4), 0.5, []float32{0, 1, -0.5}[pad%3])
		for _, kind := range kernelsUnderTest() {
			p.check(t, kind.String(), p.run(kind, 1+int(seed%3)))
		}
	})
}

func TestPackBRowsMatchesPortable(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, tc := range []struct{ kc, panels, ldb int }{{1, 1, 16}, {3, 2, 40}, {256, 32, 600}, {7, 5, 81}} {
		src := filled(rng, tc.kc, tc.panels*nr, tc.ldb, 0, false)
		got := make([]float32, tc.kc*nr*tc.panels)
		want := make([]float32, len(got))
		packBRows(got, src, tc.kc, tc.panels, tc.ldb)
		packBRowsGo(want, src, tc.kc, tc.panels, tc.ldb)
		if !bitsEqual(got, want) {
			t.Errorf("kc=%d panels=%d ldb=%d: packBRows differs from packBRowsGo", tc.kc, tc.panels, tc.ldb)
		}
		for s := 0; s < tc.panels; s++ {
			for p := 0; p < tc.kc; p++ {
				for j := 0; j < nr; j++ {
					if w, g := src[p*tc.ldb+s*nr+j], want[s*tc.kc*nr+p*nr+j]; g != w {
						t.Fatalf("packBRowsGo panel %d row %d col %d = %g, want %g", s, p, j, g, w)
					}
				}
			}
		}
	}
}

// TestPackBTransPanelMatchesGo: the vec.Transpose packing of a transposed
// B panel writes exactly what the element loop writes (kc below, at and
// above multiples of 8, row strides with and without slack) and nothing
// past kc*nr.
func TestPackBTransPanelMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for _, tc := range []struct{ kc, ldb int }{{1, 1}, {7, 9}, {8, 8}, {13, 20}, {64, 64}, {209, 209}, {256, 838}} {
		src := filled(rng, nr, tc.kc, tc.ldb, 0, false)
		got := make([]float32, tc.kc*nr+5)
		want := make([]float32, len(got))
		for i := range got {
			got[i], want[i] = -7, -7
		}
		packBTransPanel(got, src, tc.kc, tc.ldb)
		packBTransPanelGo(want, src, tc.kc, tc.ldb)
		if !bitsEqual(got, want) {
			t.Errorf("kc=%d ldb=%d: packBTransPanel differs from packBTransPanelGo", tc.kc, tc.ldb)
		}
		for p := 0; p < tc.kc; p++ {
			for j := 0; j < nr; j++ {
				if w, g := src[j*tc.ldb+p], want[p*nr+j]; g != w {
					t.Fatalf("packBTransPanelGo row %d col %d = %g, want %g", p, j, g, w)
				}
			}
		}
		for i := tc.kc * nr; i < len(got); i++ {
			if got[i] != -7 {
				t.Fatalf("kc=%d: packBTransPanel wrote past the panel at %d", tc.kc, i)
			}
		}
	}
}

// BenchmarkPackBTransPanel packs the transposed-B panels of the Fashion-MNIST
// weight gradients (dy grids of 16, 32 and 64 channels, one k-block of
// positions: the output grids of 28x28, 14x14 and 7x7 maps are 838, 222
// and 61 long) with the element loop (old) and vec.Transpose (new),
// alternating call by call, and reports each one's median ns and old/new.
func BenchmarkPackBTransPanel(b *testing.B) {
	rng := rand.New(rand.NewPCG(25, 26))
	for _, tc := range []struct {
		name    string
		panels  int
		kc, ldb int
	}{{"c16_28x28", 1, min(kBlock(838), 838), 838}, {"c32_14x14", 2, min(kBlock(222), 222), 222}, {"c64_7x7", 4, min(kBlock(61), 61), 61}} {
		b.Run(tc.name, func(b *testing.B) {
			src := filled(rng, tc.panels*nr, tc.ldb, tc.ldb, 0, false)
			d := make([]float32, tc.panels*tc.kc*nr)
			run := func(pack func(d, src []float32, kc, ldb int)) float64 {
				start := time.Now()
				for rep := 0; rep < 64; rep++ {
					for s := 0; s < tc.panels; s++ {
						pack(d[s*tc.kc*nr:], src[s*nr*tc.ldb:], tc.kc, tc.ldb)
					}
				}
				return float64(time.Since(start).Nanoseconds()) / 64
			}
			run(packBTransPanelGo)
			run(packBTransPanel)
			benchcmp.Alternate(b, "ns", func() float64 { return run(packBTransPanelGo) }, func() float64 { return run(packBTransPanel) })
		})
	}
}
