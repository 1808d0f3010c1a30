//go:build cuda || cudaemu

package cuda

import (
	"fmt"

	"simclr/internal/backend"
	"simclr/internal/tensor"
)

// bnGeom describes x as N x C x S with S = H*W (1 for [N,C] input).
type bnGeom struct{ n, c, s int }

func (b *Backend) newBNGeom(op, name string, x *Tensor) (bnGeom, error) {
	if err := b.checkDev(op, name, x); err != nil {
		return bnGeom{}, err
	}
	g, err := backend.NewBNGeometry(op, name, x.Shape)
	return bnGeom{n: g.N, c: g.C, s: g.S}, err
}

func (b *Backend) checkChannelVectors(op string, c int, names []string, ts ...*Tensor) error {
	want := tensor.Shape{c}
	for i, t := range ts {
		if err := b.checkShape(op, names[i], t, want); err != nil {
			return err
		}
	}
	return nil
}

// BatchNormForwardTrain normalises x with the batch statistics (one block
// per channel, float64 two-pass statistics), saves mean and invstd and
// updates the running statistics like PyTorch.
func (b *Backend) BatchNormForwardTrain(x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar *Tensor, momentum, eps float32) error {
	return b.bnForwardTrain("batchnorm forward train", false, x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar, momentum, eps)
}

// BatchNormReLUForwardTrain is BatchNormForwardTrain with the ReLU applied
// to each value before it is stored (the same kernel with relu set): y =
// relu(bn(x)) equals BatchNormForwardTrain + ReLUForward bit for bit,
// without the ReLU's extra read and write of y.
func (b *Backend) BatchNormReLUForwardTrain(x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar *Tensor, momentum, eps float32) error {
	return b.bnForwardTrain("batchnorm+relu forward train", true, x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar, momentum, eps)
}

// bnForwardTrain validates the arguments of the training-mode forward and
// launches bn_fwd_train, with the ReLU fused in when relu is set.
func (b *Backend) bnForwardTrain(op string, relu bool, x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar *Tensor, momentum, eps float32) error {
	g, err := b.newBNGeom(op, "x", x)
	if err != nil {
		return err
	}
	if err := b.checkShape(op, "y", y, x.Shape); err != nil {
		return err
	}
	if err := b.checkChannelVectors(op, g.c, []string{"gamma", "beta", "saveMean", "saveInvStd", "runMean", "runVar"},
		gamma, beta, saveMean, saveInvStd, runMean, runVar); err != nil {
		return err
	}
	if !(eps > 0) || !backend.Finite32(eps) {
		return fmt.Errorf("%s: eps %g must be positive and finite (PyTorch uses 1e-5)", op, eps)
	}
	if !(momentum >= 0 && momentum <= 1) {
		return fmt.Errorf("%s: momentum %g must lie in [0, 1] (PyTorch uses 0.1)", op, momentum)
	}
	if m := g.n * g.s; m < 2 {
		return fmt.Errorf("%s: x %v has %d value per channel; training-mode batch norm needs at least 2 (use a larger batch)", op, x.Shape, m)
	}
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
	const op = "batchnorm forward eval"
	g, err := b.newBNGeom(op, "x", x)
	if err != nil {
		return err
	}
	if err := b.checkShape(op, "y", y, x.Shape); err != nil {
		return err
	}
	if err := b.checkChannelVectors(op, g.c, []string{"gamma", "beta", "runMean", "runVar"}, gamma, beta, runMean, runVar); err != nil {
		return err
	}
	if !(eps > 0) || !backend.Finite32(eps) {
		return fmt.Errorf("%s: eps %g must be positive and finite (PyTorch uses 1e-5)", op, eps)
	}
	rm := make([]float32, g.c)
	rv := make([]float32, g.c)
	if err := b.Download(rm, runMean); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := b.Download(rv, runVar); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	for c, v := range rv {
		if !(float64(v)+float64(eps) > 0) || !backend.Finite32(v) || !backend.Finite32(rm[c]) {
			return fmt.Errorf("%s: running statistics of channel %d are invalid (mean %g, var %g); reload the checkpoint or retrain", op, c, rm[c], v)
		}
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
	return b.bnBackward("batchnorm backward", dy, nil, x, gamma, saveMean, saveInvStd, dx, dgamma, dbeta)
}

// BatchNormReLUBackward is ReLUBackward followed by BatchNormBackward in
// one kernel: bn_bwd reads dy masked by y > 0 (y the output of
// BatchNormReLUForwardTrain) in both of its passes instead of a masked
// copy, so the results equal the two unfused calls bit for bit. dx may
// alias dy.
func (b *Backend) BatchNormReLUBackward(dy, y, x, gamma, saveMean, saveInvStd, dx, dgamma, dbeta *Tensor) error {
	const op = "batchnorm+relu backward"
	if err := b.checkDev(op, "y", y); err != nil {
		return err
	}
	return b.bnBackward(op, dy, y, x, gamma, saveMean, saveInvStd, dx, dgamma, dbeta)
}

// bnBackward validates the arguments of the backward pass and launches
// bn_bwd; y is the ReLU output that masks dy, or nil for plain batch norm.
func (b *Backend) bnBackward(op string, dy, y, x, gamma, saveMean, saveInvStd, dx, dgamma, dbeta *Tensor) error {
	g, err := b.newBNGeom(op, "x", x)
	if err != nil {
		return err
	}
	if err := b.checkShape(op, "dy", dy, x.Shape); err != nil {
		return err
	}
	if y != nil {
		if err := b.checkShape(op, "y", y, x.Shape); err != nil {
			return err
		}
	}
	if err := b.checkShape(op, "dx", dx, x.Shape); err != nil {
		return err
	}
	if err := b.checkChannelVectors(op, g.c, []string{"gamma", "saveMean", "saveInvStd", "dgamma", "dbeta"},
		gamma, saveMean, saveInvStd, dgamma, dbeta); err != nil {
		return err
	}
	if g.c == 0 {
		return nil
	}
	a := args{}.ptr(dy).optPtr(y).ptr(x).ptr(gamma).ptr(saveMean).ptr(saveInvStd).ptr(dx).ptr(dgamma).ptr(dbeta).
		i(g.n).i(g.c).i(g.s)
	return b.launch(op, "bn_bwd", dim3{g.c, 1, 1}, block1D(), a, x.Shape)
}
