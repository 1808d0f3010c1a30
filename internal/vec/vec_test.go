package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randomFloats(rng *rand.Rand, n int, offset float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = offset + float32(rng.NormFloat64())
	}
	return v
}

var lengths = []int{0, 1, 7, 8, 9, 15, 16, 17, 64, 100, 784, 1001}

// TestBodiesMatchPortable: the assembly bodies (where this CPU runs them)
// give bit-identical results to the portable Go loops, for every length
// including the tails.
func TestBodiesMatchPortable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range lengths {
		x := randomFloats(rng, n, 3)
		g := randomFloats(rng, n, 0)
		m := n &^ 7
		s1, q1 := SumSqShift(x, 2.5)
		s2, q2 := tailSumSq(x, m, 2.5)
		if math.Float64bits(s1) != math.Float64bits(s2) || math.Float64bits(q1) != math.Float64bits(q2) {
			t.Errorf("n=%d SumSqShift = %v, %v; portable %v, %v", n, s1, q1, s2, q2)
		}
		a1, b1 := SumDotDev(x, g, 2.75)
		a2, b2 := tailSumDot(x, g, m, 2.75)
		if math.Float64bits(a1) != math.Float64bits(a2) || math.Float64bits(b1) != math.Float64bits(b2) {
			t.Errorf("n=%d SumDotDev = %v, %v; portable %v, %v", n, a1, b1, a2, b2)
		}
		y1 := make([]float32, n)
		y2 := make([]float32, n)
		Affine(y1, x, 3.1, 0.7, -0.2)
		affineGo(y2, x, 3.1, 0.7, -0.2)
		if !sameBits(y1, y2) {
			t.Errorf("n=%d Affine differs from the portable loop", n)
		}
		BatchNormDx(y1, x, g, 1.3, 0.01, 3.1, 0.05)
		batchNormDxGo(y2, x, g, 1.3, 0.01, 3.1, 0.05)
		if !sameBits(y1, y2) {
			t.Errorf("n=%d BatchNormDx differs from the portable loop", n)
		}
	}
}

// tailSumSq is SumSqShift with the portable body.
func tailSumSq(v []float32, m int, shift float64) (s, sq float64) {
	if m > 0 {
		s, sq = sumSqShiftGo(v[:m], shift)
	}
	for _, x := range v[m:] {
		d := float64(x) - shift
		s += d
		sq += float64(d * d)
	}
	return s, sq
}

// tailSumDot is SumDotDev with the portable body.
func tailSumDot(x, g []float32, m int, mean float64) (sg, sgx float64) {
	if m > 0 {
		sg, sgx = sumDotDevGo(x[:m], g[:m], mean)
	}
	for i := m; i < len(x); i++ {
		gi := float64(g[i])
		sg += gi
		sgx += float64(gi * (float64(x[i]) - mean))
	}
	return sg, sgx
}

// TestAgainstFloat64Reference checks the values themselves against a plain
// float64 computation.
func TestAgainstFloat64Reference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range lengths {
		x := randomFloats(rng, n, 100)
		g := randomFloats(rng, n, 0)
		var s, sq, sg, sgx float64
		for i := range x {
			d := float64(x[i]) - 99
			s += d
			sq += d * d
			sg += float64(g[i])
			sgx += float64(g[i]) * (float64(x[i]) - 100)
		}
		gs, gq := SumSqShift(x, 99)
		ga, gb := SumDotDev(x, g, 100)
		for _, c := range []struct {
			name      string
			got, want float64
		}{{"sum", gs, s}, {"sum of squares", gq, sq}, {"sum g", ga, sg}, {"sum g*dev", gb, sgx}} {
			if math.Abs(c.got-c.want) > 1e-9*(1+math.Abs(c.want)) {
				t.Errorf("n=%d %s = %v, want %v", n, c.name, c.got, c.want)
			}
		}
		y := make([]float32, n)
		Affine(y, x, 100, 0.5, 1)
		for i := range x {
			want := (float64(x[i])-100)*0.5 + 1
			if math.Abs(float64(y[i])-want) > 1e-5 {
				t.Fatalf("n=%d Affine[%d] = %v, want %v", n, i, y[i], want)
			}
		}
		BatchNormDx(y, x, g, 2, 0.1, 100, 0.25)
		for i := range x {
			want := 2 * ((float64(g[i]) - 0.1) - (float64(x[i])-100)*0.25)
			if math.Abs(float64(y[i])-want) > 1e-5 {
				t.Fatalf("n=%d BatchNormDx[%d] = %v, want %v", n, i, y[i], want)
			}
		}
	}
}

// TestAliasing: Affine and BatchNormDx may write over their input.
func TestAliasing(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	x := randomFloats(rng, 37, 1)
	g := randomFloats(rng, 37, 0)
	want := make([]float32, len(x))
	affineGo(want, x, 1, 2, 3)
	got := append([]float32(nil), x...)
	Affine(got, got, 1, 2, 3)
	if !sameBits(got, want) {
		t.Error("Affine in place differs")
	}
	batchNormDxGo(want, x, g, 1.5, 0.2, 1, 0.3)
	got = append([]float32(nil), g...)
	BatchNormDx(got, x, got, 1.5, 0.2, 1, 0.3)
	if !sameBits(got, want) {
		t.Error("BatchNormDx in place (dx = dy) differs")
	}
}

func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func BenchmarkSumSqShift(b *testing.B) {
	x := randomFloats(rand.New(rand.NewPCG(7, 8)), 784*16, 0)
	b.SetBytes(int64(4 * len(x)))
	for b.Loop() {
		SumSqShift(x, 0.5)
	}
}

func BenchmarkSumSqShiftPortable(b *testing.B) {
	x := randomFloats(rand.New(rand.NewPCG(7, 8)), 784*16, 0)
	b.SetBytes(int64(4 * len(x)))
	for b.Loop() {
		sumSqShiftGo(x, 0.5)
	}
}
