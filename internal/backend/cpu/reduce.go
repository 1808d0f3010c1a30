package cpu

import (
	"fmt"

	"simclr/internal/backend"
)

// The float64 reductions below keep four independent accumulators (so the
// adds pipeline instead of waiting on one another) and combine them in a
// fixed order: the result depends only on the input, never on threading.

// sum64 returns the sum of v in float64.
func sum64(v []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(v); i += 4 {
		q := v[i : i+4 : i+4]
		s0 += float64(q[0])
		s1 += float64(q[1])
		s2 += float64(q[2])
		s3 += float64(q[3])
	}
	for ; i < len(v); i++ {
		s0 += float64(v[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// dot64 returns sum a[i]*b[i] in float64; b must be at least as long as a.
func dot64(a, b []float32) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		p := a[i : i+4 : i+4]
		q := b[i : i+4 : i+4]
		s0 += float64(p[0]) * float64(q[0])
		s1 += float64(p[1]) * float64(q[1])
		s2 += float64(p[2]) * float64(q[2])
		s3 += float64(p[3]) * float64(q[3])
	}
	for ; i < len(a); i++ {
		s0 += float64(a[i]) * float64(b[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// SumSquares returns the sum of squares of t's elements, accumulated in
// float64 over fixed chunks added in order.
func (b *Backend) SumSquares(t *Tensor) (float64, error) {
	if err := checkHost(backend.OpSumSquares, "t", t); err != nil {
		return 0, err
	}
	xs := t.Host
	return parallelSum(len(xs), func(lo, hi int) float64 {
		return dot64(xs[lo:hi], xs[lo:hi])
	}), nil
}

// SumSquaresMulti returns SumSquares of every tensor, in order.
func (b *Backend) SumSquaresMulti(ts []*Tensor) ([]float64, error) {
	for i, t := range ts {
		if err := checkHost(backend.OpSumSquaresMulti, fmt.Sprintf("ts[%d]", i), t); err != nil {
			return nil, err
		}
	}
	out := make([]float64, len(ts))
	for i, t := range ts {
		out[i], _ = b.SumSquares(t)
	}
	return out, nil
}

// Dot returns sum a[i]*b[i] accumulated in float64 over fixed chunks added
// in order; a and b must have the same shape.
func (b *Backend) Dot(a, c *Tensor) (float64, error) {
	if err := checkHost(backend.OpDot, "a b", a, c); err != nil {
		return 0, err
	}
	if err := backend.CheckDot(a.Shape, c.Shape); err != nil {
		return 0, err
	}
	xs, ys := a.Host, c.Host
	return parallelSum(len(xs), func(lo, hi int) float64 {
		return dot64(xs[lo:hi], ys[lo:hi])
	}), nil
}
