package cpu

import "math"

// Add computes out = a + b elementwise; the three shapes must be equal and
// out may alias a or b.
func (b *Backend) Add(a, c, out *Tensor) error {
	const op = "add"
	if err := checkHost(op, "a", a); err != nil {
		return err
	}
	if err := checkShape(op, "b", c, a.Shape); err != nil {
		return err
	}
	if err := checkShape(op, "out", out, a.Shape); err != nil {
		return err
	}
	x, y, z := a.Host, c.Host, out.Host
	parallelFor(len(z), elemGrain, func(lo, hi int) {
		xs, ys, zs := x[lo:hi], y[lo:hi], z[lo:hi]
		ys = ys[:len(xs)]
		zs = zs[:len(xs)]
		for i, v := range xs {
			zs[i] = v + ys[i]
		}
	})
	return nil
}

// ReLUForward computes y = max(x, 0); y may alias x. NaN stays NaN.
func (b *Backend) ReLUForward(x, y *Tensor) error {
	const op = "relu forward"
	if err := checkHost(op, "x", x); err != nil {
		return err
	}
	if err := checkShape(op, "y", y, x.Shape); err != nil {
		return err
	}
	xs, ys := x.Host, y.Host
	parallelFor(len(xs), elemGrain, func(lo, hi int) {
		reluForward(xs[lo:hi], ys[lo:hi])
	})
	return nil
}

// The ReLU loops below select with bit masks instead of branches: on
// activations about half of which are negative a branch is mispredicted
// every other element, which made the loops several times slower.

// reluDropMask returns all ones when the float with bits b is < 0 (negative
// and neither -0 nor NaN: 0x80000001 <= b <= 0xff800000), else 0.
func reluDropMask(b uint32) uint32 {
	return uint32(int64(uint64(b-0x80000001)-0x7f800000) >> 63)
}

// reluKeepMask returns all ones when the float with bits b is > 0 (positive
// and neither +0 nor NaN: 1 <= b <= 0x7f800000), else 0.
func reluKeepMask(b uint32) uint32 {
	return uint32(int64(uint64(b-1)-0x7f800000) >> 63)
}

// reluForward writes dst[i] = src[i] < 0 ? 0 : src[i] (NaN and -0 pass).
func reluForward(src, dst []float32) {
	dst = dst[:len(src)]
	i := 0
	for ; i+4 <= len(src); i += 4 {
		s := src[i : i+4 : i+4]
		d := dst[i : i+4 : i+4]
		b0, b1, b2, b3 := math.Float32bits(s[0]), math.Float32bits(s[1]), math.Float32bits(s[2]), math.Float32bits(s[3])
		d[0] = math.Float32frombits(b0 &^ reluDropMask(b0))
		d[1] = math.Float32frombits(b1 &^ reluDropMask(b1))
		d[2] = math.Float32frombits(b2 &^ reluDropMask(b2))
		d[3] = math.Float32frombits(b3 &^ reluDropMask(b3))
	}
	for ; i < len(src); i++ {
		b := math.Float32bits(src[i])
		dst[i] = math.Float32frombits(b &^ reluDropMask(b))
	}
}

// reluBackward writes out[i] = y[i] > 0 ? g[i] : 0.
func reluBackward(y, g, out []float32) {
	g = g[:len(y)]
	out = out[:len(y)]
	i := 0
	for ; i+4 <= len(y); i += 4 {
		yv := y[i : i+4 : i+4]
		gv := g[i : i+4 : i+4]
		d := out[i : i+4 : i+4]
		m0, m1 := reluKeepMask(math.Float32bits(yv[0])), reluKeepMask(math.Float32bits(yv[1]))
		m2, m3 := reluKeepMask(math.Float32bits(yv[2])), reluKeepMask(math.Float32bits(yv[3]))
		d[0] = math.Float32frombits(math.Float32bits(gv[0]) & m0)
		d[1] = math.Float32frombits(math.Float32bits(gv[1]) & m1)
		d[2] = math.Float32frombits(math.Float32bits(gv[2]) & m2)
		d[3] = math.Float32frombits(math.Float32bits(gv[3]) & m3)
	}
	for ; i < len(y); i++ {
		out[i] = math.Float32frombits(math.Float32bits(g[i]) & reluKeepMask(math.Float32bits(y[i])))
	}
}

// ReLUBackward computes dx = dy where y > 0, else 0; dx may alias dy.
func (b *Backend) ReLUBackward(y, dy, dx *Tensor) error {
	const op = "relu backward"
	if err := checkHost(op, "y", y); err != nil {
		return err
	}
	if err := checkShape(op, "dy", dy, y.Shape); err != nil {
		return err
	}
	if err := checkShape(op, "dx", dx, y.Shape); err != nil {
		return err
	}
	ys, dys, dxs := y.Host, dy.Host, dx.Host
	parallelFor(len(ys), elemGrain, func(lo, hi int) {
		reluBackward(ys[lo:hi], dys[lo:hi], dxs[lo:hi])
	})
	return nil
}

// SumSquares returns the sum of squares of t's elements, accumulated in
// float64 over fixed chunks added in order.
func (b *Backend) SumSquares(t *Tensor) (float64, error) {
	if err := checkHost("sum squares", "t", t); err != nil {
		return 0, err
	}
	xs := t.Host
	return parallelSum(len(xs), func(lo, hi int) float64 {
		return dot64(xs[lo:hi], xs[lo:hi])
	}), nil
}

// Dot returns sum a[i]*b[i] accumulated in float64 over fixed chunks added
// in order; a and b must have the same shape.
func (b *Backend) Dot(a, c *Tensor) (float64, error) {
	const op = "dot"
	if err := checkHost(op, "a", a); err != nil {
		return 0, err
	}
	if err := checkShape(op, "b", c, a.Shape); err != nil {
		return 0, err
	}
	xs, ys := a.Host, c.Host
	return parallelSum(len(xs), func(lo, hi int) float64 {
		return dot64(xs[lo:hi], ys[lo:hi])
	}), nil
}
