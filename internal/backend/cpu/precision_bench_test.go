package cpu

import (
	"testing"

	"simclr/internal/backend"
)

// BenchmarkRound measures the operand rounding alone (elements of one
// fm_layer1 activation, 512x16x28x28), as bytes read per second.
func BenchmarkRound(b *testing.B) {
	src := make([]float32, 512*16*28*28)
	for i := range src {
		src[i] = float32(i%1000) * 0.001
	}
	dst := make([]float32, len(src))
	for _, p := range []backend.Precision{backend.TF32, backend.BF16} {
		b.Run(p.String(), func(b *testing.B) {
			b.SetBytes(int64(len(src)) * 4)
			for b.Loop() {
				roundInto(p, dst, src)
			}
		})
	}
}

// BenchmarkConvPrecision runs forward, data and filter gradients of some
// benchShapes in each precision, to measure what rounding the operands
// costs the CPU backend (GFLOP/s of the three passes).
func BenchmarkConvPrecision(b *testing.B) {
	for _, s := range benchShapes[1:6] {
		for _, p := range backend.Precisions {
			b.Run(s.name+"/"+p.String(), func(b *testing.B) {
				c := newBenchConv(b, s)
				if err := c.b.SetMatmulPrecision(p); err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					if err := c.b.Conv2DForward(c.x, c.w, c.y, c.p); err != nil {
						b.Fatal(err)
					}
					if err := c.b.Conv2DBackwardData(c.y, c.w, c.dx, c.p); err != nil {
						b.Fatal(err)
					}
					if err := c.b.Conv2DBackwardFilter(c.x, c.y, c.dw, c.p); err != nil {
						b.Fatal(err)
					}
				}
				reportGFLOPs(b, 3*c.flops)
			})
		}
	}
}
