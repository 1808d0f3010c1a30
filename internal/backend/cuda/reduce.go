//go:build cuda || cudaemu

package cuda

import (
	"fmt"

	"simclr/internal/backend"
)

// partialSum runs a *_partial reduction kernel and adds the per-block
// float64 partials on the host in block order.
func (b *Backend) partialSum(op, kernel string, n int, a args, t *Tensor) (float64, error) {
	if n == 0 {
		return 0, nil
	}
	blocks, chunk := partialGrid(n)
	buf, err := b.scratch(int64(blocks) * 8)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	defer buf.release()
	if err := b.launch(op, kernel, dim3{blocks, 1, 1}, block1D(), a.i(n).i(chunk).raw(buf.ptr), t.Shape); err != nil {
		return 0, err
	}
	parts, err := b.downloadF64(buf.ptr, blocks)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	var s float64
	for _, v := range parts {
		s += v
	}
	return s, nil
}

// SumSquares returns the sum of squares of t's elements (float64
// accumulation, deterministic order).
func (b *Backend) SumSquares(t *Tensor) (float64, error) {
	const op = backend.OpSumSquares
	if err := b.checkDev(op, "t", t); err != nil {
		return 0, err
	}
	return b.partialSum(op, "sumsq_partial", t.Numel(), args{}.ptr(t), t)
}

// Dot returns sum a[i]*b[i]; a and b must have the same shape.
func (b *Backend) Dot(a, c *Tensor) (float64, error) {
	const op = backend.OpDot
	if err := b.checkDev(op, "a b", a, c); err != nil {
		return 0, err
	}
	if err := backend.CheckDot(a.Shape, c.Shape); err != nil {
		return 0, err
	}
	return b.partialSum(op, "dot_partial", a.Numel(), args{}.ptr(a).ptr(c), a)
}
