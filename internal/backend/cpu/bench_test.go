package cpu

import (
	"testing"

	"simclr/internal/backend"
	"simclr/internal/gradcheck"
)

// benchShape is one benchmarked convolution: 3x3, stride 1, padding 1 and
// c -> c channels unless k, stride or cout say otherwise (padding k/2).
type benchShape struct {
	name            string
	n, c, size      int
	cout, k, stride int
}

// benchShapes: the ResNet-18 CIFAR layer1 convolution (N=64, 64->64
// channels, 32x32) and the layer4 convolution of the default width-16
// model at batch 2x128 (128 channels, 4x4), where images share a gemm.
var benchShapes = []benchShape{
	{"layer1_n64_c64_32x32", 64, 64, 32, 0, 0, 0},
	{"w16layer4_n256_c128_4x4", 256, 128, 4, 0, 0, 0},
	// The Fashion-MNIST model (width 16, 28 px, 2x256 views).
	{"fm_layer1_n512_c16_28x28", 512, 16, 28, 0, 0, 0},
	{"fm_layer2_n512_c32_14x14", 512, 32, 14, 0, 0, 0},
	{"fm_layer3_n512_c64_7x7", 512, 64, 7, 0, 0, 0},
	{"fm_layer2down_n512_c16to32_28x28_s2", 512, 16, 28, 32, 3, 2},
	{"fm_shortcut2_n512_c16to32_28x28_1x1s2", 512, 16, 28, 32, 1, 2},
	{"fm_layer3down_n512_c32to64_14x14_s2", 512, 32, 14, 64, 3, 2},
	{"fm_layer4down_n512_c64to128_7x7_s2", 512, 64, 7, 128, 3, 2},
}

// benchConv holds the operands of one benchmarked convolution.
type benchConv struct {
	b               *Backend
	x, w, y, dx, dw *Tensor
	p               backend.ConvParams
	flops           float64 // multiply-adds * 2 of one pass
}

func newBenchConv(tb testing.TB, s benchShape) *benchConv {
	k, stride, cout := 3, 1, s.c
	if s.k > 0 {
		k = s.k
	}
	if s.stride > 0 {
		stride = s.stride
	}
	if s.cout > 0 {
		cout = s.cout
	}
	n, c, hw := s.n, s.c, s.size
	p := backend.ConvParams{Stride: stride, Pad: k / 2}
	ho := backend.ConvOutSize(hw, k, stride, p.Pad)
	b := New()
	mk := func(seed uint64, shape ...int) *Tensor {
		t, err := b.New(shape...)
		if err != nil {
			tb.Fatal(err)
		}
		copy(t.Host, gradcheck.RandomVector(t.Numel(), seed))
		return t
	}
	return &benchConv{
		b: b, p: p,
		x: mk(1, n, c, hw, hw), w: mk(2, cout, c, k, k), y: mk(3, n, cout, ho, ho),
		dx: mk(4, n, c, hw, hw), dw: mk(5, cout, c, k, k),
		flops: 2 * float64(n) * float64(cout*c*k*k*ho*ho),
	}
}

func reportGFLOPs(b *testing.B, flopsPerOp float64) {
	b.ReportMetric(flopsPerOp*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// runConvBench runs body as one sub-benchmark per benchShapes entry and
// convolution path (im2col + gemm, shifted, and the automatic choice), so
// the paths are measured side by side, and reports GFLOP/s, counting passes
// forward-equivalent passes per call.
func runConvBench(b *testing.B, passes float64, body func(c *benchConv) error) {
	for _, s := range benchShapes {
		for _, mode := range []convPathMode{convIm2col, convShifted, convAuto} {
			b.Run(s.name+"/"+mode.String(), func(b *testing.B) {
				c := newBenchConv(b, s)
				c.b.convPath = mode
				b.ResetTimer()
				for b.Loop() {
					if err := body(c); err != nil {
						b.Fatal(err)
					}
				}
				reportGFLOPs(b, passes*c.flops)
			})
		}
	}
}

func BenchmarkConvForward(b *testing.B) {
	runConvBench(b, 1, func(c *benchConv) error { return c.b.Conv2DForward(c.x, c.w, c.y, c.p) })
}

// BenchmarkConvBackward runs backward-data and backward-filter (twice the
// forward's flops).
func BenchmarkConvBackward(b *testing.B) {
	runConvBench(b, 2, func(c *benchConv) error {
		if err := c.b.Conv2DBackwardData(c.y, c.w, c.dx, c.p); err != nil {
			return err
		}
		return c.b.Conv2DBackwardFilter(c.x, c.y, c.dw, c.p)
	})
}

func BenchmarkConvBackwardData(b *testing.B) {
	runConvBench(b, 1, func(c *benchConv) error { return c.b.Conv2DBackwardData(c.y, c.w, c.dx, c.p) })
}

func BenchmarkConvBackwardFilter(b *testing.B) {
	runConvBench(b, 1, func(c *benchConv) error { return c.b.Conv2DBackwardFilter(c.x, c.y, c.dw, c.p) })
}

// BenchmarkBatchNorm runs forward-train + backward on the same layer's
// activations [64,64,32,32].
func BenchmarkBatchNorm(b *testing.B) {
	c := newBenchConv(b, benchShapes[0])
	bk := c.b
	mk := func(shape ...int) *Tensor {
		t, err := bk.New(shape...)
		if err != nil {
			b.Fatal(err)
		}
		return t
	}
	gamma, beta := mk(64), mk(64)
	mean, inv, rm, rv, dg, db := mk(64), mk(64), mk(64), mk(64), mk(64), mk(64)
	b.SetBytes(int64(len(c.x.Host)) * 4)
	b.ResetTimer()
	for b.Loop() {
		if err := bk.BatchNormForwardTrain(c.x, gamma, beta, c.y, mean, inv, rm, rv, 0.1, 1e-5); err != nil {
			b.Fatal(err)
		}
		if err := bk.BatchNormBackward(c.y, c.x, gamma, mean, inv, c.dx, dg, db); err != nil {
			b.Fatal(err)
		}
	}
}
