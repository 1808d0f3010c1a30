package cpu

import (
	"fmt"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/gradcheck"
)

type convCase struct {
	n, cin, cout, h, w, k, stride, pad int
}

func (c convCase) String() string {
	return fmt.Sprintf("n%d_cin%d_cout%d_%dx%d_k%d_s%d_p%d", c.n, c.cin, c.cout, c.h, c.w, c.k, c.stride, c.pad)
}

// convCases cover k = 1, 3, 7; stride 1 and 2; padding 0, 1, 3; odd and
// non-square spatial sizes; Cin = 1; windows that reach past the image on
// both sides; and batches large enough for several backward-filter chunks.
// forEachConvPath runs f as a subtest of case c once per convolution path
// (auto, forced im2col, forced shifted), each with a fresh backend.
func forEachConvPath(t *testing.T, c convCase, f func(t *testing.T, b *Backend)) {
	t.Helper()
	for _, mode := range []convPathMode{convAuto, convIm2col, convShifted} {
		t.Run(fmt.Sprintf("%v/%v", c, mode), func(t *testing.T) {
			b := New()
			b.convPath = mode
			f(t, b)
		})
	}
}

var convCases = []convCase{
	{2, 3, 4, 5, 5, 3, 1, 1},
	{2, 1, 3, 7, 9, 3, 2, 1},
	{1, 2, 3, 9, 7, 7, 2, 3},
	{2, 2, 3, 4, 5, 7, 1, 3},
	{2, 4, 3, 5, 6, 1, 1, 0},
	{2, 3, 2, 7, 7, 1, 2, 0},
	{1, 2, 2, 6, 5, 3, 2, 0},
	{3, 1, 1, 3, 3, 3, 1, 0},
	{9, 2, 2, 5, 3, 3, 1, 1},
	{17, 1, 2, 4, 4, 3, 2, 1},
	{2, 2, 3, 11, 10, 5, 3, 2}, // stride 3: phases with 1 or 2 taps per dimension
	{2, 2, 3, 8, 7, 2, 3, 0},   // k 2 < stride 3: input phase 2 gets no tap (gradient 0)
	{2, 3, 2, 5, 6, 4, 2, 1},   // even kernel, stride 2
}

// largeConvCases have outputs of at least convTargetCols positions (one
// image per gemm, including the 1x1 case that uses the image directly) or
// groups of images whose last group is partial. They are checked against
// direct loops only (too big for finite differences).
var largeConvCases = []convCase{
	{3, 2, 3, 24, 24, 3, 1, 1},
	{2, 3, 2, 24, 24, 1, 1, 0},
	{2, 2, 2, 47, 45, 3, 2, 1},
	{13, 3, 4, 10, 10, 3, 1, 1},
	{13, 3, 4, 6, 5, 3, 2, 1},
}

// directConv is the textbook 7-loop convolution in float64.
func directConv(c convCase, x, w []float32) []float64 {
	ho := backend.ConvOutSize(c.h, c.k, c.stride, c.pad)
	wo := backend.ConvOutSize(c.w, c.k, c.stride, c.pad)
	y := make([]float64, c.n*c.cout*ho*wo)
	for n := 0; n < c.n; n++ {
		for co := 0; co < c.cout; co++ {
			for oh := 0; oh < ho; oh++ {
				for ow := 0; ow < wo; ow++ {
					var s float64
					for ci := 0; ci < c.cin; ci++ {
						for kh := 0; kh < c.k; kh++ {
							for kw := 0; kw < c.k; kw++ {
								ih := oh*c.stride - c.pad + kh
								iw := ow*c.stride - c.pad + kw
								if ih < 0 || ih >= c.h || iw < 0 || iw >= c.w {
									continue
								}
								s += float64(x[((n*c.cin+ci)*c.h+ih)*c.w+iw]) * float64(w[((co*c.cin+ci)*c.k+kh)*c.k+kw])
							}
						}
					}
					y[((n*c.cout+co)*ho+oh)*wo+ow] = s
				}
			}
		}
	}
	return y
}

func TestConv2DForwardMatchesDirect(t *testing.T) {
	for _, c := range append(convCases, largeConvCases...) {
		forEachConvPath(t, c, func(t *testing.T, b *Backend) {
			x := randT(t, b, 1, 1, c.n, c.cin, c.h, c.w)
			w := randT(t, b, 2, 1, c.cout, c.cin, c.k, c.k)
			ho := backend.ConvOutSize(c.h, c.k, c.stride, c.pad)
			wo := backend.ConvOutSize(c.w, c.k, c.stride, c.pad)
			// Fill y with garbage: the forward must overwrite it.
			y := randT(t, b, 3, 100, c.n, c.cout, ho, wo)
			must(t, b.Conv2DForward(x, w, y, backend.ConvParams{Stride: c.stride, Pad: c.pad}))
			closeTo(t, "y", y.Host, directConv(c, x.Host, w.Host), 1e-5, 1e-5)
		})
	}
}

func TestConv2DGradients(t *testing.T) {
	for _, c := range convCases {
		forEachConvPath(t, c, func(t *testing.T, b *Backend) {
			p := backend.ConvParams{Stride: c.stride, Pad: c.pad}
			x := randT(t, b, 11, 1, c.n, c.cin, c.h, c.w)
			w := randT(t, b, 12, 0.5, c.cout, c.cin, c.k, c.k)
			ho := backend.ConvOutSize(c.h, c.k, c.stride, c.pad)
			wo := backend.ConvOutSize(c.w, c.k, c.stride, c.pad)
			y := newT(t, b, nil, c.n, c.cout, ho, wo)
			r := newT(t, b, gradcheck.RandomVector(y.Numel(), 13), c.n, c.cout, ho, wo)
			loss := func() float64 {
				must(t, b.Conv2DForward(x, w, y, p))
				return gradcheck.Dot64(r.Host, y.Host)
			}
			dx := randT(t, b, 14, 100, c.n, c.cin, c.h, c.w) // garbage: must be overwritten
			dw := randT(t, b, 15, 100, c.cout, c.cin, c.k, c.k)
			must(t, b.Conv2DBackwardData(r, w, dx, p))
			must(t, b.Conv2DBackwardFilter(x, r, dw, p))
			// The convolution is linear in x and in w, so central differences
			// have no truncation error; only float32 rounding of y remains.
			checkGrad(t, loss, [][]float32{x.Host, w.Host}, [][]float32{dx.Host, dw.Host}, 1e-2, 1e-3, 1e-3)
		})
	}
}

// TestConv2DBackwardMatchesDirect checks both backward passes against the
// adjoint written as direct loops.
func TestConv2DBackwardMatchesDirect(t *testing.T) {
	for _, c := range append(convCases, largeConvCases...) {
		forEachConvPath(t, c, func(t *testing.T, b *Backend) {
			p := backend.ConvParams{Stride: c.stride, Pad: c.pad}
			ho := backend.ConvOutSize(c.h, c.k, c.stride, c.pad)
			wo := backend.ConvOutSize(c.w, c.k, c.stride, c.pad)
			x := randT(t, b, 21, 1, c.n, c.cin, c.h, c.w)
			w := randT(t, b, 22, 1, c.cout, c.cin, c.k, c.k)
			dy := randT(t, b, 23, 1, c.n, c.cout, ho, wo)
			dx := randT(t, b, 24, 100, c.n, c.cin, c.h, c.w)
			dw := randT(t, b, 25, 100, c.cout, c.cin, c.k, c.k)
			must(t, b.Conv2DBackwardData(dy, w, dx, p))
			must(t, b.Conv2DBackwardFilter(x, dy, dw, p))
			wantDx := make([]float64, dx.Numel())
			wantDw := make([]float64, dw.Numel())
			for n := 0; n < c.n; n++ {
				for co := 0; co < c.cout; co++ {
					for oh := 0; oh < ho; oh++ {
						for ow := 0; ow < wo; ow++ {
							g := float64(dy.Host[((n*c.cout+co)*ho+oh)*wo+ow])
							for ci := 0; ci < c.cin; ci++ {
								for kh := 0; kh < c.k; kh++ {
									for kw := 0; kw < c.k; kw++ {
										ih, iw := oh*c.stride-c.pad+kh, ow*c.stride-c.pad+kw
										if ih < 0 || ih >= c.h || iw < 0 || iw >= c.w {
											continue
										}
										xi := ((n*c.cin+ci)*c.h+ih)*c.w + iw
										wi := ((co*c.cin+ci)*c.k+kh)*c.k + kw
										wantDx[xi] += g * float64(w.Host[wi])
										wantDw[wi] += g * float64(x.Host[xi])
									}
								}
							}
						}
					}
				}
			}
			closeTo(t, "dx", dx.Host, wantDx, 1e-5, 1e-5)
			closeTo(t, "dw", dw.Host, wantDw, 1e-5, 2e-4)
		})
	}
}

func TestConv2DRejectsBadGeometry(t *testing.T) {
	b := New()
	x := newT(t, b, nil, 1, 2, 5, 5)
	tests := []struct {
		name string
		w, y *Tensor
		p    backend.ConvParams
	}{
		{"stride 0", newT(t, b, nil, 3, 2, 3, 3), newT(t, b, nil, 1, 3, 5, 5), backend.ConvParams{Stride: 0, Pad: 1}},
		{"negative pad", newT(t, b, nil, 3, 2, 3, 3), newT(t, b, nil, 1, 3, 5, 5), backend.ConvParams{Stride: 1, Pad: -1}},
		{"kernel too big", newT(t, b, nil, 3, 2, 7, 7), newT(t, b, nil, 1, 3, 1, 1), backend.ConvParams{Stride: 1, Pad: 0}},
		{"non-square kernel", newT(t, b, nil, 3, 2, 3, 1), newT(t, b, nil, 1, 3, 3, 5), backend.ConvParams{Stride: 1, Pad: 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := b.Conv2DForward(x, tc.w, tc.y, tc.p); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
