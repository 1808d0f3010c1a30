package gradcheck

import (
	"math"
	"strings"
	"testing"
)

// cubic is y_i = x_i^3 * w_i + w_i, a small non-linear function of two
// inputs with known gradients, scalarised with r.
type cubic struct {
	x, w, r []float32
}

func newCubic() *cubic {
	return &cubic{
		x: []float32{0.5, -1.25, 2, 0.75},
		w: []float32{1.5, -0.5, 0.25, 2},
		r: RandomVector(4, 7),
	}
}

func (c *cubic) loss() float64 {
	y := make([]float32, len(c.x))
	for i := range y {
		y[i] = c.x[i]*c.x[i]*c.x[i]*c.w[i] + c.w[i]
	}
	return Dot64(c.r, y)
}

func (c *cubic) grads() (dx, dw []float32) {
	dx = make([]float32, len(c.x))
	dw = make([]float32, len(c.w))
	for i := range c.x {
		dx[i] = c.r[i] * 3 * c.x[i] * c.x[i] * c.w[i]
		dw[i] = c.r[i] * (c.x[i]*c.x[i]*c.x[i] + 1)
	}
	return dx, dw
}

func TestCheckAcceptsCorrectGradients(t *testing.T) {
	c := newCubic()
	dx, dw := c.grads()
	orig := append([]float32(nil), c.x...)
	if err := Check(c.loss, [][]float32{c.x, c.w}, [][]float32{dx, dw}, 1e-3, 1e-2, 1e-3); err != nil {
		t.Fatalf("correct gradients rejected: %v", err)
	}
	for i := range orig {
		if c.x[i] != orig[i] {
			t.Fatalf("input element %d not restored: %v, want %v", i, c.x[i], orig[i])
		}
	}
}

func TestCheckCatchesWrongGradients(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(dx, dw []float32)
		input   string
	}{
		{"sign", func(dx, dw []float32) { dx[2] = -dx[2] }, "input 0 element 2"},
		{"missing term", func(dx, dw []float32) { dw[1] -= 0.5 * dw[1] }, "input 1 element 1"},
		{"swapped", func(dx, dw []float32) { dx[0], dx[1] = dx[1], dx[0] }, "input 0 element"},
		{"scaled", func(dx, dw []float32) { dw[3] *= 1.05 }, "input 1 element 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCubic()
			dx, dw := c.grads()
			tc.corrupt(dx, dw)
			err := Check(c.loss, [][]float32{c.x, c.w}, [][]float32{dx, dw}, 1e-3, 1e-2, 1e-3)
			if err == nil {
				t.Fatal("wrong gradient accepted")
			}
			if !strings.Contains(err.Error(), tc.input) || !strings.Contains(err.Error(), "analytic") {
				t.Fatalf("error %q does not name %q and the values", err, tc.input)
			}
		})
	}
}

func TestCheckSampled(t *testing.T) {
	c := newCubic()
	dx, dw := c.grads()
	if err := CheckSampled(c.loss, [][]float32{c.x, c.w}, [][]float32{dx, dw}, 1e-3, 1e-2, 1e-3, 2, 1); err != nil {
		t.Fatalf("correct gradients rejected: %v", err)
	}
	// Corrupt every element: any sample must catch it.
	for i := range dx {
		dx[i] = -dx[i] - 1
	}
	if err := CheckSampled(c.loss, [][]float32{c.x, c.w}, [][]float32{dx, dw}, 1e-3, 1e-2, 1e-3, 2, 1); err == nil {
		t.Fatal("sampled check accepted wrong gradients")
	}
	if err := CheckSampled(c.loss, [][]float32{c.x}, [][]float32{dx}, 1e-3, 1e-2, 1e-3, 0, 1); err == nil {
		t.Fatal("perInput 0 accepted")
	}
}

func TestCheckRejectsBadArguments(t *testing.T) {
	c := newCubic()
	dx, dw := c.grads()
	tests := []struct {
		name   string
		f      func() float64
		in, gr [][]float32
		eps    float64
		rtol   float64
		atol   float64
		want   string
	}{
		{"nil f", nil, [][]float32{c.x}, [][]float32{dx}, 1e-3, 1e-2, 1e-3, "nil"},
		{"count", c.loss, [][]float32{c.x, c.w}, [][]float32{dx}, 1e-3, 1e-2, 1e-3, "2 inputs but 1"},
		{"length", c.loss, [][]float32{c.x}, [][]float32{dw[:2]}, 1e-3, 1e-2, 1e-3, "input 0 has 4 elements"},
		{"eps", c.loss, [][]float32{c.x}, [][]float32{dx}, 0, 1e-2, 1e-3, "eps"},
		{"eps nan", c.loss, [][]float32{c.x}, [][]float32{dx}, math.NaN(), 1e-2, 1e-3, "eps"},
		{"tol", c.loss, [][]float32{c.x}, [][]float32{dx}, 1e-3, 0, 0, "tolerances"},
		{"nan loss", func() float64 { return math.NaN() }, [][]float32{c.x}, [][]float32{dx}, 1e-3, 1e-2, 1e-3, "unperturbed inputs is NaN"},
		{"nan grad", c.loss, [][]float32{c.x}, [][]float32{{float32(math.NaN()), 0, 0, 0}}, 1e-3, 1e-2, 1e-3, "analytic gradient is NaN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.f, tc.in, tc.gr, tc.eps, tc.rtol, tc.atol)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestRandomVectorReproducible(t *testing.T) {
	a, b, c := RandomVector(100, 3), RandomVector(100, 3), RandomVector(100, 4)
	same := true
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed differs at %d", i)
		}
		if a[i] < -1 || a[i] >= 1 {
			t.Fatalf("value %v outside [-1,1)", a[i])
		}
		same = same && a[i] == c[i]
	}
	if same {
		t.Fatal("different seeds gave the same vector")
	}
	if got := Dot64([]float32{1, 2, 3}, []float32{4, -5, 6}); got != 12 {
		t.Fatalf("Dot64 = %v, want 12", got)
	}
}
