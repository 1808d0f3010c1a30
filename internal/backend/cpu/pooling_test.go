package cpu

import (
	"fmt"
	"math"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/gradcheck"
)

type poolCase struct {
	n, c, h, w int
	p          backend.PoolParams
}

var poolCases = []poolCase{
	{2, 3, 8, 8, backend.PoolParams{Kernel: 3, Stride: 2, Pad: 1}}, // ResNet stem
	{1, 2, 7, 5, backend.PoolParams{Kernel: 3, Stride: 2, Pad: 1}}, // odd sizes
	{2, 1, 5, 5, backend.PoolParams{Kernel: 2, Stride: 2, Pad: 0}}, // drops the last row/column
	{1, 2, 6, 7, backend.PoolParams{Kernel: 3, Stride: 1, Pad: 1}}, // heavy overlap
	{1, 1, 9, 9, backend.PoolParams{Kernel: 5, Stride: 3, Pad: 2}},
}

// naiveMaxPool returns y and, for each output, the arg-max input index.
func naiveMaxPool(c poolCase, x []float32) ([]float64, []int) {
	ho := backend.ConvOutSize(c.h, c.p.Kernel, c.p.Stride, c.p.Pad)
	wo := backend.ConvOutSize(c.w, c.p.Kernel, c.p.Stride, c.p.Pad)
	y := make([]float64, c.n*c.c*ho*wo)
	arg := make([]int, len(y))
	for pl := 0; pl < c.n*c.c; pl++ {
		for oh := 0; oh < ho; oh++ {
			for ow := 0; ow < wo; ow++ {
				best, bi := math.Inf(-1), -1
				for kh := 0; kh < c.p.Kernel; kh++ {
					for kw := 0; kw < c.p.Kernel; kw++ {
						ih, iw := oh*c.p.Stride-c.p.Pad+kh, ow*c.p.Stride-c.p.Pad+kw
						if ih < 0 || ih >= c.h || iw < 0 || iw >= c.w {
							continue
						}
						i := (pl*c.h+ih)*c.w + iw
						if v := float64(x[i]); bi < 0 || v > best {
							best, bi = v, i
						}
					}
				}
				o := (pl*ho+oh)*wo + ow
				y[o], arg[o] = best, bi
			}
		}
	}
	return y, arg
}

func TestMaxPool2D(t *testing.T) {
	for _, c := range poolCases {
		t.Run(fmt.Sprintf("%dx%d_k%d_s%d_p%d", c.h, c.w, c.p.Kernel, c.p.Stride, c.p.Pad), func(t *testing.T) {
			b := New()
			x := newT(t, b, nil, c.n, c.c, c.h, c.w)
			// Distinct values 0.05 apart, mostly negative so that padding
			// treated as 0 instead of -inf would show.
			distinctValues(x.Host, 0.05, 3)
			for i := range x.Host {
				x.Host[i] -= 2
			}
			ho := backend.ConvOutSize(c.h, c.p.Kernel, c.p.Stride, c.p.Pad)
			wo := backend.ConvOutSize(c.w, c.p.Kernel, c.p.Stride, c.p.Pad)
			y := newT(t, b, nil, c.n, c.c, ho, wo)
			must(t, b.MaxPool2DForward(x, y, c.p))
			want, _ := naiveMaxPool(c, x.Host)
			closeTo(t, "y", y.Host, want, 0, 0)

			r := newT(t, b, gradcheck.RandomVector(y.Numel(), 4), c.n, c.c, ho, wo)
			dx := randT(t, b, 5, 100, c.n, c.c, c.h, c.w)
			must(t, b.MaxPool2DBackward(x, r, dx, c.p))
			loss := func() float64 {
				must(t, b.MaxPool2DForward(x, y, c.p))
				return gradcheck.Dot64(r.Host, y.Host)
			}
			// Values are 0.05 apart, so a step of 1e-2 never changes an arg-max.
			checkGrad(t, loss, [][]float32{x.Host}, [][]float32{dx.Host}, 1e-2, 1e-3, 1e-4)
		})
	}
}

// TestMaxPool2DTies checks that the first maximum in row-major window order
// takes the gradient, as in PyTorch.
func TestMaxPool2DTies(t *testing.T) {
	b := New()
	p := backend.PoolParams{Kernel: 2, Stride: 2, Pad: 0}
	x := newT(t, b, []float32{
		1, 1, 0, 3,
		1, 1, 3, 3,
	}, 1, 1, 2, 4)
	dy := newT(t, b, []float32{10, 20}, 1, 1, 1, 2)
	dx := newT(t, b, nil, 1, 1, 2, 4)
	must(t, b.MaxPool2DBackward(x, dy, dx, p))
	closeTo(t, "dx", dx.Host, []float64{10, 0, 0, 20, 0, 0, 0, 0}, 0, 0)
	// Overlapping windows add their gradients at a shared arg-max.
	p = backend.PoolParams{Kernel: 3, Stride: 1, Pad: 1}
	x = newT(t, b, []float32{0, 0, 0, 0, 9, 0, 0, 0, 0}, 1, 1, 3, 3)
	dy = newT(t, b, []float32{1, 1, 1, 1, 1, 1, 1, 1, 1}, 1, 1, 3, 3)
	dx = newT(t, b, nil, 1, 1, 3, 3)
	must(t, b.MaxPool2DBackward(x, dy, dx, p))
	closeTo(t, "dx overlap", dx.Host, []float64{0, 0, 0, 0, 9, 0, 0, 0, 0}, 0, 0)
}

func TestMaxPool2DRejectsBadParams(t *testing.T) {
	b := New()
	x := newT(t, b, nil, 1, 1, 4, 4)
	y := newT(t, b, nil, 1, 1, 2, 2)
	for _, p := range []backend.PoolParams{{Kernel: 0, Stride: 1}, {Kernel: 2, Stride: 0}, {Kernel: 2, Stride: 2, Pad: 2}, {Kernel: 9, Stride: 1}} {
		if err := b.MaxPool2DForward(x, y, p); err == nil {
			t.Errorf("params %+v accepted", p)
		}
	}
}

func TestGlobalAvgPool(t *testing.T) {
	b := New()
	n, c, h, w := 3, 4, 5, 3
	x := randT(t, b, 6, 1, n, c, h, w)
	y := newT(t, b, nil, n, c)
	must(t, b.GlobalAvgPoolForward(x, y))
	want := make([]float64, n*c)
	for i := range want {
		for j := 0; j < h*w; j++ {
			want[i] += float64(x.Host[i*h*w+j]) / float64(h*w)
		}
	}
	closeTo(t, "y", y.Host, want, 1e-6, 1e-7)
	r := newT(t, b, gradcheck.RandomVector(n*c, 7), n, c)
	dx := randT(t, b, 8, 100, n, c, h, w)
	must(t, b.GlobalAvgPoolBackward(r, dx))
	loss := func() float64 {
		must(t, b.GlobalAvgPoolForward(x, y))
		return gradcheck.Dot64(r.Host, y.Host)
	}
	checkGrad(t, loss, [][]float32{x.Host}, [][]float32{dx.Host}, 1e-2, 1e-3, 1e-4)
}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}
