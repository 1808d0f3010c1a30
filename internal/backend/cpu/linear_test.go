package cpu

import (
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
