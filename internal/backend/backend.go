// Package backend defines the compute interface that layers and models use.
//
// Every op has a forward call and, where it has parameters or inputs that
// need gradients, a separate backward call, in the style of llm.c's layer
// functions. Backward calls overwrite their gradient outputs (they never
// accumulate); a model that uses an activation twice adds the gradients
// itself with Add. All tensors passed to a backend must have been created by
// that backend's New. Shapes are checked at every call, by the shape
// inference in shapes.go that every backend shares (one Check function per
// method); a mismatch is a *tensor.ShapeError naming the op, the argument
// and both shapes. docs/ops.md lists every method with its files, kernels,
// shape-inference function and tests.
//
// Implementations: internal/backend/cpu (the pure-Go reference) and
// internal/backend/cuda (hand-written kernels, build tag cuda or cudaemu).
package backend

import "simclr/internal/tensor"

// Tensor is an alias so callers need to import only this package.
type Tensor = tensor.Tensor

// ConvParams describes a 2-D convolution without bias. The kernel size comes
// from the weight shape [Cout, Cin, K, K]; stride and padding are the same in
// both spatial dimensions.
type ConvParams struct {
	Stride int
	Pad    int
}

// ConvOutSize returns the output size of a convolution or pooling window of
// size k over an input of size in.
func ConvOutSize(in, k, stride, pad int) int {
	return (in+2*pad-k)/stride + 1
}

// PoolParams describes a max-pool window (square kernel, stride, padding).
type PoolParams struct {
	Kernel int
	Stride int
	Pad    int
}

// MomentumOpts are the hyper-parameters of one momentum-SGD update:
//
//	g' = TrustRatio * (g + WeightDecay*p)
//	buf = Momentum*buf + g'            (first step: buf = g', as in PyTorch)
//	d  = Nesterov ? g' + Momentum*buf : buf
//	p -= LR * d
//
// Plain SGD passes TrustRatio 1; LARS passes its per-tensor trust ratio
// eta*||p||/||g + wd*p||. A TrustRatio that is not > 0 is an error.
type MomentumOpts struct {
	LR          float32
	Momentum    float32
	WeightDecay float32
	TrustRatio  float32
	Nesterov    bool
	// FirstStep marks the first update of this buffer (buf is set to g').
	FirstStep bool
	// Deferred, for MomentumStepMulti only: check the gradients on the
	// device and record a failure instead of waiting (DeferredCheck).
	Deferred *DeferredCheck
}

// LARSOpts are the hyper-parameters of one LARS step over many tensors
// (Backend.LARSStep). For tensor i with adapt[i] (weight decay and
// trust-ratio adaptation):
//
//	dp = g + WeightDecay*p
//	q  = TrustCoef*sqrt(||p||²)/sqrt(||dp||²)   (q = 1 when either is 0)
//	buf = Momentum*buf + q*dp                  (first step: buf = q*dp)
//	p -= LR*buf
//
// with ||dp||² = ||g||² + 2wd<g,p> + wd²||p||² in float64 (LARSTrust);
// a tensor without adapt gets weight decay 0 and q = 1. The update is
// MomentumStep's, element for element.
type LARSOpts struct {
	LR          float32
	Momentum    float32
	WeightDecay float32
	TrustCoef   float32
	// FirstStep marks the first update of the buffers (buf is set to q*dp).
	FirstStep bool
	// Deferred records a failed check instead of returning it, without
	// waiting for the device (DeferredCheck).
	Deferred *DeferredCheck
}

// AdamWOpts are the hyper-parameters of one AdamW update (PyTorch semantics:
// decoupled weight decay p -= LR*WeightDecay*p before the Adam step; Step
// counts from 1 and drives the bias corrections).
type AdamWOpts struct {
	LR          float32
	Beta1       float32
	Beta2       float32
	Eps         float32
	WeightDecay float32
	Step        int
	// Deferred, for AdamWStepMulti only: check the gradients on the
	// device and record a failure instead of waiting (DeferredCheck).
	Deferred *DeferredCheck
}

// Backend is one implementation of every engine op.
type Backend interface {
	// Name is "cpu", "cuda:0", ...
	Name() string
	// Close releases everything the backend holds.
	Close() error

	// New allocates a zeroed tensor of the given shape.
	New(shape ...int) (*Tensor, error)
	// Free releases a tensor's storage (a pool may keep it for reuse).
	Free(t *Tensor)
	// Upload copies host values into t; len(src) must equal t.Numel().
	Upload(dst *Tensor, src []float32) error
	// Download copies t into dst; len(dst) must equal t.Numel().
	Download(dst []float32, src *Tensor) error
	// Zero sets every element to 0.
	Zero(t *Tensor) error
	// Copy copies src into dst (same number of elements).
	Copy(dst, src *Tensor) error
	// View returns a tensor of the given shape over the first
	// shape.Numel() elements of t's storage, without copying: a write
	// through either is seen through the other. It lets one buffer serve
	// tensors of several shapes at different times (the model's gradient
	// and recomputation arena). The view is valid while t is (a view of
	// a view shares the same storage); Free of a view does nothing: free
	// t. A shape with more elements than t, or a negative dimension, is
	// an error.
	View(t *Tensor, shape ...int) (*Tensor, error)
	// Sync waits until all queued work is done.
	Sync() error
	// PeakBytes is the largest number of bytes the backend held at once.
	PeakBytes() int64
	// SetMatmulPrecision sets the operand format of the convolutions and
	// linear layers (see Precision); a format the backend or its device
	// cannot run is an error that names the formats it can.
	SetMatmulPrecision(p Precision) error
	// MatmulPrecision returns the format SetMatmulPrecision set (FP32 by
	// default).
	MatmulPrecision() Precision

	// Add computes out = a + b elementwise; out may alias a or b.
	Add(a, b, out *Tensor) error

	// Conv2DForward: x [N,Cin,H,W], w [Cout,Cin,K,K] -> y [N,Cout,Ho,Wo].
	Conv2DForward(x, w, y *Tensor, p ConvParams) error
	// Conv2DBackwardData: dy, w -> dx (gradient w.r.t. the input).
	Conv2DBackwardData(dy, w, dx *Tensor, p ConvParams) error
	// Conv2DBackwardFilter: x, dy -> dw (gradient w.r.t. the weight).
	Conv2DBackwardFilter(x, dy, dw *Tensor, p ConvParams) error

	// BatchNormForwardTrain normalises x ([N,C,H,W] or [N,C]) with the batch
	// statistics, writes y, saves the batch mean and 1/sqrt(var+eps) (biased
	// variance) for the backward pass, and updates the running statistics
	// like PyTorch: run = (1-momentum)*run + momentum*batch, with the
	// unbiased variance for runVar.
	BatchNormForwardTrain(x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar *Tensor, momentum, eps float32) error
	// BatchNormForwardEval normalises x with the running statistics.
	BatchNormForwardEval(x, gamma, beta, runMean, runVar, y *Tensor, eps float32) error
	// BatchNormBackward computes dx, dgamma and dbeta of the training-mode
	// forward from the saved statistics.
	BatchNormBackward(dy, x, gamma, saveMean, saveInvStd, dx, dgamma, dbeta *Tensor) error

	// BatchNormReLUForwardTrain is BatchNormForwardTrain followed by
	// ReLUForward on y, in one pass over the data: y = relu(bn(x)), with
	// the same statistics and the same results bit for bit.
	BatchNormReLUForwardTrain(x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar *Tensor, momentum, eps float32) error
	// BatchNormReLUBackward is ReLUBackward (dy kept where y > 0) followed by
	// BatchNormBackward, without writing the masked gradient: y is the
	// output of BatchNormReLUForwardTrain. The same results bit for bit;
	// dx may alias dy.
	BatchNormReLUBackward(dy, y, x, gamma, saveMean, saveInvStd, dx, dgamma, dbeta *Tensor) error
	// BatchNormApply recomputes the output of a training-mode forward from
	// its saved statistics: y = (x-saveMean)*scale + beta, scale =
	// float32(float64(gamma)*float64(saveInvStd)), through a ReLU when relu;
	// the same bits as BatchNormForwardTrain / BatchNormReLUForwardTrain
	// wrote with those statistics (activation recomputation). Running
	// statistics are not touched and nothing is reduced over the batch (no
	// collective either). y may alias x.
	BatchNormApply(x, gamma, beta, saveMean, saveInvStd, y *Tensor, relu bool) error

	// ReLUForward: y = max(x, 0). y may alias x.
	ReLUForward(x, y *Tensor) error
	// ReLUBackward: dx = dy where y > 0, else 0. dx may alias dy.
	ReLUBackward(y, dy, dx *Tensor) error

	// MaxPool2DForward: x [N,C,H,W] -> y [N,C,Ho,Wo].
	MaxPool2DForward(x, y *Tensor, p PoolParams) error
	// MaxPool2DBackward routes dy to the arg-max of each window of x (first
	// maximum in row-major window order, as PyTorch).
	MaxPool2DBackward(x, dy, dx *Tensor, p PoolParams) error

	// GlobalAvgPoolForward: x [N,C,H,W] -> y [N,C].
	GlobalAvgPoolForward(x, y *Tensor) error
	// GlobalAvgPoolBackward: dy [N,C] -> dx [N,C,H,W].
	GlobalAvgPoolBackward(dy, dx *Tensor) error

	// LinearForward: x [N,In], w [Out,In], b [Out] or nil -> y [N,Out].
	LinearForward(x, w, b, y *Tensor) error
	// LinearBackward: dx (may be nil), dw, db (nil when there is no bias).
	LinearBackward(x, w, dy, dx, dw, db *Tensor) error

	// L2NormalizeForward: y[i] = x[i]/max(||x[i]||, 1e-12) per row of x
	// [N,D]; norms [N] keeps ||x[i]|| for the backward pass.
	L2NormalizeForward(x, y, norms *Tensor) error
	// L2NormalizeBackward: dx from y, norms and dy.
	L2NormalizeBackward(y, norms, dy, dx *Tensor) error

	// SimilarityForward: s = z z^T for z [M,D] -> s [M,M]. With
	// L2-normalised rows this is the cosine-similarity matrix.
	SimilarityForward(z, s *Tensor) error
	// SimilarityBackward: dz = (ds + ds^T) z.
	SimilarityBackward(z, ds, dz *Tensor) error

	// NTXentForward returns the NT-Xent loss of the similarity matrix s
	// [2N,2N]: row i's positive is i+N (i<N) or i-N, its own entry is
	// excluded, logits are s/tau, and the loss is the mean over the 2N rows
	// of the cross-entropy, computed with a stable log-sum-exp.
	NTXentForward(s *Tensor, tau float32) (float32, error)
	// NTXentBackward writes ds, the gradient of that mean loss.
	NTXentBackward(s *Tensor, tau float32, ds *Tensor) error

	// NTXentFusedForward returns NTXentForward(z z^T, tau) for z [2N,D]
	// (L2-normalised rows) without forming the [2N,2N] matrix: rows of z
	// are taken in tiles against streamed tiles of columns with an online
	// max and sum, so the memory is O(N*D). It writes stats [2N,2]: row
	// i's log-sum-exp over j != i of s_ij/tau, a float64 split into a
	// float32 head stats[i,0] and tail stats[i,1] (their sum), which
	// NTXentFusedBackward takes instead of recomputing it. The logits are
	// float32 dot products, as SimilarityForward's; the rest is float64.
	// A NaN or infinity in z is an error naming the element (the cpu
	// backend also checks z and stats in the backward; the cuda backward
	// relies on the forward's check).
	NTXentFusedForward(z, stats *Tensor, tau float32) (float32, error)
	// NTXentFusedBackward writes dz, the gradient of that loss w.r.t. z,
	// from z and the forward's stats, again without the [2N,2N] matrix:
	// dz_i = 1/(2N*tau) * sum_{j != i} (p_ij + p_ji - 2[j == pos(i)]) z_j
	// with p_ij = exp(s_ij/tau - lse_i). It equals SimilarityBackward of
	// NTXentBackward's ds up to float32 rounding.
	NTXentFusedBackward(z, stats *Tensor, tau float32, dz *Tensor) error
	// NTXentForwardInto and NTXentFusedForwardInto are NTXentForward and
	// NTXentFusedForward (the fused one also writes stats) that leave the
	// loss on the backend: they write it into losses[slot] (losses [K],
	// 0 <= slot < K) instead of returning it, bit for bit the value the
	// float32-returning op gives, so a training loop can read the losses
	// of K steps back at once. They never wait for the device. A NaN or
	// infinity in the input is not an error here: losses[slot] becomes
	// NaN, for the reader to report.
	NTXentForwardInto(s *Tensor, tau float32, losses *Tensor, slot int) error
	NTXentFusedForwardInto(z, stats *Tensor, tau float32, losses *Tensor, slot int) error
	// NTXentForwardBackwardInto is NTXentForwardInto and NTXentBackward
	// in one pass over s (the cuda backend: one ntxent_rows launch and
	// mean_rows_f64), the same bits as each, and like NTXentForwardInto it
	// never waits for the device: a NaN or infinity in s is not an error
	// but makes losses[slot] NaN (and ds NaN in the rows that hold it; the
	// cpu backend fills all of ds with NaN), for the reader of the losses
	// to report. A training step that leaves its loss on the device uses
	// it instead of NTXentBackward, whose check of s is a host read.
	NTXentForwardBackwardInto(s *Tensor, tau float32, ds, losses *Tensor, slot int) error

	// SoftmaxCrossEntropyForward returns the mean cross-entropy of logits
	// [N,K] against labels (len N, values in [0,K)).
	SoftmaxCrossEntropyForward(logits *Tensor, labels []int32) (float32, error)
	// SoftmaxCrossEntropyBackward writes dlogits of that mean loss.
	SoftmaxCrossEntropyBackward(logits *Tensor, labels []int32, dlogits *Tensor) error

	// SumSquares returns the sum of squares of t's elements.
	SumSquares(t *Tensor) (float64, error)
	// SumSquaresMulti returns SumSquares of every tensor, each equal to
	// SumSquares(ts[i]) bit for bit (the cuda backend: two launches and
	// one host read for all of them).
	SumSquaresMulti(ts []*Tensor) ([]float64, error)
	// Dot returns the sum of a[i]*b[i].
	Dot(a, b *Tensor) (float64, error)
	// MomentumStep applies one momentum-SGD update to p in place.
	MomentumStep(p, g, buf *Tensor, o MomentumOpts) error
	// MomentumStepMulti applies MomentumStep to every params[i] with
	// grads[i] and bufs[i], with o.WeightDecay where decay[i] and 0
	// elsewhere; the same bits as the per-tensor calls in order (the cuda
	// backend: one launch for all). With o.Deferred it first checks every
	// gradient (DeferredCheck; the cuda backend: two more launches, no
	// host read).
	MomentumStepMulti(params, grads, bufs []*Tensor, decay []bool, o MomentumOpts) error
	// LARSStep applies one LARS update (see LARSOpts) to every params[i]
	// in place, with gradient grads[i] and momentum buffer bufs[i]; adapt
	// has one flag per tensor. Every norm is computed and checked before
	// any tensor changes: a NaN or Inf norm or an unrepresentable trust
	// ratio returns a *NonFiniteError naming the first such tensor (in
	// argument order) and changes nothing. The cuda backend needs no host
	// round trip per tensor (two multi-tensor reductions, one multi-tensor
	// update, one status read; with o.Deferred no read at all: the failure
	// goes into the status record, see DeferredCheck).
	LARSStep(params, grads, bufs []*Tensor, adapt []bool, o LARSOpts) error
	// AdamWStep applies one AdamW update to p in place.
	AdamWStep(p, g, m, v *Tensor, o AdamWOpts) error
	// AdamWStepMulti applies AdamWStep to every params[i] with grads[i]
	// and moments ms[i], vs[i], with o.WeightDecay where decay[i] and 0
	// elsewhere; the same bits as the per-tensor calls in order (the cuda
	// backend: one launch for all, no host round trip). With o.Deferred it
	// first checks every gradient (DeferredCheck; the cuda backend: two
	// more launches, still no host read).
	AdamWStepMulti(params, grads, ms, vs []*Tensor, decay []bool, o AdamWOpts) error
}
