package vec

import (
	"math"
	"math/rand/v2"
	"simclr/internal/benchcmp"
	"testing"
	"time"
)

// specialFloats covers every class the ReLU masks distinguish.
var specialFloats = []float32{
	0, float32(math.Copysign(0, -1)), 1, -1, 1e-45, -1e-45, 3.4e38, -3.4e38,
	float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
	math.Float32frombits(0xffc00001), // negative NaN
	math.Float32frombits(0xff800001), // smallest negative-signed NaN
	math.Float32frombits(0x7f800001),
}

func mixedFloats(rng *rand.Rand, n int) []float32 {
	v := randomFloats(rng, n, 0)
	for i := range v {
		if rng.IntN(3) == 0 {
			v[i] = specialFloats[rng.IntN(len(specialFloats))]
		}
	}
	return v
}

// TestElementwiseMatchDefinition: ReLU, ReLUBackward and Add (assembly
// bodies plus tails) agree bit for bit with their definitions, NaN, ±0 and
// ±Inf included.
func TestElementwiseMatchDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, n := range lengths {
		x := mixedFloats(rng, n)
		g := mixedFloats(rng, n)
		y := make([]float32, n)
		ReLU(y, x)
		for i, v := range x {
			want := v
			if v < 0 {
				want = 0
			}
			if math.Float32bits(y[i]) != math.Float32bits(want) {
				t.Fatalf("n=%d ReLU(%v [%#x]) = %v, want %v", n, v, math.Float32bits(v), y[i], want)
			}
		}
		ReLUBackward(y, x, g)
		for i, v := range x {
			want := float32(0)
			if v > 0 {
				want = g[i]
			}
			if math.Float32bits(y[i]) != math.Float32bits(want) {
				t.Fatalf("n=%d ReLUBackward(y=%v, dy=%v) = %v, want %v", n, v, g[i], y[i], want)
			}
		}
		Add(y, x, g)
		for i := range x {
			want := x[i] + g[i]
			if math.Float32bits(y[i]) != math.Float32bits(want) && !(math.IsNaN(float64(want)) && math.IsNaN(float64(y[i]))) {
				t.Fatalf("n=%d Add(%v, %v) = %v, want %v", n, x[i], g[i], y[i], want)
			}
		}
	}
}

// TestElementwiseInPlace: outputs may alias inputs.
func TestElementwiseInPlace(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	x := mixedFloats(rng, 45)
	g := mixedFloats(rng, 45)
	want := make([]float32, len(x))
	reluGo(want, x)
	got := append([]float32(nil), x...)
	ReLU(got, got)
	if !sameBits(got, want) {
		t.Error("ReLU in place differs")
	}
	reluBackwardGo(want, x, g)
	got = append([]float32(nil), g...)
	ReLUBackward(got, x, got)
	if !sameBits(got, want) {
		t.Error("ReLUBackward in place differs")
	}
}

// TestCopyRows checks every copied element and that nothing around the
// rows is written, for widths below, at and above the 8-float step.
func TestCopyRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, cols := range []int{1, 3, 4, 5, 6, 7, 8, 9, 16, 28, 30} {
		for _, rows := range []int{1, 3, 28} {
			lds, ldd := cols+5, cols+2
			src := randomFloats(rng, rows*lds, 0)
			dst := make([]float32, rows*ldd)
			for i := range dst {
				dst[i] = float32(math.NaN())
			}
			CopyRows(dst, ldd, src, lds, rows, cols)
			for i := 0; i < rows; i++ {
				for j := 0; j < ldd; j++ {
					got := dst[i*ldd+j]
					if j < cols && got != src[i*lds+j] {
						t.Fatalf("cols=%d rows=%d: dst[%d][%d] = %v, want %v", cols, rows, i, j, got, src[i*lds+j])
					}
					if j >= cols && !math.IsNaN(float64(got)) {
						t.Fatalf("cols=%d rows=%d: dst[%d][%d] past the row was written", cols, rows, i, j)
					}
				}
			}
		}
	}
}

// TestFusedReLUMatchesSequence: the ReLU-fused batch-norm loops give the
// results of the unfused sequence bit for bit (special values included).
func TestFusedReLUMatchesSequence(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	for _, n := range lengths {
		x := mixedFloats(rng, n)
		g := mixedFloats(rng, n)
		y := mixedFloats(rng, n)
		want := make([]float32, n)
		got := make([]float32, n)
		Affine(want, x, 0.3, 1.7, -0.1)
		ReLU(want, want)
		AffineReLU(got, x, 0.3, 1.7, -0.1)
		if !sameBits(got, want) {
			t.Errorf("n=%d AffineReLU differs from Affine + ReLU", n)
		}
		masked := make([]float32, n)
		ReLUBackward(masked, y, g)
		a1, b1 := SumDotDev(x, masked, 0.25)
		a2, b2 := SumDotDevMasked(x, g, y, 0.25)
		if !(sameF64(a1, a2) && sameF64(b1, b2)) {
			t.Errorf("n=%d SumDotDevMasked = %v, %v; ReLUBackward + SumDotDev %v, %v", n, a2, b2, a1, b1)
		}
		BatchNormDx(want, x, masked, 1.1, 0.02, 0.25, 0.3)
		BatchNormDxMasked(got, x, g, y, 1.1, 0.02, 0.25, 0.3)
		if !sameBits(got, want) {
			t.Errorf("n=%d BatchNormDxMasked differs from ReLUBackward + BatchNormDx", n)
		}
		// dx aliasing dy.
		inPlace := append([]float32(nil), g...)
		BatchNormDxMasked(inPlace, x, inPlace, y, 1.1, 0.02, 0.25, 0.3)
		if !sameBits(inPlace, want) {
			t.Errorf("n=%d BatchNormDxMasked in place differs", n)
		}
	}
}

func sameF64(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || (math.IsNaN(a) && math.IsNaN(b))
}

// TestDeinterleave: every even- and odd-indexed element lands in its
// destination and nothing past the destinations' used lengths is written,
// for even and odd lengths and with either destination nil.
func TestDeinterleave(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, n := range []int{0, 1, 2, 3, 7, 14, 15, 28} {
		for _, which := range []string{"both", "even", "odd"} {
			src := randomFloats(rng, n, 0)
			ne, no := (n+1)/2, n/2
			nan := float32(math.NaN())
			var even, odd []float32
			if which != "odd" {
				even = make([]float32, ne+2)
				for i := range even {
					even[i] = nan
				}
			}
			if which != "even" {
				odd = make([]float32, no+2)
				for i := range odd {
					odd[i] = nan
				}
			}
			Deinterleave(even, odd, src)
			for k := 0; k < len(even); k++ {
				if k < ne && even[k] != src[2*k] {
					t.Fatalf("n=%d %s: even[%d] = %v, want src[%d] = %v", n, which, k, even[k], 2*k, src[2*k])
				}
				if k >= ne && !math.IsNaN(float64(even[k])) {
					t.Fatalf("n=%d %s: even[%d] past the end was written", n, which, k)
				}
			}
			for k := 0; k < len(odd); k++ {
				if k < no && odd[k] != src[2*k+1] {
					t.Fatalf("n=%d %s: odd[%d] = %v, want src[%d] = %v", n, which, k, odd[k], 2*k+1, src[2*k+1])
				}
				if k >= no && !math.IsNaN(float64(odd[k])) {
					t.Fatalf("n=%d %s: odd[%d] past the end was written", n, which, k)
				}
			}
		}
	}
}

// BenchmarkCopyRowsShort pads 512 images of 64 channels of 7x7 into 9x9
// planes (the Fashion-MNIST stage-3 layout) with a copy call a row (old)
// and CopyRows (new: two 4-float moves a row), alternating, and reports
// each one's median ms and old/new.
func BenchmarkCopyRowsShort(b *testing.B) {
	const n, c, h, w, wq = 512, 64, 7, 7, 9
	rng := rand.New(rand.NewPCG(27, 28))
	src := randomFloats(rng, n*c*h*w, 0)
	dst := make([]float32, c*wq*wq)
	run := func(copyRows func(dst []float32, ldd int, src []float32, lds, rows, cols int)) float64 {
		start := time.Now()
		for i := 0; i < n; i++ {
			img := src[i*c*h*w:]
			for ci := 0; ci < c; ci++ {
				copyRows(dst[ci*wq*wq+wq+1:], wq, img[ci*h*w:], w, h, w)
			}
		}
		return time.Since(start).Seconds() * 1e3
	}
	run(copyRowsGo)
	run(CopyRows)
	benchcmp.Alternate(b, "ms", func() float64 { return run(copyRowsGo) }, func() float64 { return run(CopyRows) })
}
