package cpu

import (
	"math"
	"testing"

	"simclr/internal/gradcheck"
	"simclr/internal/vec"
)

func TestReLU(t *testing.T) {
	b := New()
	x := randT(t, b, 9, 1, 2, 3, 4, 5)
	awayFromZero(x.Host, 0.05)
	y := newT(t, b, nil, 2, 3, 4, 5)
	must(t, b.ReLUForward(x, y))
	want := make([]float64, x.Numel())
	for i, v := range x.Host {
		want[i] = math.Max(float64(v), 0)
	}
	closeTo(t, "y", y.Host, want, 0, 0)
	r := newT(t, b, gradcheck.RandomVector(x.Numel(), 10), 2, 3, 4, 5)
	dx := newT(t, b, nil, 2, 3, 4, 5)
	must(t, b.ReLUBackward(y, r, dx))
	loss := func() float64 {
		must(t, b.ReLUForward(x, y))
		return gradcheck.Dot64(r.Host, y.Host)
	}
	checkGrad(t, loss, [][]float32{x.Host}, [][]float32{dx.Host}, 1e-2, 1e-3, 1e-4)

	// In place: y aliases x, dx aliases dy.
	must(t, b.ReLUForward(x, x))
	closeTo(t, "in-place y", x.Host, want, 0, 0)
	g := newT(t, b, r.Host, 2, 3, 4, 5)
	must(t, b.ReLUBackward(x, g, g))
	closeTo(t, "in-place dx", g.Host, f64(dx.Host), 0, 0)
}
func TestReLUSpecialValues(t *testing.T) {
	nan := float32(math.NaN())
	negNaN := math.Float32frombits(0xffc00000)
	negZero := float32(math.Copysign(0, -1))
	inf := float32(math.Inf(1))
	special := []float32{nan, negNaN, negZero, 0, inf, -inf, 1, -1, math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, math.MaxFloat32, -math.MaxFloat32}
	for shift := 0; shift < 4; shift++ {
		x := append(make([]float32, shift), special...)
		x = append(x, gradcheck.RandomVector(13, uint64(shift))...)
		g := gradcheck.RandomVector(len(x), 7)
		g[shift] = nan
		y := make([]float32, len(x))
		vec.ReLU(y, x)
		for i, v := range x {
			want := v
			if v < 0 {
				want = 0
			}
			if math.Float32bits(y[i]) != math.Float32bits(want) {
				t.Errorf("shift %d: relu(%v) = %v (bits %#x), want %v", shift, v, y[i], math.Float32bits(y[i]), want)
			}
		}
		dx := make([]float32, len(x))
		vec.ReLUBackward(dx, x, g)
		for i, v := range x {
			want := float32(0)
			if v > 0 {
				want = g[i]
			}
			if math.Float32bits(dx[i]) != math.Float32bits(want) {
				t.Errorf("shift %d: relu backward at y=%v, dy=%v gives %v, want %v", shift, v, g[i], dx[i], want)
			}
		}
	}
}
