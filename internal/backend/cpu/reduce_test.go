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

// TestSumSquaresMulti: one value per tensor, each SumSquares's bits.
func TestSumSquaresMulti(t *testing.T) {
	b := New()
	var ts []*Tensor
	for k, n := range []int{5, 0, 70000, 1} {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(i%13) - 6.5 + float32(k)
		}
		ts = append(ts, newT(t, b, v, n))
	}
	got, err := b.SumSquaresMulti(ts)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ts) {
		t.Fatalf("%d values for %d tensors", len(got), len(ts))
	}
	for i, x := range ts {
		want, _ := b.SumSquares(x)
		if math.Float64bits(got[i]) != math.Float64bits(want) {
			t.Errorf("tensor %d: %v, SumSquares %v", i, got[i], want)
		}
	}
}
