package embedmap

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func unit(v []float64) []float64 {
	n := 0.0
	for _, a := range v {
		n += a * a
	}
	n = math.Sqrt(n)
	out := make([]float64, len(v))
	for i, a := range v {
		out[i] = a / n
	}
	return out
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// Two orthogonal unit directions in 5-D; u's largest coordinate (2/|.|) is
// positive, v's largest (-3/|.|) negative.
var (
	dirU = unit([]float64{1, 2, -1, 0.5, 0})
	dirV = unit([]float64{2, -1, 0, 0, -3}) // dot(u, v) = 2 - 2 + 0 + 0 + 0 = 0
	mean = []float64{5, -3, 0.5, 10, 1}
)

// cross is the 4 points mean ± a·u, mean ± b·v: their sample covariance is
// exactly (2a²/3) u uᵀ + (2b²/3) v vᵀ.
func cross(a, b float64) []float32 {
	var x []float32
	for _, p := range []struct {
		s float64
		d []float64
	}{{a, dirU}, {-a, dirU}, {b, dirV}, {-b, dirV}} {
		for j := range mean {
			x = append(x, float32(mean[j]+p.s*p.d[j]))
		}
	}
	return x
}

// gaussian is n points mean + 3·t1·u + 1·t2·v + 0.05 noise in every
// coordinate, t1, t2 standard normal.
func gaussian(n int) []float32 {
	r := rand.New(rand.NewPCG(7, 8))
	var x []float32
	for range n {
		t1, t2 := 3*r.NormFloat64(), r.NormFloat64()
		for j := range mean {
			x = append(x, float32(mean[j]+t1*dirU[j]+t2*dirV[j]+0.05*r.NormFloat64()))
		}
	}
	return x
}

// TestPCARecoversKnownAxes: the components are the stretch directions
// (sign fixed: largest coordinate positive), the variances and the
// explained ratios are the known ones, and the mean is the data's.
func TestPCARecoversKnownAxes(t *testing.T) {
	cases := []struct {
		name            string
		x               []float32
		varU, varV, tot float64 // expected variances along u, v; total
		tolAxis, tolVar float64 // 1-|cos| tolerance; relative variance tolerance
		wantMeanExact   bool
	}{
		{"exact cross", cross(4, 1), 2 * 16.0 / 3, 2 * 1.0 / 3, 2*16.0/3 + 2*1.0/3, 1e-9, 1e-5, true},
		{"gaussian stretched 3:1", gaussian(4000), 9, 1, 9 + 1 + 5*0.05*0.05, 1e-3, 0.06, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := FitPCA(tc.x, len(tc.x)/5, 5, 2)
			if err != nil {
				t.Fatal(err)
			}
			for c, want := range [][]float64{dirU, dirV} {
				got := p.Components[c]
				if cos := dot(got, want); 1-math.Abs(cos) > tc.tolAxis {
					t.Errorf("component %d = %.4f, want ±%.4f (|cos| %.6f)", c+1, got, want, math.Abs(cos))
				}
				if n := dot(got, got); math.Abs(n-1) > 1e-9 {
					t.Errorf("component %d has squared norm %v, want 1", c+1, n)
				}
			}
			if d := dot(p.Components[0], p.Components[1]); math.Abs(d) > 1e-9 {
				t.Errorf("components not orthogonal: dot %v", d)
			}
			// Sign convention: u's largest coordinate is positive, so PC1
			// points along +u; v's largest is negative, so PC2 along -v.
			if dot(p.Components[0], dirU) < 0 || dot(p.Components[1], dirV) > 0 {
				t.Errorf("signs: PC1·u = %v (want > 0), PC2·v = %v (want < 0)", dot(p.Components[0], dirU), dot(p.Components[1], dirV))
			}
			for c, want := range []float64{tc.varU, tc.varV} {
				if got := p.Variance[c]; math.Abs(got-want) > tc.tolVar*want {
					t.Errorf("variance along PC%d = %v, want %v", c+1, got, want)
				}
			}
			if math.Abs(p.TotalVariance-tc.tot) > tc.tolVar*tc.tot {
				t.Errorf("total variance = %v, want %v", p.TotalVariance, tc.tot)
			}
			if r0, want := p.ExplainedRatio(0), tc.varU/tc.tot; math.Abs(r0-want) > tc.tolVar {
				t.Errorf("explained ratio of PC1 = %v, want %v", r0, want)
			}
			if tc.wantMeanExact {
				for j := range mean {
					if math.Abs(p.Mean[j]-mean[j]) > 1e-5 {
						t.Errorf("mean[%d] = %v, want %v", j, p.Mean[j], mean[j])
					}
				}
			}
		})
	}
}

// TestProjectCross: the cross's points land at (±a, 0) and (0, ±b) in the
// sign convention's orientation.
func TestProjectCross(t *testing.T) {
	x := cross(4, 1)
	p, err := FitPCA(x, 4, 5, 2)
	if err != nil {
		t.Fatal(err)
	}
	got := p.Project(x)
	want := [][]float64{{4, 0}, {-4, 0}, {0, -1}, {0, 1}} // PC2 = -v
	for i := range want {
		for c := range 2 {
			if math.Abs(got[i][c]-want[i][c]) > 1e-5 {
				t.Fatalf("point %d projects to %v, want %v", i, got[i], want[i])
			}
		}
	}
}

// TestPCAIndependentOfRowOrder: shuffling the rows (or not) gives the same
// components and signs, so maps do not flip from run to run.
func TestPCAIndependentOfRowOrder(t *testing.T) {
	x := gaussian(500)
	a, err := FitPCA(x, 500, 5, 2)
	if err != nil {
		t.Fatal(err)
	}
	rev := make([]float32, 0, len(x))
	for i := 499; i >= 0; i-- {
		rev = append(rev, x[i*5:(i+1)*5]...)
	}
	b, err := FitPCA(rev, 500, 5, 2)
	if err != nil {
		t.Fatal(err)
	}
	for c := range 2 {
		if d := dot(a.Components[c], b.Components[c]); d < 1-1e-9 {
			t.Errorf("PC%d differs when the rows are reversed: dot %v", c+1, d)
		}
	}
}

func TestFitPCAErrors(t *testing.T) {
	cases := []struct {
		name       string
		x          []float32
		n, dim, k  int
		wantSubstr string
	}{
		{"one row", []float32{1, 2, 3}, 1, 3, 2, "at least 2"},
		{"too many components", make([]float32, 6), 3, 2, 3, "at most 2"},
		{"length mismatch", make([]float32, 5), 2, 3, 2, "want 6"},
		{"all the same point", []float32{1, 2, 1, 2, 1, 2}, 3, 2, 2, "collapsed"},
		{"no components", make([]float32, 6), 3, 2, 0, ">= 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FitPCA(tc.x, tc.n, tc.dim, tc.k)
			if err == nil || !strings.Contains(err.Error(), tc.wantSubstr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantSubstr)
			}
		})
	}
}
