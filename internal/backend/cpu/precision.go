package cpu

import (
	"fmt"

	"simclr/internal/backend"
	"simclr/internal/vec"
)

// Reduced-precision matrix products. In TF32 or BF16 every operand of a
// convolution (forward: x and w; data gradient: dy and w; filter gradient:
// x and dy) and of a linear layer (forward: x and w; backward: dy with w,
// dy with x) is rounded to the format first, into a scratch copy, and the
// unchanged fp32 code then multiplies the copies. A product of two
// rounded operands (8 or 11 significant bits each) is exact in fp32 and
// the sums stay fp32, so each result is exactly the FP32 op applied to
// rounded inputs, the arithmetic of a tensor-core mma.sync with fp32
// accumulation (the order of the sums aside). Rounding before im2col or
// the shifted layout equals rounding the gathered columns: both only copy
// elements and add zeros. The bias and its gradient, batch norm and
// everything else stay fp32. In FP32 the operands are used in place, so
// results are bit-identical to a backend that never heard of precision.

// SetMatmulPrecision sets the operand format of the convolutions and linear
// layers: FP32, TF32 or BF16.
func (b *Backend) SetMatmulPrecision(p backend.Precision) error {
	switch p {
	case backend.FP32, backend.TF32, backend.BF16:
		b.precision.Store(int32(p))
		return nil
	}
	return fmt.Errorf("cpu: matmul precision %v is not one of fp32, tf32, bf16", p)
}

// MatmulPrecision returns the operand format of the matrix products.
func (b *Backend) MatmulPrecision() backend.Precision {
	return backend.Precision(b.precision.Load())
}

// roundOperands returns a and c rounded to the backend's precision: a and
// c themselves in FP32, else rounded copies in scratch buffers (the
// precision read once, so both get the same format). release hands the
// copies back; call it when the product is done.
func (b *Backend) roundOperands(a, c []float32) (ra, rc []float32, release func()) {
	return b.roundPairTo(b.MatmulPrecision(), a, c)
}

// roundPairTo returns a and c rounded to p (themselves for FP32) and the
// release of the copies.
func (b *Backend) roundPairTo(p backend.Precision, a, c []float32) (ra, rc []float32, release func()) {
	ra, releaseA := b.roundTo(p, a)
	rc, releaseC := b.roundTo(p, c)
	return ra, rc, func() {
		releaseA()
		releaseC()
	}
}

// roundTo returns a rounded to p (a itself for FP32) and the release of
// the copy.
func (b *Backend) roundTo(p backend.Precision, a []float32) (ra []float32, release func()) {
	if p == backend.FP32 {
		return a, func() {}
	}
	ra = b.scratch.get(len(a))
	roundInto(p, ra, a)
	return ra, func() { b.scratch.put(ra) }
}

// roundInto writes src rounded to p into dst (len(dst) == len(src)), in
// fixed chunks over GOMAXPROCS goroutines (elementwise, so the result does
// not depend on the chunking), 8 lanes at a time with AVX2 (vec.RoundBF16,
// vec.RoundTF32).
func roundInto(p backend.Precision, dst, src []float32) {
	parallelFor(len(src), elemGrain, func(lo, hi int) {
		switch p {
		case backend.BF16:
			vec.RoundBF16(dst[lo:hi], src[lo:hi])
		case backend.TF32:
			vec.RoundTF32(dst[lo:hi], src[lo:hi])
		default:
			copy(dst[lo:hi], src[lo:hi])
		}
	})
}

// roundBlockFloats is about how many input floats a reduced-precision
// forward convolution rounds at once (1 MiB): few enough that the rounded
// block is still in cache when the product reads it, which a rounded copy
// of a whole large activation is not. A variable so that tests can force
// many blocks.
var roundBlockFloats = 1 << 18

// convForwardRounded computes ys = conv(xs, ws) with the operands rounded
// to p: ws once, xs block by block of images, each block rounded into one
// scratch buffer just before the convolution of those images (convForward
// on the block) reads it. Images are independent and a block holds whole
// im2col groups, so the result is the one of convForward on the rounded
// batch; in FP32 it is convForward itself.
func (b *Backend) convForwardRounded(p backend.Precision, g *convGeom, xs, ws, ys []float32) {
	if p == backend.FP32 {
		b.convForward(g, xs, ws, ys)
		return
	}
	rw, releaseW := b.roundTo(p, ws)
	defer releaseW()
	inLen, outLen := g.cin*g.h*g.w, g.cout*g.ho*g.wo
	group := g.groupSize()
	block := max(group, roundBlockFloats/max(1, inLen)/group*group)
	if block >= g.n {
		rx, releaseX := b.roundTo(p, xs)
		defer releaseX()
		b.convForward(g, rx, rw, ys)
		return
	}
	buf := b.scratch.get(block * inLen)
	defer b.scratch.put(buf)
	for i0 := 0; i0 < g.n; i0 += block {
		nb := min(block, g.n-i0)
		sub := *g
		sub.n = nb
		rx := buf[:nb*inLen]
		roundInto(p, rx, xs[i0*inLen:(i0+nb)*inLen])
		b.convForward(&sub, rx, rw, ys[i0*outLen:(i0+nb)*outLen])
	}
}
