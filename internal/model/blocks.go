package model

import (
	"fmt"
	"math/rand/v2"
	"strconv"

	"simclr/internal/backend"
	"simclr/internal/tensor"
)

// resBlock is what ResNet needs of a residual block.
type resBlock interface {
	Forward(x *tensor.Tensor, train bool) (*tensor.Tensor, error)
	Backward(dy *tensor.Tensor) (*tensor.Tensor, error)
	// backward is Backward inside a larger pass: it leaves the gradient
	// pool's other buffers taken and returns dx taken from it; with
	// consume, dy is a pool buffer that it takes over (overwrites and
	// puts back).
	backward(dy *tensor.Tensor, consume bool) (*tensor.Tensor, error)
	// setRecompute switches the block's activation recomputation (see
	// residual.recompute).
	setRecompute(on bool)
	Params() []*Param
	StateDict() []StateEntry
	outChannels() int
}

// convBN is one conv + batch-norm stage, with the ReLU fused into the BN
// when relu is set: a block's convN/bnN pair or its downsample branch
// (downsample.0/.1). BasicBlock and Bottleneck are chains of these.
type convBN struct {
	conv *conv2d
	bn   *batchNorm
}

// newConvBN builds the conv (weight convName+".weight", initialised from
// rng) and then the BN named bnName.
func newConvBN(b backend.Backend, bufs *bufCache, convName, bnName string, inC, outC, k, stride, pad int, relu bool, rng *rand.Rand) (*convBN, error) {
	conv, err := newConv2d(b, bufs, convName, inC, outC, k, stride, pad, rng)
	if err != nil {
		return nil, err
	}
	bn, err := newBatchNorm(b, bufs, bnName, outC)
	if err != nil {
		return nil, err
	}
	bn.relu = relu
	return &convBN{conv: conv, bn: bn}, nil
}

// forward returns bn(conv(x)) (through the ReLU when the stage has one).
func (u *convBN) forward(x *tensor.Tensor, train bool) (*tensor.Tensor, error) {
	c, err := u.conv.forward(x)
	if err != nil {
		return nil, err
	}
	return u.bn.forward(c, train)
}

// backward writes the stage's parameter gradients and returns dx, taken
// from the gradient pool. dy stays the caller's, or with consume (dy is a
// pool buffer dead after this stage) is taken over: the BN with a ReLU
// writes its gradient over it, and it goes back to the pool as soon as
// it has been read.
func (u *convBN) backward(dy *tensor.Tensor, consume bool) (*tensor.Tensor, error) {
	dc, err := u.bn.backward(dy, consume)
	if consume && dc != dy {
		u.conv.bufs.put(dy)
	}
	if err != nil {
		return nil, err
	}
	// A recomputed stage's conv output and BN output (arena buffers) are
	// dead now: the conv above has already read the BN output. Cached
	// activations are not the arena's, and put leaves them alone.
	u.conv.bufs.put(u.bn.x)
	u.conv.bufs.put(u.bn.y)
	dx, err := u.conv.backward(dc, true)
	u.conv.bufs.put(dc)
	return dx, err
}

func (u *convBN) params() []*Param {
	if u == nil {
		return nil
	}
	return append(u.conv.params(), u.bn.params()...)
}

func (u *convBN) stateDict() []StateEntry {
	if u == nil {
		return nil
	}
	return append(u.conv.stateDict(), u.bn.stateDict()...)
}

// newShortcut returns the downsample branch (1x1 strided conv + BN), or nil
// when the block keeps its shape and the shortcut is the identity.
func newShortcut(b backend.Backend, bufs *bufCache, prefix string, inC, outC, stride int, rng *rand.Rand) (*convBN, error) {
	if stride == 1 && inC == outC {
		return nil, nil
	}
	return newConvBN(b, bufs, prefix+"downsample.0", prefix+"downsample.1", inC, outC, 1, stride, 0, false, rng)
}

// residual is what BasicBlock and Bottleneck share: a chain of conv-BN
// stages, every one but the last with its ReLU, and the shortcut:
// out = relu(stages(x) + shortcut(x)).
type residual struct {
	b      backend.Backend
	bufs   *bufCache
	name   string
	stages []*convBN
	down   *convBN // nil: identity shortcut
	in     *tensor.Tensor
	out    *tensor.Tensor
	keyDS  string
	keyOut string
	ready  bool
	// recompute keeps only the block's input and output from a train
	// forward: the stages' conv and BN outputs go to the arena and are
	// rebuilt from the input in the backward (the same ops on the same
	// values, so the same bits: BN from its saved statistics), trading
	// one more forward of the block for most of its activation memory.
	recompute bool
	lean      bool // the last train forward was forwardLean
}

func (r *residual) setRecompute(on bool) { r.recompute = on }

// forward runs the chain and the shortcut on x. acts receives the output of
// every stage but the last (the ReLU outputs the gradient tests watch).
func (r *residual) forward(x *tensor.Tensor, train bool, acts []**tensor.Tensor) (*tensor.Tensor, error) {
	r.ready = false
	if x == nil {
		return nil, fmt.Errorf("%s: input is nil", r.name)
	}
	// Any forward ends the last one's claim on a kept output.
	r.bufs.drop(r.out)
	r.out = nil
	if train && r.recompute {
		for _, p := range acts {
			*p = nil // not kept
		}
		return r.forwardLean(x)
	}
	a := x
	kept := make([]*tensor.Tensor, 0, len(acts))
	for i, s := range r.stages {
		var err error
		if a, err = s.forward(a, train); err != nil {
			return nil, err
		}
		if i < len(r.stages)-1 {
			kept = append(kept, a)
		}
	}
	id := x
	if r.down != nil {
		var err error
		if id, err = r.down.forward(x, train); err != nil {
			return nil, err
		}
	}
	// out = relu(main + identity), in place in the last BN's output, which
	// its backward does not need.
	if err := r.b.Add(a, id, a); err != nil {
		return nil, fmt.Errorf("%s residual add: %w", r.name, err)
	}
	if err := relu(r.b, r.name+" output", a); err != nil {
		return nil, err
	}
	for i, p := range acts {
		*p = kept[i]
	}
	r.in, r.out, r.ready, r.lean = x, a, train, false
	return a, nil
}

// forwardLean is the train forward with recomputation: every stage's
// conv and BN output but the last BN's (the block's output, a cached
// buffer) is an arena buffer handed back as soon as the next op has read
// it. The ops, their order and their inputs are forward's.
func (r *residual) forwardLean(x *tensor.Tensor) (*tensor.Tensor, error) {
	a := x
	for i, s := range r.stages {
		c, err := s.conv.forwardArena(a)
		if err != nil {
			return nil, err
		}
		if a != x {
			r.bufs.put(a) // read by the conv
		}
		var y *tensor.Tensor
		if i == len(r.stages)-1 {
			y, err = r.bufs.keep(r.keyOut, c.Shape...) // dropped by backward
		} else {
			y, err = r.bufs.gradLike(s.bn.keyY, c)
		}
		if err != nil {
			return nil, err
		}
		if err := s.bn.forwardTo(c, y, true); err != nil {
			return nil, err
		}
		r.bufs.put(c)
		a = y
	}
	id := x
	if r.down != nil {
		c, err := r.down.conv.forwardArena(x)
		if err != nil {
			return nil, err
		}
		if id, err = r.bufs.gradLike(r.down.bn.keyY, c); err != nil {
			return nil, err
		}
		if err := r.down.bn.forwardTo(c, id, true); err != nil {
			return nil, err
		}
		r.bufs.put(c)
		defer r.bufs.put(id)
	}
	if err := r.b.Add(a, id, a); err != nil {
		return nil, fmt.Errorf("%s residual add: %w", r.name, err)
	}
	if err := relu(r.b, r.name+" output", a); err != nil {
		return nil, err
	}
	r.in, r.out, r.ready, r.lean = x, a, true, true
	return a, nil
}

// rebuild recomputes, for the backward of a lean forward, what the stages'
// backward passes read: each conv's output (into the arena, the conv
// keeping its input) and each BN+ReLU output (BatchNormApply); the last
// BN, without ReLU, reads only its input. convBN.backward hands them back.
func (r *residual) rebuild() error {
	a := r.in
	for i, s := range r.stages {
		c, err := s.conv.forwardArena(a)
		if err != nil {
			return err
		}
		var y *tensor.Tensor
		if i < len(r.stages)-1 {
			if y, err = r.bufs.gradLike(s.bn.keyY, c); err != nil {
				return err
			}
		}
		if err := s.bn.recompute(c, y); err != nil {
			return err
		}
		a = y
	}
	return nil
}

// backward takes dL/dout of the last train forward, overwrites every
// parameter gradient and returns dL/dx, taken from the gradient pool. dy
// stays the caller's, or with consume (a pool buffer the caller is done
// with) becomes ds, the gradient through the output ReLU, in place. Every
// other gradient buffer it takes goes back to the pool once its last reader
// has run: a stage's output gradient after the stage below has consumed it
// (its ReLU backward in place), ds (read by the main branch, the shortcut
// and, for the identity, the final sum) after that sum.
func (r *residual) backward(dy *tensor.Tensor, consume bool) (*tensor.Tensor, error) {
	if err := checkBackward(r.name+" backward", r.ready, r.out, dy); err != nil {
		return nil, err
	}
	ds := dy
	if !consume {
		var err error
		if ds, err = r.bufs.gradLike(r.keyDS, r.out); err != nil {
			return nil, err
		}
	}
	defer r.bufs.put(ds)
	if err := r.b.ReLUBackward(r.out, dy, ds); err != nil {
		return nil, fmt.Errorf("%s output relu: %w", r.name, err)
	}
	lean := r.lean
	if lean {
		// The output is dead: this was its last reader (the block above
		// has run its backward). Its memory can serve the rest of the
		// step; the forward is spent.
		r.bufs.drop(r.out)
		r.ready = false
		if err := r.rebuild(); err != nil {
			return nil, err
		}
	}
	d := ds
	var err error
	for i := len(r.stages) - 1; i >= 0; i-- {
		// ds is read again below; the stages' own gradients are not.
		if d, err = r.stages[i].backward(d, d != ds); err != nil {
			return nil, err
		}
	}
	// The identity branch's input gradient: ds itself, or the downsample's dx.
	dxID := ds
	if r.down != nil {
		if lean {
			c, err := r.down.conv.forwardArena(r.in)
			if err != nil {
				r.bufs.put(d)
				return nil, err
			}
			if err := r.down.bn.recompute(c, nil); err != nil {
				r.bufs.put(d)
				return nil, err
			}
		}
		if dxID, err = r.down.backward(ds, false); err != nil {
			r.bufs.put(d)
			return nil, err
		}
		defer r.bufs.put(dxID)
	}
	if err := r.b.Add(d, dxID, d); err != nil {
		r.bufs.put(d)
		return nil, fmt.Errorf("%s residual gradient: %w", r.name, err)
	}
	return d, nil
}

// params returns the parameters in torchvision order: the stages, then
// the downsample branch.
func (r *residual) params() []*Param {
	var p []*Param
	for _, s := range r.stages {
		p = append(p, s.params()...)
	}
	return append(p, r.down.params()...)
}

// stateDict returns the state in torchvision state_dict order.
func (r *residual) stateDict() []StateEntry {
	var sd []StateEntry
	for _, s := range r.stages {
		sd = append(sd, s.stateDict()...)
	}
	return append(sd, r.down.stateDict()...)
}

// stageSpec is one conv-BN stage of a block: torchvision's convN/bnN.
type stageSpec struct {
	inC, outC, k, stride, pad int
	relu                      bool
}

// newResidual builds the stages conv1/bn1, conv2/bn2, ... in order and then
// the shortcut, drawing the conv weights from rng in that order.
func newResidual(b backend.Backend, bufs *bufCache, prefix string, inC, outC, stride int, specs []stageSpec, rng *rand.Rand) (residual, error) {
	r := residual{b: b, bufs: bufs, name: blockName(prefix), keyDS: prefix + "/ds", keyOut: prefix + "/out"}
	for i, sp := range specs {
		n := strconv.Itoa(i + 1)
		s, err := newConvBN(b, bufs, prefix+"conv"+n, prefix+"bn"+n, sp.inC, sp.outC, sp.k, sp.stride, sp.pad, sp.relu, rng)
		if err != nil {
			return residual{}, err
		}
		r.stages = append(r.stages, s)
	}
	var err error
	if r.down, err = newShortcut(b, bufs, prefix, inC, outC, stride, rng); err != nil {
		return residual{}, err
	}
	return r, nil
}

// checkBackward validates the upstream gradient of a block or network.
func checkBackward(op string, ready bool, out, dy *tensor.Tensor) error {
	if !ready || out == nil {
		return fmt.Errorf("%s: %w", op, errNotTrained)
	}
	if dy == nil {
		return fmt.Errorf("%s: gradient is nil", op)
	}
	return tensor.CheckShape(op, "gradient vs output", dy.Shape, out.Shape)
}

// blockName is the prefix without its trailing dot, for messages.
func blockName(prefix string) string {
	if n := len(prefix); n > 0 && prefix[n-1] == '.' {
		return prefix[:n-1]
	}
	if prefix == "" {
		return "block"
	}
	return prefix
}

// normPrefix makes "layer1.0" and "layer1.0." both mean the prefix "layer1.0.".
func normPrefix(prefix string) string {
	if prefix != "" && prefix[len(prefix)-1] != '.' {
		return prefix + "."
	}
	return prefix
}

// BasicBlock is torchvision's ResNet-18/34 block:
// out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), with 3x3 convs,
// the stride on conv1 and a 1x1 conv + BN shortcut when the shape changes.
type BasicBlock struct {
	residual
	inC, outC int
	a1        *tensor.Tensor // relu(bn1(conv1 x))
}

// NewBasicBlock builds a BasicBlock whose tensor names start with prefix
// (e.g. "layer2.0", with or without the trailing dot), initialised like
// torchvision from rng.
func NewBasicBlock(b backend.Backend, prefix string, inC, outC, stride int, rng *rand.Rand) (*BasicBlock, error) {
	if err := checkBlockArgs(b, inC, outC, stride); err != nil {
		return nil, fmt.Errorf("new basic block %s: %w", blockName(prefix), err)
	}
	if rng == nil {
		return nil, fmt.Errorf("new basic block %s: rng is nil; pass rand.New(rand.NewPCG(seed, stream))", blockName(prefix))
	}
	return newBasicBlock(b, newBufCache(b), normPrefix(prefix), inC, outC, stride, rng)
}

func checkBlockArgs(b backend.Backend, inC, outC, stride int) error {
	if b == nil {
		return fmt.Errorf("backend is nil")
	}
	if inC < 1 || outC < 1 {
		return fmt.Errorf("channels %d -> %d must be positive", inC, outC)
	}
	if stride < 1 {
		return fmt.Errorf("stride %d must be at least 1", stride)
	}
	return nil
}

func newBasicBlock(b backend.Backend, bufs *bufCache, prefix string, inC, outC, stride int, rng *rand.Rand) (*BasicBlock, error) {
	r, err := newResidual(b, bufs, prefix, inC, outC, stride, []stageSpec{
		{inC: inC, outC: outC, k: 3, stride: stride, pad: 1, relu: true},
		{inC: outC, outC: outC, k: 3, stride: 1, pad: 1},
	}, rng)
	if err != nil {
		return nil, err
	}
	return &BasicBlock{residual: r, inC: inC, outC: outC}, nil
}

func (k *BasicBlock) outChannels() int { return k.outC }

// Forward runs the block on x [N,inC,H,W]. In train mode BN uses batch
// statistics (and updates its running ones) and the activations are kept for
// Backward. The result is owned by the block.
func (k *BasicBlock) Forward(x *tensor.Tensor, train bool) (*tensor.Tensor, error) {
	return k.forward(x, train, []**tensor.Tensor{&k.a1})
}

// Backward takes dL/dout of the last train Forward, overwrites every
// parameter gradient of the block and returns dL/dx (owned by the block,
// valid until the next Backward).
func (k *BasicBlock) Backward(dy *tensor.Tensor) (*tensor.Tensor, error) {
	k.bufs.resetGrads()
	return k.backward(dy, false)
}

// Params returns the block's parameters in torchvision order.
func (k *BasicBlock) Params() []*Param { return k.params() }

// StateDict returns the block's state in torchvision state_dict order.
func (k *BasicBlock) StateDict() []StateEntry { return k.stateDict() }

// Bottleneck is torchvision's ResNet-50 block (v1.5, stride on the 3x3 conv):
// out = relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x))))))) + shortcut(x)),
// conv1 1x1 inC->midC, conv2 3x3 midC->midC, conv3 1x1 midC->4*midC.
type Bottleneck struct {
	residual
	inC, midC, outC int
	a1, a2          *tensor.Tensor // the outputs of bn1 and bn2 (with their ReLUs)
}

// bottleneckExpansion is the ratio of a Bottleneck's output to its mid width.
const bottleneckExpansion = 4

// NewBottleneck builds a Bottleneck (output 4*midC channels) whose tensor
// names start with prefix, initialised like torchvision from rng.
func NewBottleneck(b backend.Backend, prefix string, inC, midC, stride int, rng *rand.Rand) (*Bottleneck, error) {
	if err := checkBlockArgs(b, inC, midC, stride); err != nil {
		return nil, fmt.Errorf("new bottleneck %s: %w", blockName(prefix), err)
	}
	if rng == nil {
		return nil, fmt.Errorf("new bottleneck %s: rng is nil; pass rand.New(rand.NewPCG(seed, stream))", blockName(prefix))
	}
	return newBottleneck(b, newBufCache(b), normPrefix(prefix), inC, midC, stride, rng)
}

func newBottleneck(b backend.Backend, bufs *bufCache, prefix string, inC, midC, stride int, rng *rand.Rand) (*Bottleneck, error) {
	outC := bottleneckExpansion * midC
	r, err := newResidual(b, bufs, prefix, inC, outC, stride, []stageSpec{
		{inC: inC, outC: midC, k: 1, stride: 1, pad: 0, relu: true},
		{inC: midC, outC: midC, k: 3, stride: stride, pad: 1, relu: true},
		{inC: midC, outC: outC, k: 1, stride: 1, pad: 0},
	}, rng)
	if err != nil {
		return nil, err
	}
	return &Bottleneck{residual: r, inC: inC, midC: midC, outC: outC}, nil
}

func (k *Bottleneck) outChannels() int { return k.outC }

// Forward runs the block on x [N,inC,H,W]; see BasicBlock.Forward.
func (k *Bottleneck) Forward(x *tensor.Tensor, train bool) (*tensor.Tensor, error) {
	return k.forward(x, train, []**tensor.Tensor{&k.a1, &k.a2})
}

// Backward takes dL/dout of the last train Forward, overwrites every
// parameter gradient of the block and returns dL/dx (owned by the block,
// valid until the next Backward).
func (k *Bottleneck) Backward(dy *tensor.Tensor) (*tensor.Tensor, error) {
	k.bufs.resetGrads()
	return k.backward(dy, false)
}

// Params returns the block's parameters in torchvision order.
func (k *Bottleneck) Params() []*Param { return k.params() }

// StateDict returns the block's state in torchvision state_dict order.
func (k *Bottleneck) StateDict() []StateEntry { return k.stateDict() }
