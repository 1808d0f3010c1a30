package cpu

import (
	"math"
	"testing"
)

func TestReductions(t *testing.T) {
	b := New()
	n := 2*reduceChunk + 5
	x, y := randT(t, b, 1, 2, n), randT(t, b, 2, 2, n)
	var ss, dot float64
	for i := range x.Host {
		ss += float64(x.Host[i]) * float64(x.Host[i])
		dot += float64(x.Host[i]) * float64(y.Host[i])
	}
	gotSS, err := b.SumSquares(x)
	must(t, err)
	gotDot, err := b.Dot(x, y)
	must(t, err)
	if math.Abs(gotSS-ss) > 1e-9*ss || math.Abs(gotDot-dot) > 1e-9*math.Max(1, math.Abs(dot)) {
		t.Fatalf("SumSquares %v (want %v), Dot %v (want %v)", gotSS, ss, gotDot, dot)
	}
	out := newT(t, b, nil, n)
	must(t, b.Add(x, y, out))
	for i := range out.Host {
		if out.Host[i] != x.Host[i]+y.Host[i] {
			t.Fatalf("Add[%d] = %v, want %v", i, out.Host[i], x.Host[i]+y.Host[i])
		}
	}
	want := f64(out.Host)
	must(t, b.Add(out, x, out)) // out aliases a
	for i := range want {
		want[i] = float64(float32(want[i]) + x.Host[i])
	}
	closeTo(t, "aliased add", out.Host, want, 0, 0)
}
