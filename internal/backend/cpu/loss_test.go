package cpu

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// naiveNTXent is the per-row formula written plainly (float64, no max
// subtraction): loss_i = -log(exp(s_ip/tau) / sum_{j != i} exp(s_ij/tau)).
func naiveNTXent(s []float32, m int, tau float64) float64 {
	var total float64
	for i := 0; i < m; i++ {
		pos := (i + m/2) % m
		var den float64
		for j := 0; j < m; j++ {
			if j != i {
				den += math.Exp(float64(s[i*m+j]) / tau)
			}
		}
		total += -math.Log(math.Exp(float64(s[i*m+pos])/tau) / den)
	}
	return total / float64(m)
}

// cosineLike returns an [m,m] matrix with entries in [-1,1] and a unit
// diagonal, like a cosine-similarity matrix (not necessarily symmetric).
func cosineLike(t *testing.T, b *Backend, m int, seed uint64) *Tensor {
	s := randT(t, b, seed, 1, m, m)
	for i := 0; i < m; i++ {
		s.Host[i*m+i] = 1
	}
	return s
}

var ntxentNs = []int{1, 2, 3, 5}
var ntxentTaus = []float32{1, 0.5, 0.1, 0.05}

func TestNTXentMatchesNaive(t *testing.T) {
	for _, n := range ntxentNs {
		for _, tau := range ntxentTaus {
			t.Run(fmt.Sprintf("N%d_tau%g", n, tau), func(t *testing.T) {
				b := New()
				m := 2 * n
				s := cosineLike(t, b, m, uint64(10*n))
				got, err := b.NTXentForward(s, tau)
				must(t, err)
				want := naiveNTXent(s.Host, m, float64(tau))
				if math.Abs(float64(got)-want) > 1e-6*math.Max(1, want) {
					t.Fatalf("loss %.9g, want %.9g", got, want)
				}
			})
		}
	}
}

func TestNTXentGradients(t *testing.T) {
	for _, n := range ntxentNs {
		for _, tau := range ntxentTaus {
			t.Run(fmt.Sprintf("N%d_tau%g", n, tau), func(t *testing.T) {
				b := New()
				m := 2 * n
				s := cosineLike(t, b, m, uint64(20*n))
				ds := randT(t, b, 3, 100, m, m)
				must(t, b.NTXentBackward(s, tau, ds))
				for i := 0; i < m; i++ {
					if ds.Host[i*m+i] != 0 {
						t.Fatalf("ds[%d,%d] = %g, want 0 (the diagonal is excluded)", i, i, ds.Host[i*m+i])
					}
				}
				loss := func() float64 {
					l, err := b.NTXentForward(s, tau)
					must(t, err)
					return float64(l)
				}
				// The loss is returned in float32 (rounding ~2.4e-7 -> ~1.2e-4 in
				// the difference quotient at eps 2e-3); the truncation error is
				// about eps²/tau³/(6*2N) <= 5e-4/(2N).
				checkGrad(t, loss, [][]float32{s.Host}, [][]float32{ds.Host}, 2e-3, 5e-3, 5e-4)
			})
		}
	}
}

// TestNTXentLargeSimilarities uses logits of +-1000 (s = 50, tau = 0.05),
// where a naive exp overflows, on cases with a closed-form answer.
func TestNTXentLargeSimilarities(t *testing.T) {
	const tau = 0.05
	b := New()
	m := 4
	// All off-diagonal entries equal: softmax is uniform over the m-1 others,
	// so every row's loss is log(m-1) and ds = (1/(m-1) - [j==pos])/(tau*m).
	s := newT(t, b, nil, m, m)
	for i := range s.Host {
		s.Host[i] = 50
	}
	got, err := b.NTXentForward(s, tau)
	must(t, err)
	if want := math.Log(3); math.Abs(float64(got)-want) > 1e-6 {
		t.Fatalf("uniform logits: loss %.9g, want log 3 = %.9g", got, want)
	}
	ds := newT(t, b, nil, m, m)
	must(t, b.NTXentBackward(s, tau, ds))
	want := make([]float64, m*m)
	for i := 0; i < m; i++ {
		for j := 0; j < m; j++ {
			if j == i {
				continue
			}
			want[i*m+j] = 1.0 / 3 / (tau * float64(m))
			if j == (i+m/2)%m {
				want[i*m+j] -= 1 / (tau * float64(m))
			}
		}
	}
	closeTo(t, "ds uniform", ds.Host, want, 1e-6, 1e-7)

	// Positives at +50, negatives at -50: the loss is log(1 + 2e^-2000) = 0
	// and the gradient vanishes, both without NaN or Inf.
	for i := 0; i < m; i++ {
		for j := 0; j < m; j++ {
			switch {
			case j == (i+m/2)%m:
				s.Host[i*m+j] = 50
			case j == i:
				s.Host[i*m+j] = 60 // the diagonal must be ignored even when largest
			default:
				s.Host[i*m+j] = -50
			}
		}
	}
	got, err = b.NTXentForward(s, tau)
	must(t, err)
	if got != 0 {
		t.Fatalf("separated logits: loss %g, want 0", got)
	}
	must(t, b.NTXentBackward(s, tau, ds))
	closeTo(t, "ds separated", ds.Host, make([]float64, m*m), 0, 1e-30)

	// Positives at -50, one negative at +50: loss = 2000 per row (large but
	// finite, exact to float32 precision).
	for i := 0; i < m; i++ {
		for j := 0; j < m; j++ {
			if j == (i+m/2)%m {
				s.Host[i*m+j] = -50
			} else if j != i {
				s.Host[i*m+j] = 50
			}
		}
	}
	got, err = b.NTXentForward(s, tau)
	must(t, err)
	// loss_i = 1000 + log(2 + e^-2000) - (-1000) = 2000 + log 2.
	if want := 2000 + math.Log(2); math.Abs(float64(got)-want) > 1e-4 {
		t.Fatalf("inverted logits: loss %.9g, want %.9g", got, want)
	}
}

// TestNTXentChainGradient checks the whole SimCLR head on unnormalised z:
// normalize -> similarity -> NT-Xent, with the backward chained by hand.
func TestNTXentChainGradient(t *testing.T) {
	for _, tau := range []float32{0.5, 0.05} {
		t.Run(fmt.Sprintf("tau%g", tau), func(t *testing.T) {
			b := New()
			m, d := 6, 4
			z := randT(t, b, 31, 1, m, d)
			y, norms := newT(t, b, nil, m, d), newT(t, b, nil, m)
			s, ds := newT(t, b, nil, m, m), newT(t, b, nil, m, m)
			dy, dz := newT(t, b, nil, m, d), newT(t, b, nil, m, d)
			forward := func() float64 {
				must(t, b.L2NormalizeForward(z, y, norms))
				must(t, b.SimilarityForward(y, s))
				l, err := b.NTXentForward(s, tau)
				must(t, err)
				return float64(l)
			}
			forward()
			must(t, b.NTXentBackward(s, tau, ds))
			must(t, b.SimilarityBackward(y, ds, dy))
			must(t, b.L2NormalizeBackward(y, norms, dy, dz))
			checkGrad(t, forward, [][]float32{z.Host}, [][]float32{dz.Host}, 1e-3, 5e-3, 1e-3)
		})
	}
}

func TestNTXentRejectsBadInput(t *testing.T) {
	b := New()
	tests := []struct {
		name  string
		s     *Tensor
		tau   float32
		want  string
		setup func(s *Tensor)
	}{
		{"odd", newT(t, b, nil, 3, 3), 0.5, "[2N,2N]", nil},
		{"not square", newT(t, b, nil, 4, 2), 0.5, "square", nil},
		{"tau 0", newT(t, b, nil, 4, 4), 0, "temperature", nil},
		{"tau nan", newT(t, b, nil, 4, 4), float32(math.NaN()), "temperature", nil},
		{"nan s", newT(t, b, nil, 4, 4), 0.5, "s[1,2]", func(s *Tensor) { s.Host[6] = float32(math.NaN()) }},
		{"inf s", newT(t, b, nil, 4, 4), 0.5, "s[3,0]", func(s *Tensor) { s.Host[12] = float32(math.Inf(1)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup(tc.s)
			}
			_, err := b.NTXentForward(tc.s, tc.tau)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nt-xent") {
				t.Fatalf("forward: got %v, want an nt-xent error containing %q", err, tc.want)
			}
			err = b.NTXentBackward(tc.s, tc.tau, newT(t, b, nil, tc.s.Shape...))
			if err == nil {
				t.Fatal("backward accepted it")
			}
		})
	}
}

func TestSoftmaxCrossEntropy(t *testing.T) {
	b := New()
	n, k := 5, 4
	logits := randT(t, b, 41, 3, n, k)
	labels := []int32{0, 3, 1, 1, 2}
	got, err := b.SoftmaxCrossEntropyForward(logits, labels)
	must(t, err)
	var want float64
	for i := 0; i < n; i++ {
		var den float64
		for j := 0; j < k; j++ {
			den += math.Exp(float64(logits.Host[i*k+j]))
		}
		want += -math.Log(math.Exp(float64(logits.Host[i*k+int(labels[i])])) / den)
	}
	want /= float64(n)
	if math.Abs(float64(got)-want) > 1e-6 {
		t.Fatalf("loss %.9g, want %.9g", got, want)
	}
	dl := randT(t, b, 42, 100, n, k)
	must(t, b.SoftmaxCrossEntropyBackward(logits, labels, dl))
	loss := func() float64 {
		l, err := b.SoftmaxCrossEntropyForward(logits, labels)
		must(t, err)
		return float64(l)
	}
	checkGrad(t, loss, [][]float32{logits.Host}, [][]float32{dl.Host}, 2e-3, 3e-3, 3e-4)

	// Huge logits stay finite: row [1000, 0] with label 1 costs 1000.
	big := newT(t, b, []float32{1000, 0}, 1, 2)
	l, err := b.SoftmaxCrossEntropyForward(big, []int32{1})
	must(t, err)
	if l != 1000 {
		t.Fatalf("loss of [1000 0] label 1 = %g, want 1000", l)
	}
}

func TestSoftmaxCrossEntropyRejectsBadInput(t *testing.T) {
	b := New()
	logits := newT(t, b, nil, 2, 3)
	tests := []struct {
		name   string
		logits *Tensor
		labels []int32
		want   string
	}{
		{"label too big", logits, []int32{0, 3}, "label 3 of row 1"},
		{"negative label", logits, []int32{-1, 0}, "label -1 of row 0"},
		{"label count", logits, []int32{0}, "1 labels for 2 rows"},
		{"empty", newT(t, b, nil, 0, 3), nil, "empty"},
		{"nan", newT(t, b, []float32{0, float32(math.NaN())}, 1, 2), []int32{0}, "logits[0,1]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.SoftmaxCrossEntropyForward(tc.logits, tc.labels)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if err := b.SoftmaxCrossEntropyBackward(tc.logits, tc.labels, newT(t, b, nil, tc.logits.Shape...)); err == nil {
				t.Fatal("backward accepted it")
			}
		})
	}
}

// TestNTXentForwardIntoMatchesForward: NTXentForwardInto writes bit for
// bit NTXentForward's loss into its slot, leaves the other slots alone,
// and turns a non-finite s into a NaN loss instead of an error.
func TestNTXentForwardIntoMatchesForward(t *testing.T) {
	b := New()
	for _, tc := range []struct {
		n, slots, slot int
		tau            float32
	}{{1, 1, 0, 0.5}, {2, 4, 3, 0.1}, {5, 3, 1, 0.05}, {37, 2, 0, 0.2}} {
		t.Run(fmt.Sprintf("N=%d slot %d of %d", tc.n, tc.slot, tc.slots), func(t *testing.T) {
			m := 2 * tc.n
			s := cosineLike(t, b, m, uint64(m))
			want, err := b.NTXentForward(s, tc.tau)
			must(t, err)
			losses := newT(t, b, nil, tc.slots)
			for i := range losses.Host {
				losses.Host[i] = -7
			}
			must(t, b.NTXentForwardInto(s, tc.tau, losses, tc.slot))
			for i, v := range losses.Host {
				switch {
				case i == tc.slot && math.Float32bits(v) != math.Float32bits(want):
					t.Fatalf("losses[%d] = %v (%#x), NTXentForward gives %v (%#x)", i, v, math.Float32bits(v), want, math.Float32bits(want))
				case i != tc.slot && v != -7:
					t.Fatalf("losses[%d] = %v, want the untouched -7", i, v)
				}
			}
			s.Host[m+1] = float32(math.Inf(-1))
			must(t, b.NTXentForwardInto(s, tc.tau, losses, tc.slot))
			if v := losses.Host[tc.slot]; !math.IsNaN(float64(v)) {
				t.Fatalf("loss of an s holding -Inf = %v, want NaN", v)
			}
		})
	}
}

// TestNTXentForwardBackwardIntoMatches: NTXentForwardBackwardInto writes
// bit for bit NTXentForward's loss into its slot (the other slots left
// alone) and NTXentBackward's ds; a non-finite s makes the loss and all
// of ds NaN instead of an error.
func TestNTXentForwardBackwardIntoMatches(t *testing.T) {
	b := New()
	for _, tc := range []struct {
		n, slots, slot int
		tau            float32
	}{{1, 1, 0, 0.5}, {2, 4, 3, 0.1}, {37, 2, 0, 0.2}} {
		t.Run(fmt.Sprintf("N=%d slot %d of %d", tc.n, tc.slot, tc.slots), func(t *testing.T) {
			m := 2 * tc.n
			s := cosineLike(t, b, m, uint64(m))
			want, err := b.NTXentForward(s, tc.tau)
			must(t, err)
			wantDS := newT(t, b, nil, m, m)
			must(t, b.NTXentBackward(s, tc.tau, wantDS))
			ds := newT(t, b, nil, m, m)
			losses := newT(t, b, nil, tc.slots)
			for i := range losses.Host {
				losses.Host[i] = -7
			}
			must(t, b.NTXentForwardBackwardInto(s, tc.tau, ds, losses, tc.slot))
			for i, v := range losses.Host {
				switch {
				case i == tc.slot && math.Float32bits(v) != math.Float32bits(want):
					t.Fatalf("losses[%d] = %v, NTXentForward gives %v", i, v, want)
				case i != tc.slot && v != -7:
					t.Fatalf("losses[%d] = %v, want the untouched -7", i, v)
				}
			}
			for i, v := range ds.Host {
				if math.Float32bits(v) != math.Float32bits(wantDS.Host[i]) {
					t.Fatalf("ds[%d] = %v, NTXentBackward gives %v", i, v, wantDS.Host[i])
				}
			}
			s.Host[m+1] = float32(math.NaN())
			must(t, b.NTXentForwardBackwardInto(s, tc.tau, ds, losses, tc.slot))
			if v := losses.Host[tc.slot]; !math.IsNaN(float64(v)) {
				t.Fatalf("loss of an s holding NaN = %v, want NaN", v)
			}
			for i, v := range ds.Host {
				if !math.IsNaN(float64(v)) {
					t.Fatalf("ds[%d] = %v after an s holding NaN, want NaN", i, v)
				}
			}
		})
	}
}
