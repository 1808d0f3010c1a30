package cpu

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/gradcheck"
)

// winoTol bounds the Winograd path's error against float64 direct loops,
// measured as max|got-want| over a tensor divided by the bound
// max|x| * max_co sum_{ci,taps} |w| of its outputs (relMaxErr, normBound).
// The largest value measured over winoCases is 5.1e-8
// (TestConvWinogradMatchesDirect logs it per case next to im2col's, which
// is of the same order: at most 8.9e-8); the bound leaves a factor of
// about 4 (docs/benchmarks.md, "Part 5b: Winograd").
const winoTol = 2e-7

// winoCases are 3x3, stride-1, padding-1 convolutions: odd H and W
// (partial tiles in both directions), 1x1 and 1xW images, N = 1, channel
// counts that are not multiples of the gemm's tiles, several image groups
// with a partial last group, and the Fashion-MNIST and ResNet-18 shapes.
var winoCases = []convCase{
	{1, 16, 16, 28, 28, 3, 1, 1},
	{3, 5, 7, 9, 11, 3, 1, 1},
	{2, 3, 17, 7, 7, 3, 1, 1},
	{1, 1, 1, 1, 1, 3, 1, 1},
	{2, 2, 3, 1, 6, 3, 1, 1},
	{2, 4, 2, 5, 1, 3, 1, 1},
	{17, 20, 12, 4, 4, 3, 1, 1}, // 13 images per group: a partial second group
	{2, 33, 18, 5, 6, 3, 1, 1},
	{3, 64, 64, 7, 7, 3, 1, 1},
	{2, 32, 32, 14, 14, 3, 1, 1},
	{1, 300, 5, 3, 3, 3, 1, 1},   // Cin above one gemm k-block (256)
	{2, 128, 128, 4, 4, 3, 1, 1}, // taken by auto (Fashion-MNIST stage 4)
}

// relMaxErr returns max|got-want| / mag, the error relative to a bound
// of every output's magnitude (normBound).
func relMaxErr(got []float32, want []float64, mag float64) float64 {
	var e float64
	for i, w := range want {
		e = max(e, math.Abs(float64(got[i])-w))
	}
	return e / mag
}

// normBound returns max|in| * max over output channels of the sum of
// |w| over input channels and taps: a bound of every output of the
// convolution (w [Cout, Cin, 3, 3]; transposed: the data gradient, whose
// outputs are input channels). Winograd's rounding scales with it, not
// with the taps that hit the image: on a 1x1 image only the centre tap
// counts, but the transformed weights mix all nine.
func normBound(in, w []float32, cout, cin int, transposed bool) float64 {
	var mx float64
	for _, v := range in {
		mx = max(mx, math.Abs(float64(v)))
	}
	rows, other := cout, cin
	if transposed {
		rows, other = cin, cout
	}
	var best float64
	for r := 0; r < rows; r++ {
		var s float64
		for o := 0; o < other; o++ {
			co, ci := r, o
			if transposed {
				co, ci = o, r
			}
			for k := 0; k < 9; k++ {
				s += math.Abs(float64(w[(co*cin+ci)*9+k]))
			}
		}
		best = max(best, s)
	}
	return mx * best
}

// directConvDx is the data gradient of a stride-1 convolution with padding
// c.pad as direct loops in float64.
func directConvDx(c convCase, dy, w []float32) []float64 {
	ho := backend.ConvOutSize(c.h, c.k, 1, c.pad)
	wo := backend.ConvOutSize(c.w, c.k, 1, c.pad)
	dx := make([]float64, c.n*c.cin*c.h*c.w)
	for n := 0; n < c.n; n++ {
		for co := 0; co < c.cout; co++ {
			for oh := 0; oh < ho; oh++ {
				for ow := 0; ow < wo; ow++ {
					g := float64(dy[((n*c.cout+co)*ho+oh)*wo+ow])
					for ci := 0; ci < c.cin; ci++ {
						for kh := 0; kh < c.k; kh++ {
							for kw := 0; kw < c.k; kw++ {
								ih, iw := oh-c.pad+kh, ow-c.pad+kw
								if ih < 0 || ih >= c.h || iw < 0 || iw >= c.w {
									continue
								}
								dx[((n*c.cin+ci)*c.h+ih)*c.w+iw] += g * float64(w[((co*c.cin+ci)*c.k+kh)*c.k+kw])
							}
						}
					}
				}
			}
		}
	}
	return dx
}

// TestConvWinogradMatchesDirect checks the Winograd forward and data
// gradient against float64 direct loops within winoTol, and logs the
// measured errors of the Winograd and im2col paths side by side.
func TestConvWinogradMatchesDirect(t *testing.T) {
	var worst float64
	for _, c := range winoCases {
		t.Run(c.String(), func(t *testing.T) {
			run := func(mode convPathMode) (y, dx []float32) {
				b := New()
				b.convPath = mode
				p := backend.ConvParams{Stride: 1, Pad: 1}
				x := randT(t, b, 41, 1, c.n, c.cin, c.h, c.w)
				w := randT(t, b, 42, 1, c.cout, c.cin, 3, 3)
				dy := randT(t, b, 43, 1, c.n, c.cout, c.h, c.w)
				// Garbage outputs: both passes must overwrite them.
				yt := randT(t, b, 44, 100, c.n, c.cout, c.h, c.w)
				dxt := randT(t, b, 45, 100, c.n, c.cin, c.h, c.w)
				must(t, b.Conv2DForward(x, w, yt, p))
				must(t, b.Conv2DBackwardData(dy, w, dxt, p))
				return yt.Host, dxt.Host
			}
			b := New()
			x := randT(t, b, 41, 1, c.n, c.cin, c.h, c.w)
			w := randT(t, b, 42, 1, c.cout, c.cin, 3, 3)
			dy := randT(t, b, 43, 1, c.n, c.cout, c.h, c.w)
			wantY := directConv(c, x.Host, w.Host)
			wantDx := directConvDx(c, dy.Host, w.Host)
			magY := normBound(x.Host, w.Host, c.cout, c.cin, false)
			magDx := normBound(dy.Host, w.Host, c.cout, c.cin, true)
			yW, dxW := run(convWinograd)
			yI, dxI := run(convIm2col)
			ey, edx := relMaxErr(yW, wantY, magY), relMaxErr(dxW, wantDx, magDx)
			t.Logf("max rel error: winograd y %.2e dx %.2e; im2col y %.2e dx %.2e",
				ey, edx, relMaxErr(yI, wantY, magY), relMaxErr(dxI, wantDx, magDx))
			worst = max(worst, ey, edx)
			if ey > winoTol || edx > winoTol || math.IsNaN(ey) || math.IsNaN(edx) {
				t.Fatalf("winograd error y %.3g dx %.3g above %.3g", ey, edx, winoTol)
			}
		})
	}
	t.Logf("worst winograd max rel error %.3g (tolerance %.3g)", worst, winoTol)
}

// TestConvWinogradGradients checks the backward passes on the Winograd
// path (data gradient Winograd, filter gradient shifted/im2col) against
// central differences of the forward, which itself runs on Winograd.
func TestConvWinogradGradients(t *testing.T) {
	for _, c := range []convCase{
		{2, 3, 4, 5, 5, 3, 1, 1},
		{1, 2, 3, 7, 4, 3, 1, 1},
		{3, 1, 2, 3, 3, 3, 1, 1},
		{2, 5, 3, 6, 9, 3, 1, 1},
	} {
		t.Run(c.String(), func(t *testing.T) {
			b := New()
			b.convPath = convWinograd
			p := backend.ConvParams{Stride: 1, Pad: 1}
			x := randT(t, b, 11, 1, c.n, c.cin, c.h, c.w)
			w := randT(t, b, 12, 0.5, c.cout, c.cin, 3, 3)
			y := newT(t, b, nil, c.n, c.cout, c.h, c.w)
			r := newT(t, b, gradcheck.RandomVector(y.Numel(), 13), c.n, c.cout, c.h, c.w)
			loss := func() float64 {
				must(t, b.Conv2DForward(x, w, y, p))
				return gradcheck.Dot64(r.Host, y.Host)
			}
			dx := randT(t, b, 14, 100, c.n, c.cin, c.h, c.w)
			dw := randT(t, b, 15, 100, c.cout, c.cin, 3, 3)
			must(t, b.Conv2DBackwardData(r, w, dx, p))
			must(t, b.Conv2DBackwardFilter(x, r, dw, p))
			checkGrad(t, loss, [][]float32{x.Host, w.Host}, [][]float32{dx.Host, dw.Host}, 1e-2, 1e-3, 1e-3)
		})
	}
}

// TestConvWinogradDeterministic: the Winograd forward and data gradient
// are bit-identical with GOMAXPROCS 1 and 4 (several groups of images, one
// and many images per group).
func TestConvWinogradDeterministic(t *testing.T) {
	cases := []convCase{
		{5, 16, 16, 28, 28, 3, 1, 1},
		{29, 20, 12, 7, 7, 3, 1, 1},
		{9, 3, 5, 9, 11, 3, 1, 1},
	}
	run := func() [][]uint32 {
		var out [][]uint32
		for _, c := range cases {
			b := New()
			b.convPath = convWinograd
			p := backend.ConvParams{Stride: 1, Pad: 1}
			x := randT(t, b, 51, 1, c.n, c.cin, c.h, c.w)
			w := randT(t, b, 52, 1, c.cout, c.cin, 3, 3)
			dy := randT(t, b, 53, 1, c.n, c.cout, c.h, c.w)
			y := newT(t, b, nil, c.n, c.cout, c.h, c.w)
			dx := newT(t, b, nil, c.n, c.cin, c.h, c.w)
			must(t, b.Conv2DForward(x, w, y, p))
			must(t, b.Conv2DBackwardData(dy, w, dx, p))
			out = append(out, bits(y.Host), bits(dx.Host))
		}
		return out
	}
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	one := run()
	runtime.GOMAXPROCS(4)
	four := run()
	for i := range one {
		if !slices.Equal(one[i], four[i]) {
			t.Fatalf("output %d (case %v) differs between GOMAXPROCS 1 and 4", i, cases[i/2])
		}
	}
}

// TestConvWinogradPathChoice: the forced mode takes Winograd exactly for
// 3x3 stride-1 padding-1 same-size convolutions, auto only for those with
// at least 128 input and output channels; im2col and shifted never.
func TestConvWinogradPathChoice(t *testing.T) {
	tests := []struct {
		c    convCase
		want bool
	}{
		{convCase{2, 16, 16, 28, 28, 3, 1, 1}, true},
		{convCase{2, 128, 128, 4, 4, 3, 1, 1}, true},
		{convCase{2, 256, 128, 8, 8, 3, 1, 1}, true},
		{convCase{2, 512, 512, 4, 4, 3, 1, 1}, true},
		{convCase{2, 64, 128, 7, 7, 3, 1, 1}, true},
		{convCase{2, 128, 128, 8, 8, 3, 2, 1}, false},
		{convCase{2, 16, 32, 28, 28, 3, 2, 1}, false},
		{convCase{2, 16, 16, 28, 28, 3, 1, 0}, false},
		{convCase{2, 16, 16, 28, 28, 1, 1, 0}, false},
		{convCase{2, 16, 16, 28, 28, 5, 1, 2}, false},
	}
	for _, tc := range tests {
		t.Run(tc.c.String(), func(t *testing.T) {
			c := tc.c
			ho := backend.ConvOutSize(c.h, c.k, c.stride, c.pad)
			g, err := newConvGeom(backend.CheckConv2DForward([]int{c.n, c.cin, c.h, c.w}, []int{c.cout, c.cin, c.k, c.k},
				[]int{c.n, c.cout, ho, ho}, backend.ConvParams{Stride: c.stride, Pad: c.pad}))
			must(t, err)
			if got := g.winograd(convWinograd); got != tc.want {
				t.Errorf("winograd(forced) = %v, want %v", got, tc.want)
			}
			// auto: only where measured faster (from 128 channels).
			if got, want := g.winograd(convAuto), tc.want && c.cin >= 128 && c.cout >= 128; got != want {
				t.Errorf("winograd(auto) = %v, want %v", got, want)
			}
			for _, m := range []convPathMode{convIm2col, convShifted} {
				if g.winograd(m) {
					t.Errorf("winograd(%v) = true", m)
				}
			}
		})
	}
}

// BenchmarkConvWinograd times the 3x3 stride-1 layers of the Fashion-MNIST
// (w16, 28 px, 2x256 views) and ResNet-18 CIFAR (w64, 32 px, 2x64 views)
// models on the
// shifted and im2col paths and forced Winograd, forward and backward-data,
// side by side.
func BenchmarkConvWinograd(b *testing.B) {
	shapes := []benchShape{
		{"fm_l1_n512_c16_28", 512, 16, 28, 0, 0, 0},
		{"fm_l2_n512_c32_14", 512, 32, 14, 0, 0, 0},
		{"fm_l3_n512_c64_7", 512, 64, 7, 0, 0, 0},
		{"fm_l4_n512_c128_4", 512, 128, 4, 0, 0, 0},
		{"r18_l1_n128_c64_32", 128, 64, 32, 0, 0, 0},
		{"r18_l2_n128_c128_16", 128, 128, 16, 0, 0, 0},
		{"r18_l3_n128_c256_8", 128, 256, 8, 0, 0, 0},
		{"r18_l4_n128_c512_4", 128, 512, 4, 0, 0, 0},
	}
	for _, s := range shapes {
		for _, pass := range []string{"fwd", "dgrad"} {
			for _, mode := range []convPathMode{convShifted, convIm2col, convWinograd} {
				b.Run(fmt.Sprintf("%s/%s/%v", s.name, pass, mode), func(b *testing.B) {
					c := newBenchConv(b, s)
					c.b.convPath = mode
					b.ResetTimer()
					for b.Loop() {
						var err error
						if pass == "fwd" {
							err = c.b.Conv2DForward(c.x, c.w, c.y, c.p)
						} else {
							err = c.b.Conv2DBackwardData(c.y, c.w, c.dx, c.p)
						}
						if err != nil {
							b.Fatal(err)
						}
					}
					reportGFLOPs(b, c.flops)
				})
			}
		}
	}
}
