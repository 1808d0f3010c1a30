package cpu

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"simclr/internal/backend"
	"simclr/internal/gemm"
	"simclr/internal/gradcheck"
	"simclr/internal/tensor"
)

// coutGeom is strideGeom with cout output channels.
func coutGeom(tb testing.TB, n, cin, cout, size, k, stride, pad int) (convGeom, *shiftedConv) {
	tb.Helper()
	ho := backend.ConvOutSize(size, k, stride, pad)
	g, err := newConvGeom(backend.CheckConv2DForward(tensor.Shape{n, cin, size, size}, tensor.Shape{cout, cin, k, k},
		tensor.Shape{n, cout, ho, ho}, backend.ConvParams{Stride: stride, Pad: pad}))
	if err != nil {
		tb.Fatal(err)
	}
	s, ok := g.shifted(convShifted)
	if !ok {
		tb.Fatalf("no shifted layout for k=%d stride=%d", k, stride)
	}
	return g, s
}

// packDyCases: the Fashion-MNIST model's weight gradients (16-64 channels,
// 28x28 to 7x7, stride 1 and 2), channel counts that leave a partial panel,
// grids of several k-blocks (nq > 256) split mid-row, odd sizes.
var packDyCases = []struct{ cout, size, k, stride, pad int }{
	{16, 28, 3, 1, 1}, {32, 14, 3, 1, 1}, {64, 7, 3, 1, 1}, {32, 28, 3, 2, 1}, {64, 14, 3, 2, 1},
	{24, 9, 3, 1, 1}, {5, 13, 3, 1, 1}, {16, 1, 3, 1, 1}, {48, 11, 5, 2, 2}, {16, 40, 3, 1, 1}, {40, 23, 4, 1, 2},
}

// TestPackDyTMatchesGrid: packDyT writes exactly the panels gemm.PackB
// packs from dy copied onto the grid (both buffers start as NaN, so every
// value is checked), for the first of two images (its runs may be read
// rounded up into the next image) and the last one (they may not), with
// and without slack after the operand, and writes nothing past the slack.
func TestPackDyTMatchesGrid(t *testing.T) {
	const n = 2
	nan := float32(math.NaN())
	for _, c := range packDyCases {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			g, s := coutGeom(t, n, 2, c.cout, c.size, c.k, c.stride, c.pad)
			outLen := g.cout * g.ho * g.wo
			dys := gradcheck.RandomVector(n*outLen, 6)
			size := gemm.PackedBSize(s.nq, g.cout)
			for i := 0; i < n; i++ {
				grid := make([]float32, g.cout*s.nq) // zero: the wasted columns
				s.toGrid(dys[i*outLen:(i+1)*outLen], grid, g.cout, g.ho, g.wo)
				want := slices.Repeat([]float32{nan}, size)
				if _, err := gemm.PackB(want, true, s.nq, g.cout, grid, s.nq); err != nil {
					t.Fatal(err)
				}
				for _, slack := range []int{0, packDySlack} {
					got := slices.Repeat([]float32{nan}, size+slack+5)
					pb, err := gemm.NewPackedB(got[:size+slack], s.nq, g.cout)
					if err != nil {
						t.Fatal(err)
					}
					s.packDyT(pb, dys[i*outLen:], g.cout, g.ho, g.wo)
					for j := range want {
						if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
							t.Fatalf("image %d slack %d: packed value %d is %v, PackB of the grid has %v", i, slack, j, got[j], want[j])
						}
					}
					for j, v := range got[size+slack:] {
						if !math.IsNaN(float64(v)) {
							t.Fatalf("image %d slack %d: wrote %v at %d past the slack", i, slack, v, size+slack+j)
						}
					}
				}
			}
		})
	}
}

// TestFilterShiftedPackDyMatchesGrid: the weight gradient with dy packed by
// packDyT is bit-identical to the one through the grid copy and PackB.
func TestFilterShiftedPackDyMatchesGrid(t *testing.T) {
	b := New()
	for _, c := range packDyCases {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			const n, cin = 3, 3
			g, s := coutGeom(t, n, cin, c.cout, c.size, c.k, c.stride, c.pad)
			xs := gradcheck.RandomVector(n*g.cin*g.h*g.w, 7)
			dys := gradcheck.RandomVector(n*g.cout*g.ho*g.wo, 8)
			run := func(viaGrid bool) []float32 {
				s.dyViaGrid = viaGrid
				dw := make([]float32, g.cout*g.colRows)
				b.filterChunkShifted(&g, s, xs, dys, 0, n, dw)
				return dw
			}
			want, got := run(true), run(false)
			if !slices.Equal(bits(got), bits(want)) {
				t.Fatal("weight gradient with packDyT differs from the grid path")
			}
		})
	}
}

// BenchmarkFilterShiftedPackDy runs the Fashion-MNIST model's shifted
// weight gradients (128 images, one thread) through the grid copy and
// PackB (old) and through packDyT (new), alternating call by call (A B B A), and
// reports each one's median ms and old/new.
func BenchmarkFilterShiftedPackDy(b *testing.B) {
	be := New()
	for _, c := range []struct{ cin, cout, size, stride int }{{16, 16, 28, 1}, {16, 32, 28, 2}, {32, 32, 14, 1}, {64, 64, 7, 1}} {
		b.Run(fmt.Sprintf("c%d_%dx%d_s%d", c.cout, c.size, c.size, c.stride), func(b *testing.B) {
			const n = 128
			g, s := coutGeom(b, n, c.cin, c.cout, c.size, 3, c.stride, 1)
			xs := gradcheck.RandomVector(n*g.cin*g.h*g.w, 9)
			dys := gradcheck.RandomVector(n*g.cout*g.ho*g.wo, 10)
			dw := make([]float32, g.cout*g.colRows)
			run := func(viaGrid bool) time.Duration {
				s.dyViaGrid = viaGrid
				start := time.Now()
				be.filterChunkShifted(&g, s, xs, dys, 0, n, dw)
				return time.Since(start)
			}
			run(true)
			run(false)
			var olds, news []float64
			for i := 0; b.Loop(); i++ {
				// A B B A: neither side always runs first.
				if i%2 == 0 {
					olds = append(olds, run(true).Seconds()*1e3)
					news = append(news, run(false).Seconds()*1e3)
				} else {
					news = append(news, run(false).Seconds()*1e3)
					olds = append(olds, run(true).Seconds()*1e3)
				}
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

// BenchmarkPackDy packs dy of 128 images for the weight-gradient gemm: the
// grid copy then gemm.PackB of its transpose (old) against packDyT (new),
// alternating call by call (A B B A); median ms of each and old/new.
func BenchmarkPackDy(b *testing.B) {
	for _, c := range []struct{ cout, size, stride int }{{16, 28, 1}, {32, 28, 2}, {32, 14, 1}, {64, 7, 1}} {
		b.Run(fmt.Sprintf("c%d_%dx%d_s%d", c.cout, c.size, c.size, c.stride), func(b *testing.B) {
			const n = 128
			g, s := coutGeom(b, n, 4, c.cout, c.size, 3, c.stride, 1)
			outLen := g.cout * g.ho * g.wo
			dys := gradcheck.RandomVector(n*outLen, 10)
			grid := make([]float32, g.cout*s.nq)
			buf := make([]float32, gemm.PackedBSize(s.nq, g.cout)+packDySlack)
			pb, err := gemm.NewPackedB(buf, s.nq, g.cout)
			if err != nil {
				b.Fatal(err)
			}
			run := func(viaGrid bool) time.Duration {
				start := time.Now()
				for i := 0; i < n; i++ {
					if viaGrid {
						s.toGrid(dys[i*outLen:(i+1)*outLen], grid, g.cout, g.ho, g.wo)
						if _, err := gemm.PackB(buf, true, s.nq, g.cout, grid, s.nq); err != nil {
							b.Fatal(err)
						}
					} else {
						s.packDyT(pb, dys[i*outLen:], g.cout, g.ho, g.wo)
					}
				}
				return time.Since(start)
			}
			run(true)
			run(false)
			var olds, news []float64
			for i := 0; b.Loop(); i++ {
				if i%2 == 0 {
					olds = append(olds, run(true).Seconds()*1e3)
					news = append(news, run(false).Seconds()*1e3)
				} else {
					news = append(news, run(false).Seconds()*1e3)
					olds = append(olds, run(true).Seconds()*1e3)
				}
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
