package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"simclr/internal/gradcheck"
)

// newT allocates a tensor from b filled with values (or zeros when values is nil).
func newT(t testing.TB, b *Backend, values []float32, shape ...int) *Tensor {
	t.Helper()
	x, err := b.New(shape...)
	if err != nil {
		t.Fatalf("New%v: %v", shape, err)
	}
	if values != nil {
		if err := b.Upload(x, values); err != nil {
			t.Fatalf("Upload: %v", err)
		}
	}
	return x
}

// randT allocates a tensor with values uniform in [-scale, scale).
func randT(t testing.TB, b *Backend, seed uint64, scale float32, shape ...int) *Tensor {
	t.Helper()
	x := newT(t, b, nil, shape...)
	v := gradcheck.RandomVector(x.Numel(), seed)
	for i := range v {
		x.Host[i] = v[i] * scale
	}
	return x
}

// must fails the test on error.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// closeTo compares got with want element by element:
// |got-want| <= atol + rtol*|want|.
func closeTo(t *testing.T, what string, got []float32, want []float64, rtol, atol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		g := float64(got[i])
		if math.IsNaN(g) || math.Abs(g-want[i]) > atol+rtol*math.Abs(want[i]) {
			t.Fatalf("%s[%d] = %.8g, want %.8g", what, i, g, want[i])
		}
	}
}

// checkGrad runs gradcheck.Check and fails the test with its message.
func checkGrad(t *testing.T, f func() float64, inputs, grads [][]float32, eps, rtol, atol float64) {
	t.Helper()
	if err := gradcheck.Check(f, inputs, grads, eps, rtol, atol); err != nil {
		t.Fatal(err)
	}
}

// awayFromZero moves every value at least gap away from 0 (for ReLU checks).
func awayFromZero(v []float32, gap float32) {
	for i, x := range v {
		if x >= 0 && x < gap {
			v[i] = x + gap
		} else if x < 0 && x > -gap {
			v[i] = x - gap
		}
	}
}

// distinctValues fills v with a random permutation of step*(i - len/2), so
// every two values differ by at least step (no max-pool ties).
func distinctValues(v []float32, step float32, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	for i, p := range rng.Perm(len(v)) {
		v[i] = step * float32(p-len(v)/2)
	}
}

// bits returns the IEEE bit patterns of v, for bit-identical comparisons.
func bits(v []float32) []uint32 {
	out := make([]uint32, len(v))
	for i, x := range v {
		out[i] = math.Float32bits(x)
	}
	return out
}
