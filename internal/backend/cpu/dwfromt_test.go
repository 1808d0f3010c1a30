package cpu

import (
	"fmt"
	"math"
	"simclr/internal/benchcmp"
	"slices"
	"testing"
	"time"

	"simclr/internal/gradcheck"
)

// dwFromTCases: the weight-gradient shapes of case (a) (ResNet-18, width
// 64: 3x3 kernels over 64-256 channels) and case (b) (width 16), and sizes
// that are not multiples of 8 in either direction.
var dwFromTCases = []struct{ rows, cout int }{
	{576, 64}, {1152, 128}, {2304, 256}, {144, 16}, {288, 32}, {27, 16}, {13, 5}, {1, 9}, {9, 1}, {17, 23},
}

// TestDwFromTMatchesLoop: dwFromT (8x8 transposes) writes exactly what the
// element loop writes, every element of dw (both start as NaN, so a value
// not written shows), and nothing past rows*cout.
func TestDwFromTMatchesLoop(t *testing.T) {
	nan := float32(math.NaN())
	for _, c := range dwFromTCases {
		t.Run(fmt.Sprintf("%dx%d", c.rows, c.cout), func(t *testing.T) {
			dwT := gradcheck.RandomVector(c.rows*c.cout, 11)
			run := func(element bool) []float32 {
				dw := slices.Repeat([]float32{nan}, c.rows*c.cout+3)
				s := &shiftedConv{elementDw: element}
				s.dwFromT(dw[:c.rows*c.cout], dwT, c.rows, c.cout)
				return dw
			}
			want, got := run(true), run(false)
			if !slices.Equal(bits(got), bits(want)) {
				t.Fatal("dwFromT differs from the element loop")
			}
			for i, v := range got {
				if math.IsNaN(float64(v)) != (i >= c.rows*c.cout) {
					t.Fatalf("dw[%d] = %v: every element below %d must be written, none after", i, v, c.rows*c.cout)
				}
			}
			// The element loop is the definition: dw[co][r] = dwT[r][co].
			for _, r := range []int{0, c.rows / 2, c.rows - 1} {
				for _, co := range []int{0, c.cout - 1} {
					if got[co*c.rows+r] != dwT[r*c.cout+co] {
						t.Fatalf("dw[%d][%d] = %v, want dwT[%d][%d] = %v", co, r, got[co*c.rows+r], r, co, dwT[r*c.cout+co])
					}
				}
			}
		})
	}
}

// TestFilterShiftedDwFromTMatchesLoop: the whole shifted weight gradient is
// bit-identical with either transpose.
func TestFilterShiftedDwFromTMatchesLoop(t *testing.T) {
	b := New()
	for _, c := range []struct{ cin, size, stride int }{{16, 14, 1}, {3, 9, 2}, {5, 7, 1}} {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			const n = 3
			g, s := strideGeom(t, n, c.cin, c.size, 3, c.stride, 1)
			xs := gradcheck.RandomVector(n*g.cin*g.h*g.w, 12)
			dys := gradcheck.RandomVector(n*g.cout*g.ho*g.wo, 13)
			run := func(element bool) []float32 {
				s.elementDw = element
				dw := make([]float32, g.cout*g.colRows)
				b.filterChunkShifted(&g, s, xs, dys, 0, n, dw)
				return dw
			}
			if want, got := run(true), run(false); !slices.Equal(bits(got), bits(want)) {
				t.Fatal("weight gradient with dwFromT differs from the element loop")
			}
		})
	}
}

// BenchmarkDwFromT transposes case (a)'s and case (b)'s weight gradients
// with the element loop (old) and dwFromT (new), alternating call by call
// (A B B A), 64 transposes a call; median ms of each and old/new.
func BenchmarkDwFromT(b *testing.B) {
	for _, c := range []struct{ rows, cout int }{{576, 64}, {1152, 128}, {2304, 256}, {144, 16}, {576, 32}} {
		b.Run(fmt.Sprintf("%dx%d", c.rows, c.cout), func(b *testing.B) {
			dwT := gradcheck.RandomVector(c.rows*c.cout, 14)
			dw := make([]float32, c.rows*c.cout)
			s := &shiftedConv{}
			run := func(element bool) time.Duration {
				s.elementDw = element
				start := time.Now()
				for range 64 {
					s.dwFromT(dw, dwT, c.rows, c.cout)
				}
				return time.Since(start)
			}
			run(true)
			run(false)
			benchcmp.Alternate(b, "ms", func() float64 { return run(true).Seconds() * 1e3 }, func() float64 { return run(false).Seconds() * 1e3 })
		})
	}
}
