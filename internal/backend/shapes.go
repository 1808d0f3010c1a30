package backend

import (
	"fmt"

	"simclr/internal/tensor"
)

// Shape inference, written once for every backend (after gomlx's
// shapeinference package): for each op a pure function of the operands'
// shapes and the op's parameters that returns the op's geometry, or the
// error every backend reports for that call. The Infer functions compute the
// output shape of a forward op from its inputs; the Check functions, one per
// Backend method, take the shapes of all the method's tensor operands in
// argument order (inputs and outputs) and check them against each other.
//
// A backend first checks that each operand is one of its own tensors (host
// or device storage, not nil, not freed; its residency check), then calls the
// Check function and runs the op on the geometry it returns. Optional
// operands (LinearForward's b, LinearBackward's dx and db) are passed as
// ShapeOf(t): nil when the operand is absent.
//
// Errors start with the op name (the Op constants below). A shape that
// disagrees with the others is a *tensor.ShapeError naming the argument and
// both shapes; when an operand has the wrong number of dimensions the wanted
// shape shows -1 for each dimension of any size, e.g. "want [-1 -1 -1 -1]".
// Bad parameters are plain errors that name the value and the valid range.

// Op names, as errors spell them.
const (
	OpUpload                      = "upload"
	OpDownload                    = "download"
	OpZero                        = "zero"
	OpCopy                        = "copy"
	OpView                        = "view"
	OpAdd                         = "add"
	OpConv2DForward               = "conv2d forward"
	OpConv2DBackwardData          = "conv2d backward data"
	OpConv2DBackwardFilter        = "conv2d backward filter"
	OpBatchNormForwardTrain       = "batchnorm forward train"
	OpBatchNormReLUForwardTrain   = "batchnorm+relu forward train"
	OpBatchNormForwardEval        = "batchnorm forward eval"
	OpBatchNormBackward           = "batchnorm backward"
	OpBatchNormReLUBackward       = "batchnorm+relu backward"
	OpBatchNormApply              = "batchnorm apply"
	OpReLUForward                 = "relu forward"
	OpReLUBackward                = "relu backward"
	OpMaxPool2DForward            = "maxpool2d forward"
	OpMaxPool2DBackward           = "maxpool2d backward"
	OpGlobalAvgPoolForward        = "global avgpool forward"
	OpGlobalAvgPoolBackward       = "global avgpool backward"
	OpLinearForward               = "linear forward"
	OpLinearBackward              = "linear backward"
	OpL2NormalizeForward          = "l2 normalize forward"
	OpL2NormalizeBackward         = "l2 normalize backward"
	OpSimilarityForward           = "similarity forward"
	OpSimilarityBackward          = "similarity backward"
	OpNTXentForward               = "nt-xent forward"
	OpNTXentBackward              = "nt-xent backward"
	OpNTXentFusedForward          = "nt-xent fused forward"
	OpNTXentFusedBackward         = "nt-xent fused backward"
	OpNTXentForwardInto           = "nt-xent forward into"
	OpNTXentForwardBackwardInto   = "nt-xent forward-backward into"
	OpNTXentFusedForwardInto      = "nt-xent fused forward into"
	OpSoftmaxCrossEntropyForward  = "softmax cross-entropy forward"
	OpSoftmaxCrossEntropyBackward = "softmax cross-entropy backward"
	OpSumSquares                  = "sum squares"
	OpDot                         = "dot"
	OpMomentumStep                = "momentum step"
	OpAdamWStep                   = "adamw step"
	OpLARSStep                    = "lars step"
	OpSumSquaresMulti             = "sum squares multi"
	OpMomentumStepMulti           = "momentum step multi"
	OpAdamWStepMulti              = "adamw step multi"
)

// ShapeOf returns t's shape as the Check functions take it: nil when t is
// nil (an absent optional operand), else a non-nil slice (tensor.Shape{}
// for a 0-D tensor, so that it is not mistaken for an absent one).
func ShapeOf(t *tensor.Tensor) tensor.Shape {
	if t == nil {
		return nil
	}
	if t.Shape == nil {
		return tensor.Shape{}
	}
	return t.Shape
}

// checkRank returns a *tensor.ShapeError unless s has rank dimensions;
// layout (e.g. "[N,C,H,W]") goes into the message.
func checkRank(op, name string, s tensor.Shape, rank int, layout string) error {
	if len(s) == rank {
		return nil
	}
	want := make(tensor.Shape, rank)
	for i := range want {
		want[i] = -1
	}
	return &tensor.ShapeError{Op: op, What: fmt.Sprintf("%s must be %d-D %s", name, rank, layout), Got: s.Clone(), Wanted: want}
}

// namedShape is one operand of a Check function.
type namedShape struct {
	name  string
	shape tensor.Shape
}

// checkAll checks that every operand has the shape want, in order.
func checkAll(op string, want tensor.Shape, ops ...namedShape) error {
	for _, o := range ops {
		if err := tensor.CheckShape(op, o.name, o.shape, want); err != nil {
			return err
		}
	}
	return nil
}

// CheckUpload checks that n host values fill dst.
func CheckUpload(dst tensor.Shape, n int) error {
	if n != dst.Numel() {
		return fmt.Errorf("%s: source has %d values but tensor %v holds %d", OpUpload, n, dst, dst.Numel())
	}
	return nil
}

// CheckDownload checks that src fills n host values.
func CheckDownload(n int, src tensor.Shape) error {
	if n != src.Numel() {
		return fmt.Errorf("%s: destination has %d values but tensor %v holds %d", OpDownload, n, src, src.Numel())
	}
	return nil
}

// CheckCopy checks that dst and src hold the same number of elements.
func CheckCopy(dst, src tensor.Shape) error {
	if dst.Numel() != src.Numel() {
		return &tensor.ShapeError{Op: OpCopy, What: "dst vs src (element count)", Got: dst.Clone(), Wanted: src.Clone()}
	}
	return nil
}

// CheckView checks a view of the given shape over a tensor of shape t:
// no negative dimension, no more elements than t.
func CheckView(t, shape tensor.Shape) error {
	for i, d := range shape {
		if d < 0 {
			return fmt.Errorf("%s: dimension %d of shape %v is negative; every size must be >= 0", OpView, i, shape)
		}
	}
	if shape.Numel() > t.Numel() {
		return fmt.Errorf("%s: shape %v has %d elements, more than the %d of the tensor %v it views; view a larger tensor",
			OpView, shape, shape.Numel(), t.Numel(), t)
	}
	return nil
}

// CheckAdd checks out = a + b: b and out must have a's shape.
func CheckAdd(a, b, out tensor.Shape) error {
	return checkAll(OpAdd, a, namedShape{"b", b}, namedShape{"out", out})
}

// CheckReLUForward checks y = relu(x): y must have x's shape.
func CheckReLUForward(x, y tensor.Shape) error {
	return tensor.CheckShape(OpReLUForward, "y", y, x)
}

// CheckReLUBackward checks dy and dx against y.
func CheckReLUBackward(y, dy, dx tensor.Shape) error {
	return checkAll(OpReLUBackward, y, namedShape{"dy", dy}, namedShape{"dx", dx})
}

// CheckDot checks that b has a's shape.
func CheckDot(a, b tensor.Shape) error {
	return tensor.CheckShape(OpDot, "b", b, a)
}

// CheckMomentumStep checks g and buf against p, then the options.
func CheckMomentumStep(p, g, buf tensor.Shape, o MomentumOpts) error {
	if err := checkAll(OpMomentumStep, p, namedShape{"g", g}, namedShape{"buf", buf}); err != nil {
		return err
	}
	if o.Deferred != nil {
		return fmt.Errorf("%s: a deferred check needs the multi-tensor op (MomentumStepMulti)", OpMomentumStep)
	}
	return o.Validate(OpMomentumStep)
}

// CheckLARSStep checks that params, grads, bufs and adapt have one entry
// per tensor, grads[i] and bufs[i] against params[i], then the options.
func CheckLARSStep(params, grads, bufs []tensor.Shape, adapt int, o LARSOpts) error {
	n := len(params)
	if len(grads) != n || len(bufs) != n || adapt != n {
		return fmt.Errorf("%s: %d params, %d grads, %d bufs and %d adapt flags must have one entry per tensor", OpLARSStep, n, len(grads), len(bufs), adapt)
	}
	for i := range params {
		if err := checkAll(OpLARSStep, params[i], namedShape{fmt.Sprintf("grads[%d]", i), grads[i]}, namedShape{fmt.Sprintf("bufs[%d]", i), bufs[i]}); err != nil {
			return err
		}
	}
	return o.Validate(OpLARSStep)
}

// CheckMomentumStepMulti checks that params, grads, bufs and decay have
// one entry per tensor, grads[i] and bufs[i] against params[i], then the
// options.
func CheckMomentumStepMulti(params, grads, bufs []tensor.Shape, decay int, o MomentumOpts) error {
	n := len(params)
	if len(grads) != n || len(bufs) != n || decay != n {
		return fmt.Errorf("%s: %d params, %d grads, %d bufs and %d decay flags must have one entry per tensor", OpMomentumStepMulti, n, len(grads), len(bufs), decay)
	}
	for i := range params {
		if err := checkAll(OpMomentumStepMulti, params[i], namedShape{fmt.Sprintf("grads[%d]", i), grads[i]}, namedShape{fmt.Sprintf("bufs[%d]", i), bufs[i]}); err != nil {
			return err
		}
	}
	return o.Validate(OpMomentumStepMulti)
}

// CheckAdamWStepMulti checks that params, grads, ms, vs and decay have one
// entry per tensor, grads[i], ms[i] and vs[i] against params[i], then the
// options.
func CheckAdamWStepMulti(params, grads, ms, vs []tensor.Shape, decay int, o AdamWOpts) error {
	n := len(params)
	if len(grads) != n || len(ms) != n || len(vs) != n || decay != n {
		return fmt.Errorf("%s: %d params, %d grads, %d ms, %d vs and %d decay flags must have one entry per tensor", OpAdamWStepMulti, n, len(grads), len(ms), len(vs), decay)
	}
	for i := range params {
		if err := checkAll(OpAdamWStepMulti, params[i], namedShape{fmt.Sprintf("grads[%d]", i), grads[i]}, namedShape{fmt.Sprintf("ms[%d]", i), ms[i]}, namedShape{fmt.Sprintf("vs[%d]", i), vs[i]}); err != nil {
			return err
		}
	}
	return o.Validate(OpAdamWStepMulti)
}

// CheckAdamWStep checks g, m and v against p, then the options.
func CheckAdamWStep(p, g, m, v tensor.Shape, o AdamWOpts) error {
	if err := checkAll(OpAdamWStep, p, namedShape{"g", g}, namedShape{"m", m}, namedShape{"v", v}); err != nil {
		return err
	}
	if o.Deferred != nil {
		return fmt.Errorf("%s: a deferred check needs the multi-tensor op (AdamWStepMulti)", OpAdamWStep)
	}
	return o.Validate(OpAdamWStep)
}

// convCheck checks one convolution op: the image-side shape img (x or dx)
// and the weight-side shape wt (w or dw) must be 4-D and fit together, and
// out (y or dy) must have the output shape.
func convCheck(op string, img, wt, out tensor.Shape, imgName, wName, outName string, p ConvParams) (ConvGeometry, error) {
	g, err := convInfer(op, img, wt, imgName, wName, p)
	if err != nil {
		return ConvGeometry{}, err
	}
	if err := tensor.CheckShape(op, outName, out, g.OutShape()); err != nil {
		return ConvGeometry{}, err
	}
	return g, nil
}

func convInfer(op string, img, wt tensor.Shape, imgName, wName string, p ConvParams) (ConvGeometry, error) {
	if err := checkRank(op, imgName, img, 4, "[N,Cin,H,W]"); err != nil {
		return ConvGeometry{}, err
	}
	if err := checkRank(op, wName, wt, 4, "[Cout,Cin,K,K]"); err != nil {
		return ConvGeometry{}, err
	}
	return newConvGeometry(op, img, wt, imgName, wName, p)
}

// InferConv2D returns the output shape [N,Cout,Ho,Wo] of a convolution of x
// [N,Cin,H,W] with w [Cout,Cin,K,K].
func InferConv2D(x, w tensor.Shape, p ConvParams) (tensor.Shape, error) {
	g, err := convInfer(OpConv2DForward, x, w, "x", "w", p)
	if err != nil {
		return nil, err
	}
	return g.OutShape(), nil
}

// CheckConv2DForward checks x [N,Cin,H,W], w [Cout,Cin,K,K] and y
// [N,Cout,Ho,Wo].
func CheckConv2DForward(x, w, y tensor.Shape, p ConvParams) (ConvGeometry, error) {
	return convCheck(OpConv2DForward, x, w, y, "x", "w", "y", p)
}

// CheckConv2DBackwardData checks dy [N,Cout,Ho,Wo] and w against dx
// [N,Cin,H,W].
func CheckConv2DBackwardData(dy, w, dx tensor.Shape, p ConvParams) (ConvGeometry, error) {
	return convCheck(OpConv2DBackwardData, dx, w, dy, "dx", "w", "dy", p)
}

// CheckConv2DBackwardFilter checks x, dy and dw [Cout,Cin,K,K].
func CheckConv2DBackwardFilter(x, dy, dw tensor.Shape, p ConvParams) (ConvGeometry, error) {
	return convCheck(OpConv2DBackwardFilter, x, dw, dy, "x", "dw", "dy", p)
}

// bnCheck checks x ([N,C,H,W] or [N,C]) first, then each of same against
// x's shape, then each of vecs against [C].
func bnCheck(op string, x tensor.Shape, same, vecs []namedShape) (BNGeometry, error) {
	g, err := newBNGeometry(op, "x", x)
	if err != nil {
		return BNGeometry{}, err
	}
	if err := checkAll(op, x, same...); err != nil {
		return BNGeometry{}, err
	}
	if err := checkAll(op, tensor.Shape{g.C}, vecs...); err != nil {
		return BNGeometry{}, err
	}
	return g, nil
}

// checkEps checks batch norm's eps.
func checkEps(op string, eps float32) error {
	if !(eps > 0) || !Finite32(eps) {
		return fmt.Errorf("%s: eps %g must be positive and finite (PyTorch uses 1e-5)", op, eps)
	}
	return nil
}

func bnForwardTrain(op string, x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar tensor.Shape, momentum, eps float32) (BNGeometry, error) {
	g, err := bnCheck(op, x, []namedShape{{"y", y}},
		[]namedShape{{"gamma", gamma}, {"beta", beta}, {"saveMean", saveMean}, {"saveInvStd", saveInvStd}, {"runMean", runMean}, {"runVar", runVar}})
	if err != nil {
		return BNGeometry{}, err
	}
	if err := checkEps(op, eps); err != nil {
		return BNGeometry{}, err
	}
	if !(momentum >= 0 && momentum <= 1) {
		return BNGeometry{}, fmt.Errorf("%s: momentum %g must lie in [0, 1] (PyTorch uses 0.1)", op, momentum)
	}
	if m := g.N * g.S; m < 2 {
		return BNGeometry{}, fmt.Errorf("%s: x %v has %d value per channel; training-mode batch norm needs at least 2 (use a larger batch)", op, x, m)
	}
	return g, nil
}

// CheckBatchNormForwardTrain checks x ([N,C,H,W] or [N,C]), y (x's shape),
// the six [C] vectors, eps, momentum and that every channel has at least 2
// values.
func CheckBatchNormForwardTrain(x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar tensor.Shape, momentum, eps float32) (BNGeometry, error) {
	return bnForwardTrain(OpBatchNormForwardTrain, x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar, momentum, eps)
}

// CheckBatchNormReLUForwardTrain checks the operands of
// BatchNormReLUForwardTrain (those of BatchNormForwardTrain).
func CheckBatchNormReLUForwardTrain(x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar tensor.Shape, momentum, eps float32) (BNGeometry, error) {
	return bnForwardTrain(OpBatchNormReLUForwardTrain, x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar, momentum, eps)
}

// CheckBatchNormForwardEval checks x, the four [C] vectors, y and eps. The
// running statistics' values are checked by CheckRunningStats.
func CheckBatchNormForwardEval(x, gamma, beta, runMean, runVar, y tensor.Shape, eps float32) (BNGeometry, error) {
	const op = OpBatchNormForwardEval
	g, err := bnCheck(op, x, []namedShape{{"y", y}},
		[]namedShape{{"gamma", gamma}, {"beta", beta}, {"runMean", runMean}, {"runVar", runVar}})
	if err != nil {
		return BNGeometry{}, err
	}
	return g, checkEps(op, eps)
}

// CheckRunningStats checks the values of the running statistics for
// BatchNormForwardEval: finite, with runVar+eps > 0.
func CheckRunningStats(runMean, runVar []float32, eps float32) error {
	for c, v := range runVar {
		if !(float64(v)+float64(eps) > 0) || !Finite32(v) || !Finite32(runMean[c]) {
			return fmt.Errorf("%s: running statistics of channel %d are invalid (mean %g, var %g); reload the checkpoint or retrain", OpBatchNormForwardEval, c, runMean[c], v)
		}
	}
	return nil
}

// CheckBatchNormBackward checks dy and dx against x and the five [C]
// vectors.
func CheckBatchNormBackward(dy, x, gamma, saveMean, saveInvStd, dx, dgamma, dbeta tensor.Shape) (BNGeometry, error) {
	return bnCheck(OpBatchNormBackward, x, []namedShape{{"dy", dy}, {"dx", dx}}, bnBackwardVecs(gamma, saveMean, saveInvStd, dgamma, dbeta))
}

// CheckBatchNormReLUBackward checks dy, y and dx against x and the five
// [C] vectors.
func CheckBatchNormReLUBackward(dy, y, x, gamma, saveMean, saveInvStd, dx, dgamma, dbeta tensor.Shape) (BNGeometry, error) {
	return bnCheck(OpBatchNormReLUBackward, x, []namedShape{{"dy", dy}, {"y", y}, {"dx", dx}}, bnBackwardVecs(gamma, saveMean, saveInvStd, dgamma, dbeta))
}

// CheckBatchNormApply checks y against x ([N,C,H,W] or [N,C]) and the four
// [C] vectors. Unlike the training forward it accepts one value per
// channel: nothing is reduced.
func CheckBatchNormApply(x, gamma, beta, saveMean, saveInvStd, y tensor.Shape) (BNGeometry, error) {
	return bnCheck(OpBatchNormApply, x, []namedShape{{"y", y}},
		[]namedShape{{"gamma", gamma}, {"beta", beta}, {"saveMean", saveMean}, {"saveInvStd", saveInvStd}})
}

func bnBackwardVecs(gamma, saveMean, saveInvStd, dgamma, dbeta tensor.Shape) []namedShape {
	return []namedShape{{"gamma", gamma}, {"saveMean", saveMean}, {"saveInvStd", saveInvStd}, {"dgamma", dgamma}, {"dbeta", dbeta}}
}

func poolInfer(op string, x tensor.Shape, p PoolParams) (PoolGeometry, tensor.Shape, error) {
	if err := checkRank(op, "x", x, 4, "[N,C,H,W]"); err != nil {
		return PoolGeometry{}, nil, err
	}
	g, err := newPoolGeometry(op, x, p)
	if err != nil {
		return PoolGeometry{}, nil, err
	}
	return g, tensor.Shape{x[0], x[1], g.Ho, g.Wo}, nil
}

// InferMaxPool2D returns the output shape [N,C,Ho,Wo] of a max-pool of x
// [N,C,H,W].
func InferMaxPool2D(x tensor.Shape, p PoolParams) (tensor.Shape, error) {
	_, y, err := poolInfer(OpMaxPool2DForward, x, p)
	return y, err
}

// CheckMaxPool2DForward checks x [N,C,H,W], p and y [N,C,Ho,Wo].
func CheckMaxPool2DForward(x, y tensor.Shape, p PoolParams) (PoolGeometry, error) {
	const op = OpMaxPool2DForward
	g, want, err := poolInfer(op, x, p)
	if err != nil {
		return PoolGeometry{}, err
	}
	return g, tensor.CheckShape(op, "y", y, want)
}

// CheckMaxPool2DBackward checks x, p, dy [N,C,Ho,Wo] and dx (x's shape).
func CheckMaxPool2DBackward(x, dy, dx tensor.Shape, p PoolParams) (PoolGeometry, error) {
	const op = OpMaxPool2DBackward
	g, want, err := poolInfer(op, x, p)
	if err != nil {
		return PoolGeometry{}, err
	}
	if err := tensor.CheckShape(op, "dy", dy, want); err != nil {
		return PoolGeometry{}, err
	}
	return g, tensor.CheckShape(op, "dx", dx, x)
}

// gapCheck checks the image-side shape img [N,C,H,W] (x or dx) and the
// vector side vec [N,C] (y or dy) and returns H*W.
func gapCheck(op string, img, vec tensor.Shape, imgName, vecName, empty string) (int, error) {
	if err := checkRank(op, imgName, img, 4, "[N,C,H,W]"); err != nil {
		return 0, err
	}
	if err := tensor.CheckShape(op, vecName, vec, tensor.Shape{img[0], img[1]}); err != nil {
		return 0, err
	}
	hw := img[2] * img[3]
	if hw == 0 {
		return 0, fmt.Errorf("%s: %s %v has no spatial positions%s", op, imgName, img, empty)
	}
	return hw, nil
}

// InferGlobalAvgPool returns the output shape [N,C] of a global average
// pool of x [N,C,H,W].
func InferGlobalAvgPool(x tensor.Shape) (tensor.Shape, error) {
	if err := checkRank(OpGlobalAvgPoolForward, "x", x, 4, "[N,C,H,W]"); err != nil {
		return nil, err
	}
	y := tensor.Shape{x[0], x[1]}
	if _, err := gapCheck(OpGlobalAvgPoolForward, x, y, "x", "y", " to average"); err != nil {
		return nil, err
	}
	return y, nil
}

// CheckGlobalAvgPoolForward checks x [N,C,H,W] (H*W > 0) and y [N,C]; it
// returns H*W.
func CheckGlobalAvgPoolForward(x, y tensor.Shape) (int, error) {
	return gapCheck(OpGlobalAvgPoolForward, x, y, "x", "y", " to average")
}

// CheckGlobalAvgPoolBackward checks dy [N,C] against dx [N,C,H,W] (H*W >
// 0); it returns H*W.
func CheckGlobalAvgPoolBackward(dy, dx tensor.Shape) (int, error) {
	return gapCheck(OpGlobalAvgPoolBackward, dx, dy, "dx", "dy", "")
}

// LinearGeometry is the validated geometry of a linear layer: x [N,In],
// w [Out,In], y [N,Out].
type LinearGeometry struct{ N, In, Out int }

func linearInfer(op string, x, w tensor.Shape) (LinearGeometry, error) {
	if err := checkRank(op, "x", x, 2, "[N,In]"); err != nil {
		return LinearGeometry{}, err
	}
	if err := checkRank(op, "w", w, 2, "[Out,In]"); err != nil {
		return LinearGeometry{}, err
	}
	g := LinearGeometry{N: x[0], In: x[1], Out: w[0]}
	if err := tensor.CheckShape(op, "w (columns must match x's features)", w, tensor.Shape{g.Out, g.In}); err != nil {
		return LinearGeometry{}, err
	}
	return g, nil
}

// InferLinear returns the output shape [N,Out] of x [N,In] times w^T, w
// [Out,In].
func InferLinear(x, w tensor.Shape) (tensor.Shape, error) {
	g, err := linearInfer(OpLinearForward, x, w)
	if err != nil {
		return nil, err
	}
	return tensor.Shape{g.N, g.Out}, nil
}

// CheckLinearForward checks x [N,In], w [Out,In], b [Out] (nil: no bias)
// and y [N,Out].
func CheckLinearForward(x, w, b, y tensor.Shape) (LinearGeometry, error) {
	const op = OpLinearForward
	g, err := linearInfer(op, x, w)
	if err != nil {
		return LinearGeometry{}, err
	}
	if b != nil {
		if err := tensor.CheckShape(op, "b", b, tensor.Shape{g.Out}); err != nil {
			return LinearGeometry{}, err
		}
	}
	return g, tensor.CheckShape(op, "y", y, tensor.Shape{g.N, g.Out})
}

// CheckLinearBackward checks x, w, dy [N,Out], dx (x's shape; nil: not
// wanted), dw (w's shape) and db ([Out]; nil: no bias).
func CheckLinearBackward(x, w, dy, dx, dw, db tensor.Shape) (LinearGeometry, error) {
	const op = OpLinearBackward
	g, err := linearInfer(op, x, w)
	if err != nil {
		return LinearGeometry{}, err
	}
	if err := tensor.CheckShape(op, "dy", dy, tensor.Shape{g.N, g.Out}); err != nil {
		return LinearGeometry{}, err
	}
	if dx != nil {
		if err := tensor.CheckShape(op, "dx", dx, x); err != nil {
			return LinearGeometry{}, err
		}
	}
	if err := tensor.CheckShape(op, "dw", dw, w); err != nil {
		return LinearGeometry{}, err
	}
	if db != nil {
		if err := tensor.CheckShape(op, "db", db, tensor.Shape{g.Out}); err != nil {
			return LinearGeometry{}, err
		}
	}
	return g, nil
}

// InferL2Normalize returns the shapes of y (x's) and norms [N] for x [N,D].
func InferL2Normalize(x tensor.Shape) (y, norms tensor.Shape, err error) {
	if err := checkRank(OpL2NormalizeForward, "x", x, 2, "[N,D]"); err != nil {
		return nil, nil, err
	}
	return x.Clone(), tensor.Shape{x[0]}, nil
}

// CheckL2NormalizeForward checks x [N,D], y (x's shape) and norms [N].
func CheckL2NormalizeForward(x, y, norms tensor.Shape) error {
	const op = OpL2NormalizeForward
	if err := checkRank(op, "x", x, 2, "[N,D]"); err != nil {
		return err
	}
	if err := tensor.CheckShape(op, "y", y, x); err != nil {
		return err
	}
	return tensor.CheckShape(op, "norms", norms, tensor.Shape{x[0]})
}

// CheckL2NormalizeBackward checks y [N,D], norms [N], dy and dx (y's
// shape).
func CheckL2NormalizeBackward(y, norms, dy, dx tensor.Shape) error {
	const op = OpL2NormalizeBackward
	if err := checkRank(op, "y", y, 2, "[N,D]"); err != nil {
		return err
	}
	if err := tensor.CheckShape(op, "norms", norms, tensor.Shape{y[0]}); err != nil {
		return err
	}
	return checkAll(op, y, namedShape{"dy", dy}, namedShape{"dx", dx})
}

// InferSimilarity returns the shape [M,M] of z z^T for z [M,D].
func InferSimilarity(z tensor.Shape) (tensor.Shape, error) {
	if err := checkRank(OpSimilarityForward, "z", z, 2, "[M,D]"); err != nil {
		return nil, err
	}
	return tensor.Shape{z[0], z[0]}, nil
}

// CheckSimilarityForward checks z [M,D] and s [M,M].
func CheckSimilarityForward(z, s tensor.Shape) error {
	const op = OpSimilarityForward
	if err := checkRank(op, "z", z, 2, "[M,D]"); err != nil {
		return err
	}
	return tensor.CheckShape(op, "s", s, tensor.Shape{z[0], z[0]})
}

// CheckSimilarityBackward checks z [M,D], ds [M,M] and dz (z's shape).
func CheckSimilarityBackward(z, ds, dz tensor.Shape) error {
	const op = OpSimilarityBackward
	if err := checkRank(op, "z", z, 2, "[M,D]"); err != nil {
		return err
	}
	if err := tensor.CheckShape(op, "ds", ds, tensor.Shape{z[0], z[0]}); err != nil {
		return err
	}
	return tensor.CheckShape(op, "dz", dz, z)
}

// ntxentCheck checks s [2N,2N] and tau and returns M = 2N.
func ntxentCheck(op string, s tensor.Shape, tau float32) (int, error) {
	if err := checkRank(op, "s", s, 2, "[2N,2N]"); err != nil {
		return 0, err
	}
	m := s[0]
	if err := tensor.CheckShape(op, "s (must be square)", s, tensor.Shape{m, m}); err != nil {
		return 0, err
	}
	if m < 2 || m%2 != 0 {
		return 0, fmt.Errorf("%s: s %v must be [2N,2N] with N >= 1 (two views per example)", op, s)
	}
	if !(tau > 0) || !Finite32(tau) {
		return 0, fmt.Errorf("%s: temperature %g must be positive and finite (SimCLR uses 0.05..0.5)", op, tau)
	}
	return m, nil
}

// CheckNTXentForward checks s [2N,2N] (N >= 1) and the temperature; it
// returns M = 2N.
func CheckNTXentForward(s tensor.Shape, tau float32) (int, error) {
	return ntxentCheck(OpNTXentForward, s, tau)
}

// CheckNTXentBackward checks s, the temperature and ds (s's shape); it
// returns M = 2N.
func CheckNTXentBackward(s tensor.Shape, tau float32, ds tensor.Shape) (int, error) {
	const op = OpNTXentBackward
	m, err := ntxentCheck(op, s, tau)
	if err != nil {
		return 0, err
	}
	return m, tensor.CheckShape(op, "ds", ds, s)
}

// ntxentFusedCheck checks z [2N,D] (N >= 1, D >= 1), stats [2N,2] and
// tau; it returns M = 2N and D.
func ntxentFusedCheck(op string, z, stats tensor.Shape, tau float32) (m, d int, err error) {
	if err := checkRank(op, "z", z, 2, "[2N,D]"); err != nil {
		return 0, 0, err
	}
	m, d = z[0], z[1]
	if m < 2 || m%2 != 0 || d < 1 {
		return 0, 0, fmt.Errorf("%s: z %v must be [2N,D] with N >= 1 (two views per example) and D >= 1", op, z)
	}
	if err := tensor.CheckShape(op, "stats", stats, tensor.Shape{m, 2}); err != nil {
		return 0, 0, err
	}
	if !(tau > 0) || !Finite32(tau) {
		return 0, 0, fmt.Errorf("%s: temperature %g must be positive and finite (SimCLR uses 0.05..0.5)", op, tau)
	}
	return m, d, nil
}

// CheckNTXentFusedForward checks z [2N,D], stats [2N,2] (written: each
// row's log-sum-exp) and the temperature; it returns M = 2N and D.
func CheckNTXentFusedForward(z, stats tensor.Shape, tau float32) (m, d int, err error) {
	return ntxentFusedCheck(OpNTXentFusedForward, z, stats, tau)
}

// CheckNTXentFusedBackward checks z, stats (the forward's), the
// temperature and dz (z's shape); it returns M = 2N and D.
func CheckNTXentFusedBackward(z, stats tensor.Shape, tau float32, dz tensor.Shape) (m, d int, err error) {
	const op = OpNTXentFusedBackward
	m, d, err = ntxentFusedCheck(op, z, stats, tau)
	if err != nil {
		return 0, 0, err
	}
	return m, d, tensor.CheckShape(op, "dz", dz, z)
}

// lossSlotCheck checks the losses [K] tensor (K >= 1) and the slot the
// loss goes into.
func lossSlotCheck(op string, losses tensor.Shape, slot int) error {
	if err := checkRank(op, "losses", losses, 1, "[K]"); err != nil {
		return err
	}
	if losses[0] < 1 {
		return fmt.Errorf("%s: losses %v must hold at least one value", op, losses)
	}
	if slot < 0 || slot >= losses[0] {
		return fmt.Errorf("%s: slot %d is outside losses %v; want 0 <= slot < %d", op, slot, losses, losses[0])
	}
	return nil
}

// CheckNTXentForwardInto checks s [2N,2N], the temperature, losses [K]
// and slot (0 <= slot < K); it returns M = 2N.
func CheckNTXentForwardInto(s tensor.Shape, tau float32, losses tensor.Shape, slot int) (int, error) {
	const op = OpNTXentForwardInto
	m, err := ntxentCheck(op, s, tau)
	if err != nil {
		return 0, err
	}
	return m, lossSlotCheck(op, losses, slot)
}

// CheckNTXentForwardBackwardInto checks s [2N,2N], the temperature, ds
// (s's shape), losses [K] and slot; it returns M = 2N.
func CheckNTXentForwardBackwardInto(s tensor.Shape, tau float32, ds, losses tensor.Shape, slot int) (int, error) {
	const op = OpNTXentForwardBackwardInto
	m, err := ntxentCheck(op, s, tau)
	if err != nil {
		return 0, err
	}
	if err := tensor.CheckShape(op, "ds", ds, s); err != nil {
		return 0, err
	}
	return m, lossSlotCheck(op, losses, slot)
}

// CheckNTXentFusedForwardInto checks z [2N,D], stats [2N,2], the
// temperature, losses [K] and slot; it returns M = 2N and D.
func CheckNTXentFusedForwardInto(z, stats tensor.Shape, tau float32, losses tensor.Shape, slot int) (m, d int, err error) {
	const op = OpNTXentFusedForwardInto
	if m, d, err = ntxentFusedCheck(op, z, stats, tau); err != nil {
		return 0, 0, err
	}
	return m, d, lossSlotCheck(op, losses, slot)
}

// CheckSoftmaxCrossEntropyForward checks logits [N,K] (N, K >= 1) and the
// labels (N of them, each in [0,K)); it returns N and K.
func CheckSoftmaxCrossEntropyForward(logits tensor.Shape, labels []int32) (n, k int, err error) {
	const op = OpSoftmaxCrossEntropyForward
	if err := checkRank(op, "logits", logits, 2, "[N,K]"); err != nil {
		return 0, 0, err
	}
	return checkLabels(op, logits, labels)
}

// CheckSoftmaxCrossEntropyBackward checks logits, labels and dlogits
// (logits' shape); it returns N and K.
func CheckSoftmaxCrossEntropyBackward(logits tensor.Shape, labels []int32, dlogits tensor.Shape) (n, k int, err error) {
	const op = OpSoftmaxCrossEntropyBackward
	if err := checkRank(op, "logits", logits, 2, "[N,K]"); err != nil {
		return 0, 0, err
	}
	if n, k, err = checkLabels(op, logits, labels); err != nil {
		return 0, 0, err
	}
	return n, k, tensor.CheckShape(op, "dlogits", dlogits, logits)
}

// FirstNonFinite returns an error naming the first NaN or infinite element
// of v, a row-major matrix with rows of cols values (the losses' input
// check), or nil.
func FirstNonFinite(op, name string, v []float32, cols int) error {
	for i, x := range v {
		if !Finite32(x) {
			return fmt.Errorf("%s: %s[%d,%d] is %g; the inputs diverged (lower the learning rate)", op, name, i/cols, i%cols, x)
		}
	}
	return nil
}
