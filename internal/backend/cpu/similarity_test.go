package cpu

import (
	"testing"

	"simclr/internal/gradcheck"
)

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
