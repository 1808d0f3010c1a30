package cpu

import (
	"math"
	"testing"

	"simclr/internal/gradcheck"
)

func TestL2Normalize(t *testing.T) {
	b := New()
	n, d := 4, 6
	x := randT(t, b, 11, 1, n, d)
	y, norms := newT(t, b, nil, n, d), newT(t, b, nil, n)
	must(t, b.L2NormalizeForward(x, y, norms))
	want := make([]float64, n*d)
	wantNorms := make([]float64, n)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			v := float64(x.Host[i*d+j])
			wantNorms[i] += v * v
		}
		wantNorms[i] = math.Sqrt(wantNorms[i])
		for j := 0; j < d; j++ {
			want[i*d+j] = float64(x.Host[i*d+j]) / wantNorms[i]
		}
	}
	closeTo(t, "y", y.Host, want, 1e-6, 1e-7)
	closeTo(t, "norms", norms.Host, wantNorms, 1e-6, 0)

	r := newT(t, b, gradcheck.RandomVector(n*d, 12), n, d)
	dx := randT(t, b, 13, 100, n, d)
	must(t, b.L2NormalizeBackward(y, norms, r, dx))
	loss := func() float64 {
		must(t, b.L2NormalizeForward(x, y, norms))
		return gradcheck.Dot64(r.Host, y.Host)
	}
	checkGrad(t, loss, [][]float32{x.Host}, [][]float32{dx.Host}, 1e-3, 2e-3, 2e-4)
}

// TestL2NormalizeZeroRow: a zero row stays zero (no NaN) and, as with
// F.normalize's clamp, its gradient is dy/1e-12.
func TestL2NormalizeZeroRow(t *testing.T) {
	b := New()
	x := newT(t, b, []float32{0, 0, 3, 4}, 2, 2)
	y, norms := newT(t, b, nil, 2, 2), newT(t, b, nil, 2)
	must(t, b.L2NormalizeForward(x, y, norms))
	closeTo(t, "y", y.Host, []float64{0, 0, 0.6, 0.8}, 1e-7, 0)
	closeTo(t, "norms", norms.Host, []float64{0, 5}, 0, 0)
	dy := newT(t, b, []float32{1e-12, -2e-12, 1, 0}, 2, 2)
	dx := newT(t, b, nil, 2, 2)
	must(t, b.L2NormalizeBackward(y, norms, dy, dx))
	// Row 1: (dy - y (y.dy))/5 with y.dy = 0.6.
	closeTo(t, "dx", dx.Host, []float64{1, -2, (1 - 0.36) / 5, -0.48 / 5}, 1e-6, 0)
}
