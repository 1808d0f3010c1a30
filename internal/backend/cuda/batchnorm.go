//go:build cuda || cudaemu

package cuda

import (
	"fmt"

	"simclr/internal/backend"
)

// bnGeom describes x as N x C x S with S = H*W (1 for [N,C] input).
type bnGeom struct{ n, c, s int }

// newBNGeom converts the geometry the shape inference returns.
func newBNGeom(g backend.BNGeometry, err error) (bnGeom, error) {
	return bnGeom{n: g.N, c: g.C, s: g.S}, err
}

// BatchNormForwardTrain normalises x with the batch statistics (one block
// per channel, float64 two-pass statistics), saves mean and invstd and
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

// bnForwardTrain launches bn_fwd_train on checked operands, with the ReLU
// fused in when relu is set.
func (b *Backend) bnForwardTrain(op string, g bnGeom, relu bool, x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar *Tensor, momentum, eps float32) error {
	if g.c == 0 {
		return nil
	}
	a := args{}.ptr(x).ptr(gamma).ptr(beta).ptr(y).ptr(saveMean).ptr(saveInvStd).ptr(runMean).ptr(runVar).
		i(g.n).i(g.c).i(g.s).f(momentum).f(eps).flag(relu)
	return b.launch(op, "bn_fwd_train", dim3{g.c, 1, 1}, block1D(), a, x.Shape)
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
	n := x.Numel()
	if n == 0 {
		return nil
	}
	a := args{}.ptr(x).ptr(gamma).ptr(beta).ptr(runMean).ptr(runVar).ptr(y).i(g.n).i(g.c).i(g.s).f(eps)
	return b.launch(op, "bn_fwd_eval", elemGrid(n), block1D(), a, x.Shape)
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
// one kernel: bn_bwd reads dy masked by y > 0 (y the output of
// BatchNormReLUForwardTrain) in both of its passes instead of a masked
// copy, so the results equal the two unfused calls bit for bit. dx may
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

// bnBackward launches bn_bwd on checked operands; y is the ReLU output
// that masks dy, or nil for plain batch norm.
func (b *Backend) bnBackward(op string, g bnGeom, dy, y, x, gamma, saveMean, saveInvStd, dx, dgamma, dbeta *Tensor) error {
	if g.c == 0 {
		return nil
	}
	a := args{}.ptr(dy).optPtr(y).ptr(x).ptr(gamma).ptr(saveMean).ptr(saveInvStd).ptr(dx).ptr(dgamma).ptr(dbeta).
		i(g.n).i(g.c).i(g.s)
	return b.launch(op, "bn_bwd", dim3{g.c, 1, 1}, block1D(), a, x.Shape)
}
