package cpu

import (
	"fmt"
	"simclr/internal/benchcmp"
	"slices"
	"testing"
	"time"

	"simclr/internal/gradcheck"
)

// TestAddPartialsMatchesLoop: addPartials with vec.Add gives exactly the
// element loop's sums (same additions in the same order), for 1-7 partials
// and ranges that start anywhere and are not multiples of 8; values
// outside the range stay untouched.
func TestAddPartialsMatchesLoop(t *testing.T) {
	for _, c := range []struct{ n, lo, length, parts int }{
		{1000, 0, 1000, 7}, {1000, 3, 997, 1}, {64, 5, 13, 3}, {9, 0, 7, 2}, {5000, 1234, 2049, 5}, {10, 10, 0, 4},
	} {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			partials := make([][]float32, c.parts)
			for i := range partials {
				partials[i] = gradcheck.RandomVector(c.n, uint64(20+i))
			}
			base := gradcheck.RandomVector(c.n, 19)
			run := func(element bool) []float32 {
				out := slices.Clone(base)
				addPartials(out[c.lo:c.lo+c.length], partials, c.lo, element)
				return out
			}
			want, got := run(true), run(false)
			if !slices.Equal(bits(got), bits(want)) {
				t.Fatal("addPartials with vec.Add differs from the element loop")
			}
			for i := range got {
				inside := i >= c.lo && i < c.lo+c.length
				if !inside && got[i] != base[i] {
					t.Fatalf("element %d outside the range changed", i)
				}
				if inside && c.parts > 0 {
					sum := base[i]
					for _, p := range partials {
						sum += p[i]
					}
					if got[i] != sum {
						t.Fatalf("element %d = %v, want %v", i, got[i], sum)
					}
				}
			}
		})
	}
}

// BenchmarkAddPartials adds 7 partial weight gradients (case (a)'s 256- and
// 512-channel 3x3 layers, case (b)'s 64-channel one) with the element loop
// (old) and vec.Add (new), one thread, alternating call by call (A B B A);
// median ms of each and old/new.
func BenchmarkAddPartials(b *testing.B) {
	for _, n := range []int{64 * 64 * 9, 256 * 256 * 9, 512 * 512 * 9} {
		b.Run(fmt.Sprintf("n%d", n), func(b *testing.B) {
			partials := make([][]float32, 7)
			for i := range partials {
				partials[i] = gradcheck.RandomVector(n, uint64(30+i))
			}
			out := make([]float32, n)
			run := func(element bool) time.Duration {
				start := time.Now()
				addPartials(out, partials, 0, element)
				return time.Since(start)
			}
			run(true)
			run(false)
			benchcmp.Alternate(b, "ms", func() float64 { return run(true).Seconds() * 1e3 }, func() float64 { return run(false).Seconds() * 1e3 })
		})
	}
}
