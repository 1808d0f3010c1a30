package cpu

import (
	"math"

	"simclr/internal/backend"
	"simclr/internal/vec"
)

// bnGeom describes x as N x C x S with S = H*W (1 for [N,C] input).
type bnGeom struct{ n, c, s int }

// m is the number of values per channel.
func (g bnGeom) m() int { return g.n * g.s }

// newBNGeom converts the geometry the shape inference returns.
func newBNGeom(g backend.BNGeometry, err error) (bnGeom, error) {
	return bnGeom{n: g.N, c: g.C, s: g.S}, err
}

// bnChannelBlocks is the number of fixed channel blocks batch norm is cut
// into.
const bnChannelBlocks = 8

// bnImageChunkCount is the number of image chunks the training-mode passes
// cut the batch into (fewer when there are fewer images).
const bnImageChunkCount = 16

// bnImageChunks returns the images per chunk and the number of chunks of
// the image-chunked passes: a function of N alone, so the order in which
// the per-chunk partial sums are added (chunk by chunk) and hence the
// results do not depend on GOMAXPROCS. A chunk of images is one contiguous
// stretch of the tensor: with 16 channels of 28x28 the channel blocks of
// forChannelBlocks (2 channels) read 6 KiB runs 50 KiB apart, and the
// passes ran about half as fast as over whole images (docs/benchmarks.md,
// part 7).
func bnImageChunks(n int) (per, chunks int) {
	per = max(1, (n+bnImageChunkCount-1)/bnImageChunkCount)
	return per, (n + per - 1) / per
}

// sumPlanesByImageChunks adds f(off, c) = (du, dv) over every plane (image
// n, channel c, starting at off) of g into u[c] and v[c]. The images are
// cut into bnImageChunks' fixed chunks, each one contiguous stretch of the
// tensor, summed into its own partials in parallel; the partials are added
// in chunk order, so the sums do not depend on GOMAXPROCS.
func sumPlanesByImageChunks(g bnGeom, u, v []float64, f func(off, c int) (float64, float64)) {
	per, chunks := bnImageChunks(g.n)
	part := make([]float64, 2*chunks*g.c)
	parallelFor(chunks, 1, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			pu, pv := part[2*k*g.c:(2*k+1)*g.c], part[(2*k+1)*g.c:(2*k+2)*g.c]
			for n := k * per; n < min((k+1)*per, g.n); n++ {
				for c := 0; c < g.c; c++ {
					du, dv := f((n*g.c+c)*g.s, c)
					pu[c] += du
					pv[c] += dv
				}
			}
		}
	})
	for k := 0; k < chunks; k++ {
		for c := 0; c < g.c; c++ {
			u[c] += part[2*k*g.c+c]
			v[c] += part[(2*k+1)*g.c+c]
		}
	}
}

// forPlanesByImageChunks calls f(off, c) for every plane of g, the image
// chunks of sumPlanesByImageChunks in parallel.
func forPlanesByImageChunks(g bnGeom, f func(off, c int)) {
	per, chunks := bnImageChunks(g.n)
	parallelFor(chunks, 1, func(lo, hi int) {
		for n := lo * per; n < min(hi*per, g.n); n++ {
			for c := 0; c < g.c; c++ {
				f((n*g.c+c)*g.s, c)
			}
		}
	})
}

// forChannelBlocks runs fn(c0, c1) for fixed blocks of channels, spread
// over goroutines. Within a block the loops run image by image over all the
// block's channels, so each image's block is one contiguous stretch of
// memory (with small maps a channel's values alone are a 64-byte run every
// C*H*W floats, and the channel-by-channel sweep missed the TLB on every
// access); each channel's values are still summed in image order, so the
// results do not depend on the blocking or on GOMAXPROCS.
func forChannelBlocks(g bnGeom, fn func(c0, c1 int)) {
	parallelFor(g.c, max(1, (g.c+bnChannelBlocks-1)/bnChannelBlocks), fn)
}

// BatchNormForwardTrain normalises x ([N,C,H,W] or [N,C]) with the batch
// statistics: y = (x-mean)*invstd*gamma + beta with the biased variance.
// It saves mean and invstd = 1/sqrt(var+eps) and updates the running
// statistics like PyTorch: run = (1-momentum)*run + momentum*batch, using
// the unbiased variance for runVar. Statistics are accumulated in float64.
func (b *Backend) BatchNormForwardTrain(x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar *Tensor, momentum, eps float32) error {
	if err := checkHost(backend.OpBatchNormForwardTrain, "x gamma beta y saveMean saveInvStd runMean runVar", x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar); err != nil {
		return err
	}
	g, err := newBNGeom(backend.CheckBatchNormForwardTrain(x.Shape, gamma.Shape, beta.Shape, y.Shape, saveMean.Shape, saveInvStd.Shape, runMean.Shape, runVar.Shape, momentum, eps))
	if err != nil {
		return err
	}
	return b.bnForwardTrain(g, false, x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar, momentum, eps)
}

// BatchNormReLUForwardTrain is BatchNormForwardTrain with ReLU applied to y
// in the same pass (bit-identical to the two ops in turn).
func (b *Backend) BatchNormReLUForwardTrain(x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar *Tensor, momentum, eps float32) error {
	if err := checkHost(backend.OpBatchNormReLUForwardTrain, "x gamma beta y saveMean saveInvStd runMean runVar", x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar); err != nil {
		return err
	}
	g, err := newBNGeom(backend.CheckBatchNormReLUForwardTrain(x.Shape, gamma.Shape, beta.Shape, y.Shape, saveMean.Shape, saveInvStd.Shape, runMean.Shape, runVar.Shape, momentum, eps))
	if err != nil {
		return err
	}
	return b.bnForwardTrain(g, true, x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar, momentum, eps)
}

// bnForwardTrain is the training-mode forward on checked operands,
// followed by ReLU when relu.
func (b *Backend) bnForwardTrain(g bnGeom, relu bool, x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar *Tensor, momentum, eps float32) error {
	m := g.m()
	xs, ys := x.Host, y.Host
	gs, bs := gamma.Host, beta.Host
	sm, si, rm, rv := saveMean.Host, saveInvStd.Host, runMean.Host, runVar.Host
	mom := float64(momentum)
	unbias := float64(m) / float64(m-1)
	affine := vec.Affine
	if relu {
		affine = vec.AffineReLU
	}
	// Per-channel values.
	pivot := make([]float64, g.c)
	sum := make([]float64, g.c)
	sq := make([]float64, g.c)
	mean32 := make([]float32, g.c)
	scale := make([]float32, g.c)
	for c := range pivot {
		pivot[c] = float64(xs[c*g.s]) // each channel shifted by its first value
	}
	// stats turns the sums of channels c0..c1-1 into the saved and running
	// statistics and the affine coefficients.
	stats := func(c0, c1 int) {
		for c := c0; c < c1; c++ {
			dmean := sum[c] / float64(m)
			mean := pivot[c] + dmean
			variance := max(sq[c]/float64(m)-dmean*dmean, 0)
			invStd := 1 / math.Sqrt(variance+float64(eps))
			sm[c] = float32(mean)
			si[c] = float32(invStd)
			rm[c] = float32((1-mom)*float64(rm[c]) + mom*mean)
			rv[c] = float32((1-mom)*float64(rv[c]) + mom*variance*unbias)
			mean32[c] = float32(mean)
			// From the rounded invstd, as BatchNormApply computes it
			// from saveInvStd: a recomputation gives the same bits.
			scale[c] = bnScale(gs[c], si[c])
		}
	}
	if b.bnByChannel {
		// Part 5's layout: fixed channel blocks, each over all images.
		forChannelBlocks(g, func(c0, c1 int) {
			for n := 0; n < g.n; n++ {
				for c := c0; c < c1; c++ {
					off := (n*g.c + c) * g.s
					a, b := vec.SumSqShift(xs[off:off+g.s], pivot[c])
					sum[c] += a
					sq[c] += b
				}
			}
			stats(c0, c1)
			for n := 0; n < g.n; n++ {
				for c := c0; c < c1; c++ {
					off := (n*g.c + c) * g.s
					affine(ys[off:off+g.s], xs[off:off+g.s], mean32[c], scale[c], bs[c])
				}
			}
		})
		return nil
	}
	// Image chunks: each chunk is one contiguous stretch of x.
	sumPlanesByImageChunks(g, sum, sq, func(off, c int) (float64, float64) {
		return vec.SumSqShift(xs[off:off+g.s], pivot[c])
	})
	stats(0, g.c)
	forPlanesByImageChunks(g, func(off, c int) {
		affine(ys[off:off+g.s], xs[off:off+g.s], mean32[c], scale[c], bs[c])
	})
	return nil
}

// bnScale is the per-channel factor of the training-mode output:
// gamma*invstd rounded once, from the saved (float32) invstd.
func bnScale(gamma, invStd float32) float32 {
	return float32(float64(gamma) * float64(invStd))
}

// BatchNormApply recomputes the output of a training-mode forward from its
// saved statistics, y = (x-saveMean)*scale + beta with scale =
// bnScale(gamma, saveInvStd), through the ReLU when relu: the elementwise
// pass of bnForwardTrain on the same per-channel values, so the same bits.
// Running statistics are not read or written. y may alias x.
func (b *Backend) BatchNormApply(x, gamma, beta, saveMean, saveInvStd, y *Tensor, relu bool) error {
	if err := checkHost(backend.OpBatchNormApply, "x gamma beta saveMean saveInvStd y", x, gamma, beta, saveMean, saveInvStd, y); err != nil {
		return err
	}
	g, err := newBNGeom(backend.CheckBatchNormApply(x.Shape, gamma.Shape, beta.Shape, saveMean.Shape, saveInvStd.Shape, y.Shape))
	if err != nil {
		return err
	}
	xs, ys := x.Host, y.Host
	gs, bs, sm, si := gamma.Host, beta.Host, saveMean.Host, saveInvStd.Host
	scale := make([]float32, g.c)
	for c := range scale {
		scale[c] = bnScale(gs[c], si[c])
	}
	affine := vec.Affine
	if relu {
		affine = vec.AffineReLU
	}
	forPlanesByImageChunks(g, func(off, c int) {
		affine(ys[off:off+g.s], xs[off:off+g.s], sm[c], scale[c], bs[c])
	})
	return nil
}

// BatchNormForwardEval normalises x with the running statistics:
// y = (x-runMean)/sqrt(runVar+eps)*gamma + beta.
func (b *Backend) BatchNormForwardEval(x, gamma, beta, runMean, runVar, y *Tensor, eps float32) error {
	if err := checkHost(backend.OpBatchNormForwardEval, "x gamma beta runMean runVar y", x, gamma, beta, runMean, runVar, y); err != nil {
		return err
	}
	g, err := newBNGeom(backend.CheckBatchNormForwardEval(x.Shape, gamma.Shape, beta.Shape, runMean.Shape, runVar.Shape, y.Shape, eps))
	if err != nil {
		return err
	}
	if err := backend.CheckRunningStats(runMean.Host, runVar.Host, eps); err != nil {
		return err
	}
	xs, ys := x.Host, y.Host
	gs, bs, rm, rv := gamma.Host, beta.Host, runMean.Host, runVar.Host
	scale := make([]float32, g.c)
	for c := range scale {
		scale[c] = float32(float64(gs[c]) / math.Sqrt(float64(rv[c])+float64(eps)))
	}
	forChannelBlocks(g, func(c0, c1 int) {
		for n := 0; n < g.n; n++ {
			for c := c0; c < c1; c++ {
				off := (n*g.c + c) * g.s
				vec.Affine(ys[off:off+g.s], xs[off:off+g.s], rm[c], scale[c], bs[c])
			}
		}
	})
	return nil
}

// BatchNormBackward computes dx, dgamma and dbeta of the training-mode
// forward from the saved mean and invstd:
//
//	xhat = (x-mean)*invstd, dbeta = sum dy, dgamma = sum dy*xhat,
//	dx = gamma*invstd*(dy - dbeta/M - xhat*dgamma/M).
//
// dx may alias dy.
func (b *Backend) BatchNormBackward(dy, x, gamma, saveMean, saveInvStd, dx, dgamma, dbeta *Tensor) error {
	if err := checkHost(backend.OpBatchNormBackward, "dy x gamma saveMean saveInvStd dx dgamma dbeta", dy, x, gamma, saveMean, saveInvStd, dx, dgamma, dbeta); err != nil {
		return err
	}
	g, err := newBNGeom(backend.CheckBatchNormBackward(dy.Shape, x.Shape, gamma.Shape, saveMean.Shape, saveInvStd.Shape, dx.Shape, dgamma.Shape, dbeta.Shape))
	if err != nil {
		return err
	}
	return b.bnBackward(g, dy, nil, x, gamma, saveMean, saveInvStd, dx, dgamma, dbeta)
}

// BatchNormReLUBackward is BatchNormBackward of dy masked by ReLU's output
// y (dy where y > 0, else 0), without writing the masked gradient.
func (b *Backend) BatchNormReLUBackward(dy, y, x, gamma, saveMean, saveInvStd, dx, dgamma, dbeta *Tensor) error {
	if err := checkHost(backend.OpBatchNormReLUBackward, "dy y x gamma saveMean saveInvStd dx dgamma dbeta", dy, y, x, gamma, saveMean, saveInvStd, dx, dgamma, dbeta); err != nil {
		return err
	}
	g, err := newBNGeom(backend.CheckBatchNormReLUBackward(dy.Shape, y.Shape, x.Shape, gamma.Shape, saveMean.Shape, saveInvStd.Shape, dx.Shape, dgamma.Shape, dbeta.Shape))
	if err != nil {
		return err
	}
	return b.bnBackward(g, dy, y, x, gamma, saveMean, saveInvStd, dx, dgamma, dbeta)
}

// bnBackward is the batch-norm backward on checked operands; with y not
// nil, dy is first masked by ReLU's output y.
func (b *Backend) bnBackward(g bnGeom, dy, y, x, gamma, saveMean, saveInvStd, dx, dgamma, dbeta *Tensor) error {
	var ys []float32
	if y != nil {
		ys = y.Host
	}
	m := float64(g.m())
	xs, dys, dxs := x.Host, dy.Host, dx.Host
	gs, sm, si, dgs, dbs := gamma.Host, saveMean.Host, saveInvStd.Host, dgamma.Host, dbeta.Host
	// Per-channel values.
	sdy := make([]float64, g.c)
	sdyx := make([]float64, g.c)
	k := make([]float32, g.c)
	a := make([]float32, g.c)
	bcoef := make([]float32, g.c)
	// sums returns sum dy and sum dy*(x-mean) over one (image, channel)
	// stretch, dy masked by y > 0 when there is a y.
	sums := func(off, c int) (float64, float64) {
		mean := float64(sm[c])
		if ys != nil {
			return vec.SumDotDevMasked(xs[off:off+g.s], dys[off:off+g.s], ys[off:off+g.s], mean)
		}
		return vec.SumDotDev(xs[off:off+g.s], dys[off:off+g.s], mean)
	}
	// coef turns the sums of channels c0..c1-1 into dgamma, dbeta and
	// dx = k*(dy - a - (x-mean)*bcoef) with k = gamma*invstd,
	// a = dbeta/M, bcoef = dgamma*invstd/M.
	coef := func(c0, c1 int) {
		for c := c0; c < c1; c++ {
			inv := float64(si[c])
			dgamma := sdyx[c] * inv
			dgs[c] = float32(dgamma)
			dbs[c] = float32(sdy[c])
			k[c] = float32(float64(gs[c]) * inv)
			a[c] = float32(sdy[c] / m)
			bcoef[c] = float32(dgamma * inv / m)
		}
	}
	writeDx := func(off, c int) {
		if ys != nil {
			vec.BatchNormDxMasked(dxs[off:off+g.s], xs[off:off+g.s], dys[off:off+g.s], ys[off:off+g.s], k[c], a[c], sm[c], bcoef[c])
		} else {
			vec.BatchNormDx(dxs[off:off+g.s], xs[off:off+g.s], dys[off:off+g.s], k[c], a[c], sm[c], bcoef[c])
		}
	}
	if b.bnByChannel {
		// Part 5's layout: fixed channel blocks, each over all images.
		forChannelBlocks(g, func(c0, c1 int) {
			for n := 0; n < g.n; n++ {
				for c := c0; c < c1; c++ {
					s, d := sums((n*g.c+c)*g.s, c)
					sdy[c] += s
					sdyx[c] += d
				}
			}
			coef(c0, c1)
			for n := 0; n < g.n; n++ {
				for c := c0; c < c1; c++ {
					writeDx((n*g.c+c)*g.s, c)
				}
			}
		})
		return nil
	}
	// Image chunks, as in the forward.
	sumPlanesByImageChunks(g, sdy, sdyx, sums)
	coef(0, g.c)
	forPlanesByImageChunks(g, writeDx)
	return nil
}
