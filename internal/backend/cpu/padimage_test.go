package cpu

import (
	"fmt"
	"math"
	"simclr/internal/benchcmp"
	"slices"
	"testing"
	"time"

	"simclr/internal/backend"
	"simclr/internal/gradcheck"
	"simclr/internal/tensor"
)

// strideGeom returns the convolution geometry and its shifted layout (any
// waste: convShifted) of n images [cin, size, size] under a k x k kernel.
func strideGeom(tb testing.TB, n, cin, size, k, stride, pad int) (convGeom, *shiftedConv) {
	tb.Helper()
	ho := backend.ConvOutSize(size, k, stride, pad)
	g, err := newConvGeom(backend.CheckConv2DForward(tensor.Shape{n, cin, size, size}, tensor.Shape{4, cin, k, k},
		tensor.Shape{n, 4, ho, ho}, backend.ConvParams{Stride: stride, Pad: pad}))
	if err != nil {
		tb.Fatal(err)
	}
	s, ok := g.shifted(convShifted)
	if !ok {
		tb.Fatalf("no shifted layout for k=%d stride=%d", k, stride)
	}
	return g, s
}

// TestPadImageStride2MatchesElementLoop: padImage's stride-2 row split
// writes exactly what the element-by-element loop writes (every phase
// plane, border and unused phases included: both start as NaN), for pads
// 0-2, odd and even sizes and a 1x1 kernel (one phase used).
func TestPadImageStride2MatchesElementLoop(t *testing.T) {
	for _, c := range []struct{ cin, size, k, pad int }{
		{3, 28, 3, 1}, {2, 7, 3, 1}, {2, 14, 3, 1}, {1, 9, 5, 2}, {2, 6, 3, 0}, {3, 13, 1, 0}, {1, 1, 3, 1}, {2, 8, 4, 1},
	} {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			g, s := strideGeom(t, 1, c.cin, c.size, c.k, 2, c.pad)
			img := gradcheck.RandomVector(c.cin*c.size*c.size, 3)
			run := func(element bool) []float32 {
				xp := make([]float32, s.paddedLen(g.cin))
				for i := range xp {
					xp[i] = float32(math.NaN())
				}
				s.elementPad = element
				s.padImage(img, xp, g.cin, g.h, g.w)
				return xp
			}
			want, got := run(true), run(false)
			if !slices.Equal(bits(got), bits(want)) {
				t.Fatal("row split differs from the element loop")
			}
			copied := 0
			for _, v := range got {
				if !math.IsNaN(float64(v)) {
					copied++
				}
			}
			// With every phase read (k > 1) each input value is copied once;
			// a 1x1 kernel reads phase (0,0) only: even rows, even columns.
			want1 := len(img)
			if c.k == 1 {
				want1 = c.cin * ((c.size + 1) / 2) * ((c.size + 1) / 2)
			}
			if copied != want1 {
				t.Fatalf("%d values written, want %d", copied, want1)
			}
		})
	}
}

// BenchmarkPadImageStride2 copies the Fashion-MNIST model's stride-2 inputs
// (512 images) into their phase planes with the element loop (old) and
// the row split (new), alternating call by call, and reports each one's
// median ms and old/new.
func BenchmarkPadImageStride2(b *testing.B) {
	for _, c := range []struct{ cin, size int }{{16, 28}, {32, 14}, {64, 7}} {
		b.Run(fmt.Sprintf("c%d_%dx%d", c.cin, c.size, c.size), func(b *testing.B) {
			const n = 512
			g, s := strideGeom(b, n, c.cin, c.size, 3, 2, 1)
			xs := gradcheck.RandomVector(n*c.cin*c.size*c.size, 4)
			xp := make([]float32, s.paddedLen(g.cin))
			inLen := c.cin * c.size * c.size
			run := func(element bool) time.Duration {
				s.elementPad = element
				start := time.Now()
				for i := 0; i < n; i++ {
					s.padImage(xs[i*inLen:(i+1)*inLen], xp, g.cin, g.h, g.w)
				}
				return time.Since(start)
			}
			run(true)
			run(false)
			benchcmp.Alternate(b, "ms", func() float64 { return run(true).Seconds() * 1e3 }, func() float64 { return run(false).Seconds() * 1e3 })
		})
	}
}

// TestFromGridTMatchesRows: fromGridT (whole-grid transpose, then row
// copies) writes exactly what the row-by-row transposes write, every output
// element (out starts as NaN), for stride 1 and 2 grids and channel counts
// that are not multiples of 8; maps narrower than 8 (which fromGridT hands
// to fromGridTRows) check the mapping only.
func TestFromGridTMatchesRows(t *testing.T) {
	for _, c := range []struct{ cout, size, k, stride, pad int }{
		{16, 28, 3, 1, 1}, {32, 14, 3, 1, 1}, {64, 7, 3, 1, 1}, {5, 9, 3, 1, 1}, {12, 7, 3, 2, 1}, {3, 4, 3, 1, 1}, {8, 1, 3, 1, 1}, {10, 11, 5, 2, 2},
	} {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			_, s := strideGeom(t, 1, 2, c.size, c.k, c.stride, c.pad)
			ho := backend.ConvOutSize(c.size, c.k, c.stride, c.pad)
			grid := gradcheck.RandomVector((s.nq+gridSlack)*c.cout, 5)
			run := func(rows bool) []float32 {
				out := make([]float32, c.cout*ho*ho)
				for i := range out {
					out[i] = float32(math.NaN())
				}
				if rows {
					s.fromGridTRows(grid, out, c.cout, ho, ho)
				} else {
					s.fromGridT(grid, make([]float32, s.nq*c.cout), out, c.cout, ho, ho)
				}
				return out
			}
			want, got := run(true), run(false)
			if !slices.Equal(bits(got), bits(want)) {
				t.Fatal("fromGridT differs from the row-by-row transposes")
			}
			for i, v := range got {
				if math.IsNaN(float64(v)) {
					t.Fatalf("output %d not written", i)
				}
			}
			// Spot-check the mapping itself: out[co, oh, ow] = grid[(oh*wq+ow)*C + co].
			co, oh, ow := c.cout-1, ho-1, ho-1
			if w := grid[(oh*s.wq+ow)*c.cout+co]; got[(co*ho+oh)*ho+ow] != w {
				t.Fatalf("out[%d,%d,%d] = %v, want grid value %v", co, oh, ow, got[(co*ho+oh)*ho+ow], w)
			}
		})
	}
}

// BenchmarkFromGridT copies the Fashion-MNIST model's stride-1 output grids
// (512 images) into [C,H,W] outputs with the row-by-row transposes (old) and
// fromGridT (new), alternating call by call, and reports each one's median
// ms and old/new.
func BenchmarkFromGridT(b *testing.B) {
	for _, c := range []struct{ cout, size int }{{16, 28}, {32, 14}, {64, 7}} {
		b.Run(fmt.Sprintf("c%d_%dx%d", c.cout, c.size, c.size), func(b *testing.B) {
			const n = 512
			_, s := strideGeom(b, 1, 2, c.size, 3, 1, 1)
			grid := gradcheck.RandomVector((s.nq+gridSlack)*c.cout, 6)
			planes := make([]float32, s.nq*c.cout)
			outLen := c.cout * c.size * c.size
			out := make([]float32, n*outLen)
			run := func(rows bool) float64 {
				start := time.Now()
				for i := 0; i < n; i++ {
					if rows {
						s.fromGridTRows(grid, out[i*outLen:(i+1)*outLen], c.cout, c.size, c.size)
					} else {
						s.fromGridT(grid, planes, out[i*outLen:(i+1)*outLen], c.cout, c.size, c.size)
					}
				}
				return time.Since(start).Seconds() * 1e3
			}
			run(true)
			run(false)
			benchcmp.Alternate(b, "ms", func() float64 { return run(true) }, func() float64 { return run(false) })
		})
	}
}
