package cpu

import (
	"math"
	"testing"

	"simclr/internal/gradcheck"
)

func TestLinear(t *testing.T) {
	for _, withBias := range []bool{true, false} {
		name := "no bias"
		if withBias {
			name = "bias"
		}
		t.Run(name, func(t *testing.T) {
			b := New()
			n, in, out := 5, 7, 3
			x := randT(t, b, 1, 1, n, in)
			w := randT(t, b, 2, 1, out, in)
			var bias, db *Tensor
			if withBias {
				bias = randT(t, b, 3, 1, out)
				db = newT(t, b, nil, out)
			}
			y := randT(t, b, 4, 100, n, out)
			must(t, b.LinearForward(x, w, bias, y))
			want := make([]float64, n*out)
			for i := 0; i < n; i++ {
				for o := 0; o < out; o++ {
					if withBias {
						want[i*out+o] = float64(bias.Host[o])
					}
					for k := 0; k < in; k++ {
						want[i*out+o] += float64(x.Host[i*in+k]) * float64(w.Host[o*in+k])
					}
				}
			}
			closeTo(t, "y", y.Host, want, 1e-6, 1e-6)

			r := newT(t, b, gradcheck.RandomVector(n*out, 5), n, out)
			dx, dw := newT(t, b, nil, n, in), newT(t, b, nil, out, in)
			must(t, b.LinearBackward(x, w, r, dx, dw, db))
			loss := func() float64 {
				must(t, b.LinearForward(x, w, bias, y))
				return gradcheck.Dot64(r.Host, y.Host)
			}
			inputs := [][]float32{x.Host, w.Host}
			grads := [][]float32{dx.Host, dw.Host}
			if withBias {
				inputs = append(inputs, bias.Host)
				grads = append(grads, db.Host)
			}
			checkGrad(t, loss, inputs, grads, 1e-2, 1e-3, 1e-4)

			// dx may be nil (first layer); dw must not change.
			dw2 := newT(t, b, nil, out, in)
			must(t, b.LinearBackward(x, w, r, nil, dw2, db))
			closeTo(t, "dw without dx", dw2.Host, f64(dw.Host), 0, 0)
		})
	}
}

func TestLinearBiasGradientLargeBatch(t *testing.T) {
	// More columns than one bias block and many rows.
	b := New()
	n, in, out := 70, 3, 600
	x := randT(t, b, 1, 1, n, in)
	w := randT(t, b, 2, 1, out, in)
	dy := randT(t, b, 3, 1, n, out)
	dw, db := newT(t, b, nil, out, in), newT(t, b, nil, out)
	must(t, b.LinearBackward(x, w, dy, nil, dw, db))
	want := make([]float64, out)
	for i := 0; i < n; i++ {
		for o := 0; o < out; o++ {
			want[o] += float64(dy.Host[i*out+o])
		}
	}
	closeTo(t, "db", db.Host, want, 1e-6, 1e-6)
}

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

func TestSimilarity(t *testing.T) {
	b := New()
	m, d := 6, 5
	z := randT(t, b, 21, 1, m, d)
	s := newT(t, b, nil, m, m)
	must(t, b.SimilarityForward(z, s))
	want := make([]float64, m*m)
	for i := 0; i < m; i++ {
		for j := 0; j < m; j++ {
			for k := 0; k < d; k++ {
				want[i*m+j] += float64(z.Host[i*d+k]) * float64(z.Host[j*d+k])
			}
		}
	}
	closeTo(t, "s", s.Host, want, 1e-6, 1e-6)
	// A non-symmetric upstream gradient exercises the ds + ds^T term.
	r := newT(t, b, gradcheck.RandomVector(m*m, 22), m, m)
	dz := randT(t, b, 23, 100, m, d)
	must(t, b.SimilarityBackward(z, r, dz))
	loss := func() float64 {
		must(t, b.SimilarityForward(z, s))
		return gradcheck.Dot64(r.Host, s.Host)
	}
	checkGrad(t, loss, [][]float32{z.Host}, [][]float32{dz.Host}, 1e-2, 1e-3, 1e-3)
}
