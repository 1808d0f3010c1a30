package model

import (
	"fmt"
	"math"

	"simclr/internal/tensor"
	"simclr/internal/vec"
)

// Reducer sums float64 vectors element-wise across the ranks of a
// data-parallel job, every rank receiving the same bits (dist.Comm
// satisfies it).
type Reducer interface {
	AllReduce64(buf []float64) error
}

// SetSyncBN makes every batch-norm layer of the encoder and the head
// compute its training statistics over the whole global batch (the union of
// every rank's shard) through r: synchronised batch norm. nil restores
// per-process statistics. Evaluation mode is unaffected.
func (m *SimCLR) SetSyncBN(r Reducer) {
	for _, c := range []*bufCache{m.Encoder.bufs, m.Projector.bufs} {
		for _, n := range c.bns {
			n.sync = r
		}
	}
}

// syncBN is the host-side state of one synchronised batch-norm layer.
type syncBN struct {
	hx, hy, hdy, hdx []float32 // host copies of x, y, dy, dx
	mean32, invStd32 []float32
	var32            []float32 // global biased variance (device path)
	count            float64   // values per channel in the global batch
	localCount       float64   // values per channel on this rank (device path)
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// bnDims returns N, C and S (= H*W, 1 for [N,C]) of x.
func bnDims(x *tensor.Tensor) (n, c, s int) {
	n, c, s = x.Shape[0], x.Shape[1], 1
	if len(x.Shape) == 4 {
		s = x.Shape[2] * x.Shape[3]
	}
	return n, c, s
}

// syncForward is the training forward with global statistics: the
// per-channel sums of x (and the value count) are all-reduced to the global
// mean, then the sums of (x-mean) and (x-mean)^2 to the biased variance
// (two passes, each accumulated in float64). y and the running statistics
// follow the backend's BatchNormForwardTrain exactly, with the unbiased
// variance of the global count for running_var: y is what BatchNormApply
// computes from the saved global mean and invstd, bit for bit.
func (n *batchNorm) syncForward(x, y *tensor.Tensor) (*tensor.Tensor, error) {
	if n.useDevicePath(x) && x.Numel()/n.c >= 2 {
		return n.syncForwardDevice(x, y)
	}
	n.syncState.localCount = 0
	b, st := n.b, &n.syncState
	N, C, S := bnDims(x)
	st.hx, st.hy = grow(st.hx, x.Numel()), grow(st.hy, x.Numel())
	if err := b.Download(st.hx, x); err != nil {
		return nil, fmt.Errorf("%s sync batch norm: %w", n.name, err)
	}
	xs := st.hx
	red := make([]float64, 2*C+1)
	for i := 0; i < N; i++ {
		for c := 0; c < C; c++ {
			s, _ := vec.SumSqShift(xs[(i*C+c)*S:(i*C+c+1)*S], 0)
			red[c] += s
		}
	}
	red[C] = float64(N * S)
	if err := n.sync.AllReduce64(red[:C+1]); err != nil {
		return nil, fmt.Errorf("%s sync batch norm (sum of x): %w", n.name, err)
	}
	m := red[C]
	if m < 2 {
		return nil, fmt.Errorf("%s: training needs more than 1 value per channel over all ranks, got %g; use a larger global batch", n.name, m)
	}
	mean := make([]float64, C)
	for c := range mean {
		mean[c] = red[c] / m
		red[c], red[C+c] = 0, 0
	}
	for i := 0; i < N; i++ {
		for c := 0; c < C; c++ {
			s, sq := vec.SumSqShift(xs[(i*C+c)*S:(i*C+c+1)*S], mean[c])
			red[c] += s
			red[C+c] += sq
		}
	}
	if err := n.sync.AllReduce64(red[:2*C]); err != nil {
		return nil, fmt.Errorf("%s sync batch norm (sum of squares): %w", n.name, err)
	}
	st.count = m
	st.mean32, st.invStd32 = grow(st.mean32, C), grow(st.invStd32, C)
	gamma, beta, rm, rv := make([]float32, C), make([]float32, C), make([]float32, C), make([]float32, C)
	for _, p := range []struct {
		dst []float32
		src *tensor.Tensor
	}{{gamma, n.gamma.Value}, {beta, n.beta.Value}, {rm, n.runMean}, {rv, n.runVar}} {
		if err := b.Download(p.dst, p.src); err != nil {
			return nil, fmt.Errorf("%s sync batch norm: %w", n.name, err)
		}
	}
	const mom = float64(float32(bnMomentum))
	unbias := m / (m - 1)
	scale := make([]float32, C)
	for c := 0; c < C; c++ {
		dmean := red[c] / m
		mu := mean[c] + dmean
		variance := max(red[C+c]/m-dmean*dmean, 0)
		invStd := 1 / math.Sqrt(variance+float64(float32(bnEps)))
		st.mean32[c], st.invStd32[c] = float32(mu), float32(invStd)
		rm[c] = float32((1-mom)*float64(rm[c]) + mom*mu)
		rv[c] = float32((1-mom)*float64(rv[c]) + mom*variance*unbias)
		// From the rounded invstd, as the backends' training forward and
		// BatchNormApply: a recomputation from saveInvStd gives these bits.
		scale[c] = float32(float64(gamma[c]) * float64(st.invStd32[c]))
	}
	affine := vec.Affine
	if n.relu {
		affine = vec.AffineReLU
	}
	for i := 0; i < N; i++ {
		for c := 0; c < C; c++ {
			off := (i*C + c) * S
			affine(st.hy[off:off+S], xs[off:off+S], st.mean32[c], scale[c], beta[c])
		}
	}
	for _, p := range []struct {
		dst *tensor.Tensor
		src []float32
	}{{y, st.hy}, {n.saveMean, st.mean32}, {n.saveInvStd, st.invStd32}, {n.runMean, rm}, {n.runVar, rv}} {
		if err := b.Upload(p.dst, p.src); err != nil {
			return nil, fmt.Errorf("%s sync batch norm: %w", n.name, err)
		}
	}
	n.numBatches++
	n.x, n.y = x, y
	return y, nil
}

// syncBackward is the training backward with global statistics: the local
// per-channel sums of dy and dy*(x-mean) (dy masked by the ReLU first when
// the layer has one) give this rank's dgamma and dbeta (the gradient
// all-reduce adds the ranks' shares), and their all-reduced totals give dx:
//
//	dx = gamma*invstd*(dy - sum(dy)/M - xhat*sum(dy*xhat)/M)  over global M.
//
// dx may be dy (it is written last, from host copies).
func (n *batchNorm) syncBackward(dy, dx *tensor.Tensor) (*tensor.Tensor, error) {
	if n.syncState.localCount > 0 {
		return n.syncBackwardDevice(dy, dx)
	}
	b, st := n.b, &n.syncState
	x := n.x
	N, C, S := bnDims(x)
	if st.count == 0 || len(st.hx) != x.Numel() {
		return nil, fmt.Errorf("%s: sync batch-norm backward without its forward", n.name)
	}
	st.hdy, st.hdx = grow(st.hdy, x.Numel()), grow(st.hdx, x.Numel())
	// x and y are read again, as the backend's backward would.
	if err := b.Download(st.hdy, dy); err != nil {
		return nil, fmt.Errorf("%s sync batch norm backward: %w", n.name, err)
	}
	if err := b.Download(st.hx, x); err != nil {
		return nil, fmt.Errorf("%s sync batch norm backward: %w", n.name, err)
	}
	var ys []float32
	if n.relu {
		st.hy = grow(st.hy, x.Numel())
		if err := b.Download(st.hy, n.y); err != nil {
			return nil, fmt.Errorf("%s sync batch norm backward: %w", n.name, err)
		}
		ys = st.hy
	}
	xs, dys := st.hx, st.hdy
	red := make([]float64, 2*C)
	for i := 0; i < N; i++ {
		for c := 0; c < C; c++ {
			off := (i*C + c) * S
			var s, d float64
			if ys != nil {
				s, d = vec.SumDotDevMasked(xs[off:off+S], dys[off:off+S], ys[off:off+S], float64(st.mean32[c]))
			} else {
				s, d = vec.SumDotDev(xs[off:off+S], dys[off:off+S], float64(st.mean32[c]))
			}
			red[c] += s
			red[C+c] += d
		}
	}
	dgamma, dbeta := make([]float32, C), make([]float32, C)
	for c := 0; c < C; c++ {
		dgamma[c] = float32(red[C+c] * float64(st.invStd32[c]))
		dbeta[c] = float32(red[c])
	}
	if err := b.Upload(n.gamma.Grad, dgamma); err != nil {
		return nil, fmt.Errorf("%s sync batch norm backward: %w", n.name, err)
	}
	if err := b.Upload(n.beta.Grad, dbeta); err != nil {
		return nil, fmt.Errorf("%s sync batch norm backward: %w", n.name, err)
	}
	if err := n.sync.AllReduce64(red); err != nil {
		return nil, fmt.Errorf("%s sync batch norm backward (sums of dy): %w", n.name, err)
	}
	gamma := make([]float32, C)
	if err := b.Download(gamma, n.gamma.Value); err != nil {
		return nil, fmt.Errorf("%s sync batch norm backward: %w", n.name, err)
	}
	m := st.count
	for i := 0; i < N; i++ {
		for c := 0; c < C; c++ {
			off := (i*C + c) * S
			inv := float64(st.invStd32[c])
			k := float32(float64(gamma[c]) * inv)
			a := float32(red[c] / m)
			bcoef := float32(red[C+c] * inv * inv / m)
			if ys != nil {
				vec.BatchNormDxMasked(st.hdx[off:off+S], xs[off:off+S], dys[off:off+S], ys[off:off+S], k, a, st.mean32[c], bcoef)
			} else {
				vec.BatchNormDx(st.hdx[off:off+S], xs[off:off+S], dys[off:off+S], k, a, st.mean32[c], bcoef)
			}
		}
	}
	if err := b.Upload(dx, st.hdx); err != nil {
		return nil, fmt.Errorf("%s sync batch norm backward: %w", n.name, err)
	}
	return dx, nil
}
