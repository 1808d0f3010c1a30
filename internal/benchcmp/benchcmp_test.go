package benchcmp

import (
	"testing"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 3}} {
		if got := Median(append([]float64(nil), c.in...)); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// TestAlternateOrder: the two functions alternate which runs first, and
// each runs once per iteration.
func TestAlternateOrder(t *testing.T) {
	var calls []string
	res := testing.Benchmark(func(b *testing.B) {
		calls = calls[:0]
		Alternate(b, "ms", func() float64 { calls = append(calls, "old"); return 2 }, func() float64 { calls = append(calls, "new"); return 1 })
	})
	if len(calls) < 4 || len(calls)%2 != 0 {
		t.Fatalf("calls %v: want pairs", calls)
	}
	for i := 0; i+1 < len(calls); i += 2 {
		first := "old"
		if (i/2)%2 == 1 {
			first = "new"
		}
		if calls[i] != first || calls[i] == calls[i+1] {
			t.Fatalf("iteration %d ran %s then %s, want %s first", i/2, calls[i], calls[i+1], first)
		}
	}
	if r, o := res.Extra["old/new"], res.Extra["old-ms"]; r != 2 || o != 2 {
		t.Errorf("old/new = %v, old-ms = %v, want 2 and 2", r, o)
	}
}
