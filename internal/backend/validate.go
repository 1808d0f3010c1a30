package backend

import (
	"fmt"
	"math"
	"strconv"

	"simclr/internal/tensor"
)

// The geometry and parameter checks under the shape inference (shapes.go):
// each returns the same error for the same bad call, whichever backend runs
// it.

// ConvGeometry is the validated geometry of one 2-D convolution.
type ConvGeometry struct {
	N, Cin, H, W int // image side: batch, channels, height, width
	Cout, K      int // output channels, square kernel side
	Stride, Pad  int
	Ho, Wo       int // output height and width
}

// OutShape is the shape of y (or dy), [N,Cout,Ho,Wo].
func (g ConvGeometry) OutShape() tensor.Shape { return tensor.Shape{g.N, g.Cout, g.Ho, g.Wo} }

// newConvGeometry checks a convolution's image-side shape img (x or dx,
// [N,Cin,H,W]) against its weight-side shape wt (w or dw, [Cout,Cin,K,K]),
// both already known to be 4-D, and the parameters.
func newConvGeometry(op string, img, wt tensor.Shape, imgName, wName string, p ConvParams) (ConvGeometry, error) {
	if p.Stride < 1 {
		return ConvGeometry{}, fmt.Errorf("%s: stride %d must be >= 1", op, p.Stride)
	}
	if p.Pad < 0 {
		return ConvGeometry{}, fmt.Errorf("%s: padding %d must be >= 0", op, p.Pad)
	}
	g := ConvGeometry{N: img[0], Cin: img[1], H: img[2], W: img[3], Cout: wt[0], K: wt[2], Stride: p.Stride, Pad: p.Pad}
	if wt[3] != g.K || wt[1] != g.Cin || g.K < 1 {
		k := max(g.K, 1)
		return ConvGeometry{}, &tensor.ShapeError{Op: op, What: fmt.Sprintf("%s (square kernel over %s's %d channels)", wName, imgName, g.Cin),
			Got: wt.Clone(), Wanted: tensor.Shape{g.Cout, g.Cin, k, k}}
	}
	if g.H+2*g.Pad < g.K || g.W+2*g.Pad < g.K {
		return ConvGeometry{}, fmt.Errorf("%s: %s %v with padding %d is smaller than the %dx%d kernel; use a larger input or more padding",
			op, imgName, img, g.Pad, g.K, g.K)
	}
	g.Ho = ConvOutSize(g.H, g.K, g.Stride, g.Pad)
	g.Wo = ConvOutSize(g.W, g.K, g.Stride, g.Pad)
	return g, nil
}

// PoolGeometry is the validated geometry of one max-pool.
type PoolGeometry struct {
	Planes, H, W   int // Planes = N*C
	K, Stride, Pad int
	Ho, Wo         int
}

// newPoolGeometry checks a max-pool of x ([N,C,H,W], already known to be
// 4-D) with parameters p.
func newPoolGeometry(op string, x tensor.Shape, p PoolParams) (PoolGeometry, error) {
	if p.Kernel < 1 || p.Stride < 1 || p.Pad < 0 {
		return PoolGeometry{}, fmt.Errorf("%s: kernel %d, stride %d and padding %d must be >= 1, >= 1 and >= 0", op, p.Kernel, p.Stride, p.Pad)
	}
	if 2*p.Pad > p.Kernel {
		return PoolGeometry{}, fmt.Errorf("%s: padding %d must be at most half the kernel size %d", op, p.Pad, p.Kernel)
	}
	g := PoolGeometry{Planes: x[0] * x[1], H: x[2], W: x[3], K: p.Kernel, Stride: p.Stride, Pad: p.Pad}
	if g.H+2*g.Pad < g.K || g.W+2*g.Pad < g.K {
		return PoolGeometry{}, fmt.Errorf("%s: x %v with padding %d is smaller than the %dx%d window", op, x, g.Pad, g.K, g.K)
	}
	g.Ho = ConvOutSize(g.H, g.K, g.Stride, g.Pad)
	g.Wo = ConvOutSize(g.W, g.K, g.Stride, g.Pad)
	return g, nil
}

// BNGeometry views a batch-norm input as N x C x S, S = H*W (1 for [N,C]).
type BNGeometry struct{ N, C, S int }

// newBNGeometry accepts x of shape [N,C,H,W] or [N,C].
func newBNGeometry(op, name string, x tensor.Shape) (BNGeometry, error) {
	switch len(x) {
	case 2:
		return BNGeometry{N: x[0], C: x[1], S: 1}, nil
	case 4:
		return BNGeometry{N: x[0], C: x[1], S: x[2] * x[3]}, nil
	}
	return BNGeometry{}, &tensor.ShapeError{Op: op, What: name + " must be [N,C,H,W] or [N,C]", Got: x.Clone(), Wanted: tensor.Shape{-1, -1, -1, -1}}
}

// checkLabels checks labels against logits [N,K] (already known to be 2-D)
// for softmax cross-entropy and returns N and K.
func checkLabels(op string, logits tensor.Shape, labels []int32) (n, k int, err error) {
	n, k = logits[0], logits[1]
	if len(labels) != n {
		return 0, 0, fmt.Errorf("%s: %d labels for %d rows of logits %v; pass one label per row", op, len(labels), n, logits)
	}
	if n == 0 || k == 0 {
		return 0, 0, fmt.Errorf("%s: logits %v are empty; the mean loss needs at least one row and one class", op, logits)
	}
	for i, l := range labels {
		if l < 0 || int(l) >= k {
			return 0, 0, fmt.Errorf("%s: label %d of row %d is outside [0,%d); check the dataset's class count", op, l, i, k)
		}
	}
	return n, k, nil
}

// Finite32 reports whether v is neither NaN nor infinite.
func Finite32(v float32) bool {
	f := float64(v)
	return !math.IsNaN(f) && !math.IsInf(f, 0)
}

// Widen returns the float64 closest to the shortest decimal that rounds to
// v, recovering the value the user wrote (0.999, not 0.99900001287), so that
// optimizer scalars computed in float64 match PyTorch's Python floats.
func Widen(v float32) float64 {
	f, err := strconv.ParseFloat(strconv.FormatFloat(float64(v), 'g', -1, 32), 64)
	if err != nil {
		return float64(v)
	}
	return f
}

// Validate checks the momentum-step options; op names the caller's op.
func (o MomentumOpts) Validate(op string) error {
	if !(o.TrustRatio > 0) || !Finite32(o.TrustRatio) {
		return fmt.Errorf("%s: trust ratio %g must be positive and finite (plain SGD passes 1)", op, o.TrustRatio)
	}
	if !Finite32(o.LR) || !Finite32(o.Momentum) || !Finite32(o.WeightDecay) {
		return fmt.Errorf("%s: lr %g, momentum %g and weight decay %g must be finite", op, o.LR, o.Momentum, o.WeightDecay)
	}
	if o.Momentum < 0 {
		return fmt.Errorf("%s: momentum %g must be >= 0", op, o.Momentum)
	}
	return o.Deferred.Validate(op)
}

// Validate checks the LARS options; op names the caller's op.
func (o LARSOpts) Validate(op string) error {
	if !Finite32(o.LR) || !Finite32(o.Momentum) || !Finite32(o.WeightDecay) {
		return fmt.Errorf("%s: lr %g, momentum %g and weight decay %g must be finite", op, o.LR, o.Momentum, o.WeightDecay)
	}
	if o.Momentum < 0 || o.WeightDecay < 0 {
		return fmt.Errorf("%s: momentum %g and weight decay %g must be >= 0", op, o.Momentum, o.WeightDecay)
	}
	if !(o.TrustCoef > 0) || !Finite32(o.TrustCoef) {
		return fmt.Errorf("%s: trust coefficient %g must be positive and finite", op, o.TrustCoef)
	}
	return o.Deferred.Validate(op)
}

// Validate checks the AdamW options; op names the caller's op.
func (o AdamWOpts) Validate(op string) error {
	if o.Step < 1 {
		return fmt.Errorf("%s: step %d must count from 1", op, o.Step)
	}
	if !Finite32(o.LR) || !Finite32(o.WeightDecay) || !Finite32(o.Eps) {
		return fmt.Errorf("%s: lr %g, weight decay %g and eps %g must be finite", op, o.LR, o.WeightDecay, o.Eps)
	}
	if !(o.Beta1 >= 0 && o.Beta1 < 1) || !(o.Beta2 >= 0 && o.Beta2 < 1) {
		return fmt.Errorf("%s: betas (%g, %g) must lie in [0, 1)", op, o.Beta1, o.Beta2)
	}
	if o.Eps < 0 {
		return fmt.Errorf("%s: eps %g must be >= 0", op, o.Eps)
	}
	return o.Deferred.Validate(op)
}
