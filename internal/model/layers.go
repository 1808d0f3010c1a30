package model

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"simclr/internal/backend"
	"simclr/internal/tensor"
)

// PyTorch's BatchNorm defaults, used by every BN layer here.
const (
	bnMomentum = 0.1
	bnEps      = 1e-5
)

// newParam allocates a parameter and its gradient; values (nil = zeros) are
// uploaded into the parameter.
func newParam(b backend.Backend, name string, noDecay bool, values []float32, shape ...int) (*Param, error) {
	v, err := b.New(shape...)
	if err != nil {
		return nil, fmt.Errorf("allocate %s: %w", name, err)
	}
	g, err := b.New(shape...)
	if err != nil {
		b.Free(v)
		return nil, fmt.Errorf("allocate gradient of %s: %w", name, err)
	}
	if values != nil {
		if err := b.Upload(v, values); err != nil {
			b.Free(v)
			b.Free(g)
			return nil, fmt.Errorf("initialise %s: %w", name, err)
		}
	}
	return &Param{Name: name, Value: v, Grad: g, NoDecay: noDecay}, nil
}

// conv2d is a bias-free 2-D convolution (torchvision's convs have no bias).
type conv2d struct {
	b          backend.Backend
	bufs       *bufCache
	name       string
	w          *Param
	p          backend.ConvParams
	cin, cout  int
	k          int
	keyY, keyD string
	x          *tensor.Tensor // input of the last Forward
}

// newConv2d builds a conv named name (the weight is name+".weight"). A nil
// rng leaves the weight zero (it is about to be loaded).
func newConv2d(b backend.Backend, bufs *bufCache, name string, cin, cout, k, stride, pad int, rng *rand.Rand) (*conv2d, error) {
	var init []float32
	if rng != nil {
		init = kaimingNormalFanOut(rng, cout*cin*k*k, cout*k*k)
	}
	w, err := newParam(b, name+".weight", false, init, cout, cin, k, k)
	if err != nil {
		return nil, err
	}
	return &conv2d{b: b, bufs: bufs, name: name, w: w, p: backend.ConvParams{Stride: stride, Pad: pad},
		cin: cin, cout: cout, k: k, keyY: name + "/y", keyD: name + "/dx"}, nil
}

func (c *conv2d) forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	shape, err := c.outShape(x)
	if err != nil {
		return nil, err
	}
	y, err := c.bufs.get(c.keyY, shape...)
	if err != nil {
		return nil, err
	}
	return y, c.forwardTo(x, y)
}

// outShape is the output shape of the conv on x, or an error naming the
// layer when x does not fit it.
func (c *conv2d) outShape(x *tensor.Tensor) ([]int, error) {
	if len(x.Shape) != 4 || x.Shape[1] != c.cin {
		return nil, fmt.Errorf("%s: input shape %v, want [N %d H W]", c.name, x.Shape, c.cin)
	}
	ho := backend.ConvOutSize(x.Shape[2], c.k, c.p.Stride, c.p.Pad)
	wo := backend.ConvOutSize(x.Shape[3], c.k, c.p.Stride, c.p.Pad)
	if ho < 1 || wo < 1 {
		return nil, fmt.Errorf("%s: input %dx%d is too small for a %dx%d kernel with stride %d and padding %d; use larger images",
			c.name, x.Shape[2], x.Shape[3], c.k, c.k, c.p.Stride, c.p.Pad)
	}
	return []int{x.Shape[0], c.cout, ho, wo}, nil
}

// forwardArena runs the conv on x into an arena buffer (bufCache.grad) it
// returns, for the caller to put back once read: a recomputing forward's
// or backward's conv output.
func (c *conv2d) forwardArena(x *tensor.Tensor) (*tensor.Tensor, error) {
	shape, err := c.outShape(x)
	if err != nil {
		return nil, err
	}
	y, err := c.bufs.grad(c.keyY, shape...)
	if err != nil {
		return nil, err
	}
	if err := c.forwardTo(x, y); err != nil {
		c.bufs.put(y)
		return nil, err
	}
	return y, nil
}

// forwardTo writes conv(x) into y (of outShape(x)) and keeps x for the
// backward.
func (c *conv2d) forwardTo(x, y *tensor.Tensor) error {
	if err := c.b.Conv2DForward(x, c.w.Value, y, c.p); err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	c.x = x
	return nil
}

// backward writes the weight gradient and, when needDX, returns the input
// gradient, a buffer taken from the gradient pool (the caller puts it back).
func (c *conv2d) backward(dy *tensor.Tensor, needDX bool) (*tensor.Tensor, error) {
	if c.x == nil {
		return nil, fmt.Errorf("%s: backward called before forward", c.name)
	}
	if err := c.b.Conv2DBackwardFilter(c.x, dy, c.w.Grad, c.p); err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	if !needDX {
		return nil, nil
	}
	dx, err := c.bufs.gradLike(c.keyD, c.x)
	if err != nil {
		return nil, err
	}
	if err := c.b.Conv2DBackwardData(dy, c.w.Value, dx, c.p); err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	return dx, nil
}

func (c *conv2d) params() []*Param { return []*Param{c.w} }

func (c *conv2d) stateDict() []StateEntry {
	return []StateEntry{{Name: c.w.Name, F32: c.w.Value}}
}

// batchNorm is BatchNorm1d/2d with PyTorch's momentum 0.1 and eps 1e-5.
type batchNorm struct {
	b                    backend.Backend
	bufs                 *bufCache
	name                 string
	c                    int
	gamma, beta          *Param
	runMean, runVar      *tensor.Tensor
	numBatches           int64
	saveMean, saveInvStd *tensor.Tensor
	keyY, keyD           string
	x, y                 *tensor.Tensor // input and output of the last train Forward
	// relu makes the layer BN followed by ReLU: the backend's fused ops
	// in training (one pass instead of two, forward and backward).
	relu bool
	// sync, when set, makes training statistics global across the ranks of
	// a data-parallel job (syncbn.go).
	sync      Reducer
	syncState syncBN
}

func newBatchNorm(b backend.Backend, bufs *bufCache, name string, c int) (*batchNorm, error) {
	gamma, err := newParam(b, name+".weight", true, constant(c, 1), c)
	if err != nil {
		return nil, err
	}
	beta, err := newParam(b, name+".bias", true, nil, c)
	if err != nil {
		return nil, err
	}
	n := &batchNorm{b: b, bufs: bufs, name: name, c: c, gamma: gamma, beta: beta,
		keyY: name + "/y", keyD: name + "/dx"}
	for _, t := range []**tensor.Tensor{&n.runMean, &n.runVar, &n.saveMean, &n.saveInvStd} {
		if *t, err = b.New(c); err != nil {
			return nil, fmt.Errorf("allocate %s statistics: %w", name, err)
		}
	}
	if err := b.Upload(n.runVar, constant(c, 1)); err != nil {
		return nil, fmt.Errorf("initialise %s.running_var: %w", name, err)
	}
	bufs.bns = append(bufs.bns, n)
	return n, nil
}

// forward normalises x ([N,C] or [N,C,H,W]), followed by ReLU when n.relu;
// train uses and updates batch statistics, eval uses the running
// statistics.
func (n *batchNorm) forward(x *tensor.Tensor, train bool) (*tensor.Tensor, error) {
	if err := n.checkInput(x); err != nil {
		return nil, err
	}
	y, err := n.bufs.like(n.keyY, x)
	if err != nil {
		return nil, err
	}
	return y, n.forwardTo(x, y, train)
}

func (n *batchNorm) checkInput(x *tensor.Tensor) error {
	if (len(x.Shape) != 2 && len(x.Shape) != 4) || x.Shape[1] != n.c {
		return fmt.Errorf("%s: input shape %v, want [N %d] or [N %d H W]", n.name, x.Shape, n.c, n.c)
	}
	return nil
}

// forwardTo is forward writing into y (x's shape).
func (n *batchNorm) forwardTo(x, y *tensor.Tensor, train bool) error {
	if err := n.checkInput(x); err != nil {
		return err
	}
	if !train {
		if err := n.b.BatchNormForwardEval(x, n.gamma.Value, n.beta.Value, n.runMean, n.runVar, y, bnEps); err != nil {
			return fmt.Errorf("%s: %w", n.name, err)
		}
		if n.relu {
			return relu(n.b, n.name, y)
		}
		return nil
	}
	if n.sync != nil {
		_, err := n.syncForward(x, y)
		return err
	}
	if x.Numel()/n.c < 2 {
		return fmt.Errorf("%s: training needs more than 1 value per channel, got input shape %v; use a batch size of at least 2", n.name, x.Shape)
	}
	forwardTrain := n.b.BatchNormForwardTrain
	if n.relu {
		forwardTrain = n.b.BatchNormReLUForwardTrain
	}
	if err := forwardTrain(x, n.gamma.Value, n.beta.Value, y, n.saveMean, n.saveInvStd,
		n.runMean, n.runVar, bnMomentum, bnEps); err != nil {
		return fmt.Errorf("%s: %w", n.name, err)
	}
	n.numBatches++
	n.x, n.y = x, y
	return nil
}

// recompute rebuilds the last train forward for the backward (the caller
// has run one), from x, an input equal to that forward's: with y, it writes the forward's output
// again (backend.BatchNormApply with the saved statistics: the same bits,
// running statistics and batch count untouched, no collective); without
// (a layer without ReLU, whose backward reads only x, or one whose output
// is kept), it only takes x.
func (n *batchNorm) recompute(x, y *tensor.Tensor) error {
	if y != nil {
		if err := n.b.BatchNormApply(x, n.gamma.Value, n.beta.Value, n.saveMean, n.saveInvStd, y, n.relu); err != nil {
			return fmt.Errorf("%s recompute: %w", n.name, err)
		}
	}
	n.x = x
	if y != nil || !n.relu {
		// Without a ReLU the backward reads no y: forget the forward's,
		// an arena buffer handed back since.
		n.y = y
	}
	return nil
}

// backward writes dgamma, dbeta and returns dx of the last train forward
// (through the ReLU too when n.relu), taken from the gradient pool. With
// inPlace (the caller's dy is dead afterwards) a layer with the ReLU
// writes dx over dy and returns dy (the fused backward allows it and gives
// the same bits); otherwise dx is a new pool buffer.
func (n *batchNorm) backward(dy *tensor.Tensor, inPlace bool) (*tensor.Tensor, error) {
	if n.x == nil {
		return nil, fmt.Errorf("%s: backward called before a train-mode forward", n.name)
	}
	dx := dy
	if !inPlace || !n.relu {
		var err error
		if dx, err = n.bufs.gradLike(n.keyD, n.x); err != nil {
			return nil, err
		}
	}
	if n.sync != nil {
		return n.syncBackward(dy, dx)
	}
	var err error
	if n.relu {
		err = n.b.BatchNormReLUBackward(dy, n.y, n.x, n.gamma.Value, n.saveMean, n.saveInvStd, dx, n.gamma.Grad, n.beta.Grad)
	} else {
		err = n.b.BatchNormBackward(dy, n.x, n.gamma.Value, n.saveMean, n.saveInvStd, dx, n.gamma.Grad, n.beta.Grad)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.name, err)
	}
	return dx, nil
}

func (n *batchNorm) params() []*Param { return []*Param{n.gamma, n.beta} }

func (n *batchNorm) stateDict() []StateEntry {
	return []StateEntry{
		{Name: n.gamma.Name, F32: n.gamma.Value},
		{Name: n.beta.Name, F32: n.beta.Value},
		{Name: n.name + ".running_mean", F32: n.runMean},
		{Name: n.name + ".running_var", F32: n.runVar},
		{Name: n.name + ".num_batches_tracked", I64: &n.numBatches},
	}
}

// linear is nn.Linear: y = x w^T + b, with an optional bias.
type linear struct {
	b          backend.Backend
	bufs       *bufCache
	name       string
	in, out    int
	w, bias    *Param // bias nil when the layer has none
	keyY, keyD string
	x          *tensor.Tensor
}

// newLinear builds nn.Linear(in, out) with PyTorch's default initialisation.
func newLinear(b backend.Backend, bufs *bufCache, name string, in, out int, withBias bool, rng *rand.Rand) (*linear, error) {
	var wInit, bInit []float32
	if rng != nil {
		wInit = uniformFanIn(rng, out*in, in)
		if withBias {
			bInit = uniformFanIn(rng, out, in)
		}
	}
	w, err := newParam(b, name+".weight", false, wInit, out, in)
	if err != nil {
		return nil, err
	}
	l := &linear{b: b, bufs: bufs, name: name, in: in, out: out, w: w, keyY: name + "/y", keyD: name + "/dx"}
	if withBias {
		if l.bias, err = newParam(b, name+".bias", true, bInit, out); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (l *linear) biasValue() *tensor.Tensor {
	if l.bias == nil {
		return nil
	}
	return l.bias.Value
}

func (l *linear) forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	if len(x.Shape) != 2 || x.Shape[1] != l.in {
		return nil, fmt.Errorf("%s: input shape %v, want [N %d]", l.name, x.Shape, l.in)
	}
	y, err := l.bufs.get(l.keyY, x.Shape[0], l.out)
	if err != nil {
		return nil, err
	}
	if err := l.b.LinearForward(x, l.w.Value, l.biasValue(), y); err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	l.x = x
	return y, nil
}

func (l *linear) backward(dy *tensor.Tensor) (*tensor.Tensor, error) {
	if l.x == nil {
		return nil, fmt.Errorf("%s: backward called before forward", l.name)
	}
	dx, err := l.bufs.gradLike(l.keyD, l.x)
	if err != nil {
		return nil, err
	}
	var db *tensor.Tensor
	if l.bias != nil {
		db = l.bias.Grad
	}
	if err := l.b.LinearBackward(l.x, l.w.Value, dy, dx, l.w.Grad, db); err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	return dx, nil
}

func (l *linear) params() []*Param {
	if l.bias == nil {
		return []*Param{l.w}
	}
	return []*Param{l.w, l.bias}
}

func (l *linear) stateDict() []StateEntry {
	s := []StateEntry{{Name: l.w.Name, F32: l.w.Value}}
	if l.bias != nil {
		s = append(s, StateEntry{Name: l.bias.Name, F32: l.bias.Value})
	}
	return s
}

// errNotTrained is wrapped by every Backward called without a preceding
// train-mode Forward.
var errNotTrained = errors.New("Backward needs a preceding Forward with train=true (an eval Forward in between replaces the saved activations)")

// relu applies ReLU in place.
func relu(b backend.Backend, name string, t *tensor.Tensor) error {
	if err := b.ReLUForward(t, t); err != nil {
		return fmt.Errorf("%s relu: %w", name, err)
	}
	return nil
}
