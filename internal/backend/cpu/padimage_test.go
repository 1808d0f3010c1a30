package cpu

import (
	"fmt"
	"math"
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
			var olds, news []float64
			for b.Loop() {
				olds = append(olds, run(true).Seconds()*1e3)
				news = append(news, run(false).Seconds()*1e3)
			}
			slices.Sort(olds)
			slices.Sort(news)
			mo, mn := olds[len(olds)/2], news[len(news)/2]
			b.ReportMetric(mo, "old-ms")
			b.ReportMetric(mn, "new-ms")
			b.ReportMetric(mo/mn, "old/new")
		})
	}
}
