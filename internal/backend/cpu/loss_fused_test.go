package cpu

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"simclr/internal/gradcheck"
)

// unitRows returns a [m,d] tensor of random rows scaled to unit length
// (a normalised projection z); pairs (i, i+m/2) are correlated like two
// views so the positives are more similar than the negatives.
func unitRows(t *testing.T, b *Backend, m, d int, seed uint64) *Tensor {
	z := randT(t, b, seed, 1, m, d)
	noise := gradcheck.RandomVector(m*d, seed+1) // not a tensor: PeakBytes counts only z
	n := m / 2
	for i := 0; i < m; i++ {
		base := z.Host[(i%n)*d : (i%n+1)*d]
		row := z.Host[i*d : (i+1)*d]
		var sq float64
		for k := range row {
			row[k] = base[k] + noise[i*d+k]/2
			sq += float64(row[k]) * float64(row[k])
		}
		inv := float32(1 / math.Sqrt(sq))
		for k := range row {
			row[k] *= inv
		}
	}
	return z
}

// materialisedNTXent runs the unfused path (SimilarityForward,
// NTXentForward, NTXentBackward, SimilarityBackward) and returns the loss,
// s and dz.
func materialisedNTXent(t *testing.T, b *Backend, z *Tensor, tau float32) (float32, []float32, []float32) {
	m, d := z.Shape[0], z.Shape[1]
	s, ds, dz := newT(t, b, nil, m, m), newT(t, b, nil, m, m), newT(t, b, nil, m, d)
	must(t, b.SimilarityForward(z, s))
	loss, err := b.NTXentForward(s, tau)
	must(t, err)
	must(t, b.NTXentBackward(s, tau, ds))
	must(t, b.SimilarityBackward(z, ds, dz))
	return loss, s.Host, dz.Host
}

// fusedShapes cover one tile, partial tiles of rows (64) and columns (128)
// and several of both, N = 1 and D = 1.
var fusedShapes = []struct {
	n, d int
	tau  float32
}{
	{1, 3, 0.5}, {1, 1, 0.1}, {3, 5, 0.1}, {37, 16, 0.2}, {64, 7, 0.05}, {100, 33, 0.1}, {130, 8, 0.07},
}

// TestNTXentFusedMatchesMaterialised: the fused loss, stats and dz equal
// the materialised path's up to float64 summation order (loss) and
// float32 rounding (dz).
func TestNTXentFusedMatchesMaterialised(t *testing.T) {
	for _, c := range fusedShapes {
		t.Run(fmt.Sprintf("N%d_D%d_tau%g", c.n, c.d, c.tau), func(t *testing.T) {
			b := New()
			m := 2 * c.n
			z := unitRows(t, b, m, c.d, uint64(7*c.n+c.d))
			wantLoss, s, wantDz := materialisedNTXent(t, b, z, c.tau)
			stats, dz := newT(t, b, nil, m, 2), newT(t, b, nil, m, c.d)
			loss, err := b.NTXentFusedForward(z, stats, c.tau)
			must(t, err)
			if math.Abs(float64(loss-wantLoss)) > 2e-7*math.Abs(float64(wantLoss)) {
				t.Fatalf("fused loss %.9g, materialised %.9g", loss, wantLoss)
			}
			// stats: the float64 log-sum-exp of each row of s/tau.
			for i := 0; i < m; i++ {
				var sum float64
				for j := 0; j < m; j++ {
					if j != i {
						sum += math.Exp(float64(s[i*m+j]) / float64(c.tau))
					}
				}
				want := math.Log(sum)
				if got := rowLSEOf(stats.Host, i); math.Abs(got-want) > 1e-12*math.Max(1, math.Abs(want)) {
					t.Fatalf("stats row %d: lse %.17g, want %.17g", i, got, want)
				}
			}
			must(t, b.NTXentFusedBackward(z, stats, c.tau, dz))
			var scale float64
			for _, v := range wantDz {
				scale = math.Max(scale, math.Abs(float64(v)))
			}
			for i, v := range dz.Host {
				if math.Abs(float64(v-wantDz[i])) > 1e-5*scale+1e-9 {
					t.Fatalf("dz[%d] = %.8g, materialised %.8g (max |dz| %.3g)", i, v, wantDz[i], scale)
				}
			}
		})
	}
}

// TestNTXentFusedGradients: finite differences of the fused loss w.r.t. z
// (unnormalised rows: the op does not need unit rows).
func TestNTXentFusedGradients(t *testing.T) {
	for _, n := range []int{1, 2, 3} {
		for _, tau := range []float32{1, 0.5, 0.2} {
			t.Run(fmt.Sprintf("N%d_tau%g", n, tau), func(t *testing.T) {
				b := New()
				m, d := 2*n, 3
				z := randT(t, b, uint64(40+n), 0.5, m, d)
				stats, dz := newT(t, b, nil, m, 2), newT(t, b, nil, m, d)
				_, err := b.NTXentFusedForward(z, stats, tau)
				must(t, err)
				must(t, b.NTXentFusedBackward(z, stats, tau, dz))
				loss := func() float64 {
					l, err := b.NTXentFusedForward(z, newT(t, b, nil, m, 2), tau)
					must(t, err)
					return float64(l)
				}
				checkGrad(t, loss, [][]float32{z.Host}, [][]float32{dz.Host}, 2e-3, 5e-3, 5e-4)
			})
		}
	}
}

// TestNTXentFusedNonFinite: a NaN in z or stats is an error naming it.
func TestNTXentFusedNonFinite(t *testing.T) {
	b := New()
	z := unitRows(t, b, 4, 3, 1)
	stats, dz := newT(t, b, nil, 4, 2), newT(t, b, nil, 4, 3)
	z.Host[7] = float32(math.NaN())
	if _, err := b.NTXentFusedForward(z, stats, 0.1); err == nil || !strings.Contains(err.Error(), "z") || !strings.Contains(err.Error(), "fused") {
		t.Fatalf("NaN in z: error %v, want one naming z and the op", err)
	}
	z.Host[7] = 0.5
	stats.Host[3] = float32(math.Inf(1))
	if err := b.NTXentFusedBackward(z, stats, 0.1, dz); err == nil || !strings.Contains(err.Error(), "stats") {
		t.Fatalf("Inf in stats: error %v, want one naming stats", err)
	}
}

// TestNTXentFusedMemoryLinear: the fused path needs only z, stats and dz
// (PeakBytes exactly their size, linear in N), while the materialised
// path's s and ds make its peak grow with N².
func TestNTXentFusedMemoryLinear(t *testing.T) {
	const d = 16
	var fused, mat []int64
	ns := []int{64, 128, 256}
	for _, n := range ns {
		m := 2 * n
		b := New()
		z := unitRows(t, b, m, d, 3)
		stats, dz := newT(t, b, nil, m, 2), newT(t, b, nil, m, d)
		_, err := b.NTXentFusedForward(z, stats, 0.1)
		must(t, err)
		must(t, b.NTXentFusedBackward(z, stats, 0.1, dz))
		want := int64(4 * (2*m*d + 2*m))
		if got := b.PeakBytes(); got != want {
			t.Fatalf("N=%d fused peak %d bytes, want %d (z, stats, dz)", n, got, want)
		}
		fused = append(fused, b.PeakBytes())
		b2 := New()
		materialisedNTXent(t, b2, unitRows(t, b2, m, d, 3), 0.1)
		mat = append(mat, b2.PeakBytes())
	}
	for k := 1; k < len(ns); k++ {
		if r := float64(fused[k]) / float64(fused[k-1]); r > 2.01 {
			t.Errorf("fused peak grew %.2fx from N=%d to N=%d, want 2x (linear)", r, ns[k-1], ns[k])
		}
		if r := float64(mat[k]) / float64(mat[k-1]); r < 3.5 {
			t.Errorf("materialised peak grew %.2fx from N=%d to N=%d; expected ~4x (the test no longer contrasts the paths)", r, ns[k-1], ns[k])
		}
	}
	t.Logf("peak bytes, N=%v: fused %v, materialised %v", ns, fused, mat)
}

// BenchmarkNTXentPath times one forward and backward of the loss from the
// normalised z [M,128], materialised (SimilarityForward, NTXentForward,
// NTXentBackward, SimilarityBackward) and fused; the crossover sets
// model.FusedLossMinRowsCPU (docs/benchmarks.md).
func BenchmarkNTXentPath(b *testing.B) {
	const d = 128
	for _, m := range []int{64, 128, 256, 512, 1024, 2048, 4096} {
		for _, fused := range []bool{false, true} {
			name := map[bool]string{false: "materialised", true: "fused"}[fused]
			b.Run(fmt.Sprintf("%s/M%d", name, m), func(b *testing.B) {
				be := New()
				t := &testing.T{}
				z := unitRows(t, be, m, d, 1)
				dz := newT(t, be, nil, m, d)
				s, ds, stats := newT(t, be, nil, m, m), newT(t, be, nil, m, m), newT(t, be, nil, m, 2)
				b.ResetTimer()
				for k := 0; k < b.N; k++ {
					var err error
					if fused {
						if _, err = be.NTXentFusedForward(z, stats, 0.1); err == nil {
							err = be.NTXentFusedBackward(z, stats, 0.1, dz)
						}
					} else {
						err = be.SimilarityForward(z, s)
						if err == nil {
							_, err = be.NTXentForward(s, 0.1)
						}
						if err == nil {
							err = be.NTXentBackward(s, 0.1, ds)
						}
						if err == nil {
							err = be.SimilarityBackward(z, ds, dz)
						}
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestNTXentFusedForwardIntoMatchesForward: NTXentFusedForwardInto writes
// bit for bit NTXentFusedForward's loss into its slot and the same stats;
// a NaN in z makes the loss and the stats NaN instead of an error.
func TestNTXentFusedForwardIntoMatchesForward(t *testing.T) {
	b := New()
	for _, tc := range []struct {
		m, d, slots, slot int
		tau               float32
	}{{2, 3, 1, 0, 0.5}, {10, 5, 4, 2, 0.1}, {130, 16, 3, 2, 0.2}, {258, 8, 2, 1, 0.05}} {
		t.Run(fmt.Sprintf("M=%d D=%d", tc.m, tc.d), func(t *testing.T) {
			z := unitRows(t, b, tc.m, tc.d, uint64(tc.m))
			stats, stats2 := newT(t, b, nil, tc.m, 2), newT(t, b, nil, tc.m, 2)
			want, err := b.NTXentFusedForward(z, stats, tc.tau)
			must(t, err)
			losses := newT(t, b, nil, tc.slots)
			must(t, b.NTXentFusedForwardInto(z, stats2, tc.tau, losses, tc.slot))
			if got := losses.Host[tc.slot]; math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("losses[%d] = %v, NTXentFusedForward gives %v", tc.slot, got, want)
			}
			if !slices.Equal(bits(stats.Host), bits(stats2.Host)) {
				t.Fatal("stats differ from NTXentFusedForward's")
			}
			z.Host[tc.d] = float32(math.NaN())
			must(t, b.NTXentFusedForwardInto(z, stats2, tc.tau, losses, tc.slot))
			if v := losses.Host[tc.slot]; !math.IsNaN(float64(v)) {
				t.Fatalf("loss of a z holding NaN = %v, want NaN", v)
			}
			if v := stats2.Host[0]; !math.IsNaN(float64(v)) {
				t.Fatalf("stats of a z holding NaN = %v, want NaN", v)
			}
		})
	}
}
