//go:build cuda || cudaemu

package cuda

import (
	"fmt"

	"simclr/internal/backend"
	"simclr/internal/tensor"
)

// bnGeom describes x as N x C x S with S = H*W (1 for [N,C] input).
type bnGeom struct{ n, c, s int }

// newBNGeom converts the geometry the shape inference returns.
func newBNGeom(g backend.BNGeometry, err error) (bnGeom, error) {
	return bnGeom{n: g.N, c: g.C, s: g.S}, err
}

// BatchNormForwardTrain normalises x with the batch statistics (float64
// two-pass statistics on a channels x chunks grid, see bnForwardTrain), saves mean and invstd and
// updates the running statistics like PyTorch.
func (b *Backend) BatchNormForwardTrain(x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar *Tensor, momentum, eps float32) error {
	const op = backend.OpBatchNormForwardTrain
	if err := b.checkDev(op, "x gamma beta y saveMean saveInvStd runMean runVar", x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar); err != nil {
		return err
	}
	g, err := newBNGeom(backend.CheckBatchNormForwardTrain(x.Shape, gamma.Shape, beta.Shape, y.Shape, saveMean.Shape, saveInvStd.Shape, runMean.Shape, runVar.Shape, momentum, eps))
	if err != nil {
		return err
	}
	return b.bnForwardTrain(op, g, false, x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar, momentum, eps)
}

// BatchNormReLUForwardTrain is BatchNormForwardTrain with the ReLU applied
// to each value before it is stored (the same kernel with relu set): y =
// relu(bn(x)) equals BatchNormForwardTrain + ReLUForward bit for bit,
// without the ReLU's extra read and write of y.
func (b *Backend) BatchNormReLUForwardTrain(x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar *Tensor, momentum, eps float32) error {
	const op = backend.OpBatchNormReLUForwardTrain
	if err := b.checkDev(op, "x gamma beta y saveMean saveInvStd runMean runVar", x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar); err != nil {
		return err
	}
	g, err := newBNGeom(backend.CheckBatchNormReLUForwardTrain(x.Shape, gamma.Shape, beta.Shape, y.Shape, saveMean.Shape, saveInvStd.Shape, runMean.Shape, runVar.Shape, momentum, eps))
	if err != nil {
		return err
	}
	return b.bnForwardTrain(op, g, true, x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar, momentum, eps)
}

// Batch-norm launch geometry (kernels/batchnorm.cu): the statistics run on
// a (C, chunks) grid, each block summing at least bnMinChunk units of its
// channel; chunks is chosen so the grid has about bnWantBlocks blocks (the
// small layers fill the machine), at most bnMaxChunks per channel.
const (
	bnMinChunk   = 2048
	bnWantBlocks = 4096
	bnMaxChunks  = 1024
)

// bnApplyMaxBlocks caps the grid of the elementwise passes (bn_apply,
// bn_bwd_apply); a variable so that a test can make every thread walk
// several units.
var bnApplyMaxBlocks = maxGridX

func bnApplyGrid(units int) dim3 {
	g := elemGrid(units)
	g.x = min(g.x, bnApplyMaxBlocks)
	return g
}

// bnChunks splits a channel's u units into chunks of chunk units.
func bnChunks(u, c int) (chunk, chunks int) {
	chunks = max(1, min(ceilDiv(u, bnMinChunk), ceilDiv(bnWantBlocks, c), bnMaxChunks))
	chunk = max(1, ceilDiv(u, chunks))
	return chunk, max(1, ceilDiv(u, chunk))
}

// bnWidth is the unit width the kernels use: 4 (float4 accesses) when a
// row of S values is a whole number of float4s and every tensor they read
// or write that way is 16-byte aligned, else 1.
func bnWidth(s int, ts ...*Tensor) int {
	if s%4 != 0 {
		return 1
	}
	for _, t := range ts {
		if t != nil && t.Dev%16 != 0 {
			return 1
		}
	}
	return 4
}

// bnForwardTrain launches the statistics (bn_sum_partial, bn_sq_partial
// on the (C, chunks) grid, bn_train_finish per channel) and bn_apply on
// checked operands, with the ReLU fused in when relu is set.
func (b *Backend) bnForwardTrain(op string, g bnGeom, relu bool, x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar *Tensor, momentum, eps float32) error {
	if g.c == 0 {
		return nil
	}
	w := bnWidth(g.s, x, y)
	chunk, chunks := bnChunks(g.n*g.s/w, g.c)
	parts := int64(g.c) * int64(chunks) * 8
	buf, err := b.scratch(2*parts + 4*int64(g.c))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer buf.release()
	psum, psq, scale := buf.ptr, buf.ptr+uintptr(parts), buf.ptr+uintptr(2*parts)
	grid := dim3{g.c, chunks, 1}
	cgrid := dim3{ceilDiv(g.c, blockThreads), 1, 1}
	cs := tensor.Shape{g.c}
	a := args{}.ptr(x).i(g.n).i(g.c).i(g.s).i(w).i(chunk).raw(psum)
	if err := b.launch(op, "bn_sum_partial", grid, block1D(), a, x.Shape); err != nil {
		return err
	}
	a = args{}.ptr(x).raw(psum).i(g.n).i(g.c).i(g.s).i(w).i(chunk).raw(psq)
	if err := b.launch(op, "bn_sq_partial", grid, block1D(), a, x.Shape); err != nil {
		return err
	}
	a = args{}.raw(psum).raw(psq).i(chunks).ptr(gamma).ptr(saveMean).ptr(saveInvStd).ptr(runMean).ptr(runVar).raw(scale).
		i(g.c).i(g.n * g.s).f(momentum).f(eps)
	if err := b.launch(op, "bn_train_finish", cgrid, block1D(), a, cs); err != nil {
		return err
	}
	return b.bnApply(op, g, w, relu, x, saveMean.Dev, scale, beta, y)
}

// bnApply launches bn_apply: y = (x-mean[c])*scale[c] + shift[c].
func (b *Backend) bnApply(op string, g bnGeom, w int, relu bool, x *Tensor, mean, scale uintptr, shift, y *Tensor) error {
	a := args{}.ptr(x).raw(mean).raw(scale).ptr(shift).ptr(y).i(g.n).i(g.c).i(g.s).i(w).flag(relu)
	return b.launch(op, "bn_apply", bnApplyGrid(x.Numel()/w), block1D(), a, x.Shape, y.Shape)
}

// BatchNormApply recomputes the output of a training-mode forward from its
// saved statistics: bn_apply_scale (scale[c] from gamma and saveInvStd,
// as bn_train_finish computes it) and bn_apply with mean = saveMean and
// shift = beta, the same kernel and values as the training forward, so the
// same bits. Running statistics are untouched, nothing is read back to the
// host, nothing is reduced. y may alias x (bn_apply is elementwise).
func (b *Backend) BatchNormApply(x, gamma, beta, saveMean, saveInvStd, y *Tensor, relu bool) error {
	const op = backend.OpBatchNormApply
	if err := b.checkDev(op, "x gamma beta saveMean saveInvStd y", x, gamma, beta, saveMean, saveInvStd, y); err != nil {
		return err
	}
	g, err := newBNGeom(backend.CheckBatchNormApply(x.Shape, gamma.Shape, beta.Shape, saveMean.Shape, saveInvStd.Shape, y.Shape))
	if err != nil {
		return err
	}
	if x.Numel() == 0 {
		return nil
	}
	buf, err := b.scratch(4 * int64(g.c))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer buf.release()
	a := args{}.ptr(gamma).ptr(saveInvStd).raw(buf.ptr).i(g.c)
	if err := b.launch(op, "bn_apply_scale", dim3{ceilDiv(g.c, blockThreads), 1, 1}, block1D(), a, tensor.Shape{g.c}); err != nil {
		return err
	}
	return b.bnApply(op, g, bnWidth(g.s, x, y), relu, x, saveMean.Dev, buf.ptr, beta, y)
}

// BatchNormForwardEval normalises x with the running statistics. Like the
// CPU backend it rejects invalid running statistics (downloading the C
// values to check them).
func (b *Backend) BatchNormForwardEval(x, gamma, beta, runMean, runVar, y *Tensor, eps float32) error {
	const op = backend.OpBatchNormForwardEval
	if err := b.checkDev(op, "x gamma beta runMean runVar y", x, gamma, beta, runMean, runVar, y); err != nil {
		return err
	}
	g, err := newBNGeom(backend.CheckBatchNormForwardEval(x.Shape, gamma.Shape, beta.Shape, runMean.Shape, runVar.Shape, y.Shape, eps))
	if err != nil {
		return err
	}
	rm := make([]float32, g.c)
	rv := make([]float32, g.c)
	if err := b.Download(rm, runMean); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := b.Download(rv, runVar); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := backend.CheckRunningStats(rm, rv, eps); err != nil {
		return err
	}
	if x.Numel() == 0 {
		return nil
	}
	buf, err := b.scratch(4 * int64(g.c))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer buf.release()
	a := args{}.ptr(gamma).ptr(runVar).raw(buf.ptr).i(g.c).f(eps)
	if err := b.launch(op, "bn_eval_scale", dim3{ceilDiv(g.c, blockThreads), 1, 1}, block1D(), a, tensor.Shape{g.c}); err != nil {
		return err
	}
	return b.bnApply(op, g, bnWidth(g.s, x, y), false, x, runMean.Dev, buf.ptr, beta, y)
}

// BatchNormBackward computes dx, dgamma and dbeta of the training-mode
// forward from the saved statistics; dx may alias dy.
func (b *Backend) BatchNormBackward(dy, x, gamma, saveMean, saveInvStd, dx, dgamma, dbeta *Tensor) error {
	const op = backend.OpBatchNormBackward
	if err := b.checkDev(op, "dy x gamma saveMean saveInvStd dx dgamma dbeta", dy, x, gamma, saveMean, saveInvStd, dx, dgamma, dbeta); err != nil {
		return err
	}
	g, err := newBNGeom(backend.CheckBatchNormBackward(dy.Shape, x.Shape, gamma.Shape, saveMean.Shape, saveInvStd.Shape, dx.Shape, dgamma.Shape, dbeta.Shape))
	if err != nil {
		return err
	}
	return b.bnBackward(op, g, dy, nil, x, gamma, saveMean, saveInvStd, dx, dgamma, dbeta)
}

// BatchNormReLUBackward is ReLUBackward followed by BatchNormBackward in
// one pass: bn_bwd_partial and bn_bwd_apply read dy masked by y > 0 (y
// the output of BatchNormReLUForwardTrain) instead of a masked copy, so the results equal the two unfused calls bit for bit. dx may
// alias dy.
func (b *Backend) BatchNormReLUBackward(dy, y, x, gamma, saveMean, saveInvStd, dx, dgamma, dbeta *Tensor) error {
	const op = backend.OpBatchNormReLUBackward
	if err := b.checkDev(op, "dy y x gamma saveMean saveInvStd dx dgamma dbeta", dy, y, x, gamma, saveMean, saveInvStd, dx, dgamma, dbeta); err != nil {
		return err
	}
	g, err := newBNGeom(backend.CheckBatchNormReLUBackward(dy.Shape, y.Shape, x.Shape, gamma.Shape, saveMean.Shape, saveInvStd.Shape, dx.Shape, dgamma.Shape, dbeta.Shape))
	if err != nil {
		return err
	}
	return b.bnBackward(op, g, dy, y, x, gamma, saveMean, saveInvStd, dx, dgamma, dbeta)
}

// bnBackward launches bn_bwd_partial on the (C, chunks) grid, bn_bwd_finish
// per channel and bn_bwd_apply on checked operands; y is the ReLU output
// that masks dy, or nil for plain batch norm.
func (b *Backend) bnBackward(op string, g bnGeom, dy, y, x, gamma, saveMean, saveInvStd, dx, dgamma, dbeta *Tensor) error {
	if g.c == 0 {
		return nil
	}
	w := bnWidth(g.s, dy, y, x, dx)
	chunk, chunks := bnChunks(g.n*g.s/w, g.c)
	parts := int64(g.c) * int64(chunks) * 16
	buf, err := b.scratch(parts + 12*int64(g.c))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer buf.release()
	pg, coef := buf.ptr, buf.ptr+uintptr(parts)
	a := args{}.ptr(dy).optPtr(y).ptr(x).ptr(saveMean).i(g.n).i(g.c).i(g.s).i(w).i(chunk).raw(pg)
	if err := b.launch(op, "bn_bwd_partial", dim3{g.c, chunks, 1}, block1D(), a, bnShapes(dy, y, x)...); err != nil {
		return err
	}
	a = args{}.raw(pg).i(chunks).ptr(gamma).ptr(saveInvStd).ptr(dgamma).ptr(dbeta).raw(coef).i(g.c).i(g.n * g.s)
	if err := b.launch(op, "bn_bwd_finish", dim3{ceilDiv(g.c, blockThreads), 1, 1}, block1D(), a, tensor.Shape{g.c}); err != nil {
		return err
	}
	a = args{}.ptr(dy).optPtr(y).ptr(x).ptr(saveMean).raw(coef).ptr(dx).i(g.n).i(g.c).i(g.s).i(w)
	return b.launch(op, "bn_bwd_apply", bnApplyGrid(x.Numel()/w), block1D(), a, bnShapes(dy, y, x, dx)...)
}

// bnShapes lists the shapes of the tensors a batch-norm pass reads or
// writes in full (y may be nil): the launch log's operands, from which the
// static performance model counts the pass's bytes.
func bnShapes(ts ...*Tensor) []tensor.Shape {
	var out []tensor.Shape
	for _, t := range ts {
		if t != nil {
			out = append(out, t.Shape)
		}
	}
	return out
}
