package model

import (
	"fmt"
	"math/rand/v2"

	"simclr/internal/backend"
	"simclr/internal/tensor"
)

// resBlock is what ResNet needs of a residual block.
type resBlock interface {
	Forward(x *tensor.Tensor, train bool) (*tensor.Tensor, error)
	Backward(dy *tensor.Tensor) (*tensor.Tensor, error)
	Params() []*Param
	StateDict() []StateEntry
	outChannels() int
}

// shortcut is the optional downsample branch: 1x1 strided conv + BN.
type shortcut struct {
	conv *conv2d
	bn   *batchNorm
}

func newShortcut(b backend.Backend, bufs *bufCache, prefix string, inC, outC, stride int, rng *rand.Rand) (*shortcut, error) {
	if stride == 1 && inC == outC {
		return nil, nil
	}
	conv, err := newConv2d(b, bufs, prefix+"downsample.0", inC, outC, 1, stride, 0, rng)
	if err != nil {
		return nil, err
	}
	bn, err := newBatchNorm(b, bufs, prefix+"downsample.1", outC)
	if err != nil {
		return nil, err
	}
	return &shortcut{conv: conv, bn: bn}, nil
}

// residualOut finishes a block forward: out = relu(main + identity), computed
// in place in main (the main branch's BN output, which its backward does not
// need).
func residualOut(b backend.Backend, name string, sc *shortcut, x, main *tensor.Tensor, train bool) (*tensor.Tensor, error) {
	id := x
	if sc != nil {
		d, err := sc.conv.forward(x)
		if err != nil {
			return nil, err
		}
		if id, err = sc.bn.forward(d, train); err != nil {
			return nil, err
		}
	}
	if err := b.Add(main, id, main); err != nil {
		return nil, fmt.Errorf("%s residual add: %w", name, err)
	}
	if err := relu(b, name+" output", main); err != nil {
		return nil, err
	}
	return main, nil
}

// addShortcutGrad adds the identity branch's input gradient to dxMain in
// place: ds itself when there is no downsample, else the downsample's dx.
func addShortcutGrad(b backend.Backend, name string, sc *shortcut, ds, dxMain *tensor.Tensor) error {
	dxID := ds
	if sc != nil {
		dd, err := sc.bn.backward(ds)
		if err != nil {
			return err
		}
		if dxID, err = sc.conv.backward(dd, true); err != nil {
			return err
		}
	}
	if err := b.Add(dxMain, dxID, dxMain); err != nil {
		return fmt.Errorf("%s residual gradient: %w", name, err)
	}
	return nil
}

func (sc *shortcut) params() []*Param {
	if sc == nil {
		return nil
	}
	return append(sc.conv.params(), sc.bn.params()...)
}

func (sc *shortcut) stateDict() []StateEntry {
	if sc == nil {
		return nil
	}
	return append(sc.conv.stateDict(), sc.bn.stateDict()...)
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
	b            backend.Backend
	bufs         *bufCache
	name         string
	inC, outC    int
	conv1, conv2 *conv2d
	bn1, bn2     *batchNorm
	down         *shortcut
	a1           *tensor.Tensor // relu(bn1(conv1 x))
	out          *tensor.Tensor
	keyDS        string
	ready        bool
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
	k := &BasicBlock{b: b, bufs: bufs, name: blockName(prefix), inC: inC, outC: outC, keyDS: prefix + "/ds"}
	var err error
	if k.conv1, err = newConv2d(b, bufs, prefix+"conv1", inC, outC, 3, stride, 1, rng); err != nil {
		return nil, err
	}
	if k.bn1, err = newBatchNorm(b, bufs, prefix+"bn1", outC); err != nil {
		return nil, err
	}
	k.bn1.relu = true
	if k.conv2, err = newConv2d(b, bufs, prefix+"conv2", outC, outC, 3, 1, 1, rng); err != nil {
		return nil, err
	}
	if k.bn2, err = newBatchNorm(b, bufs, prefix+"bn2", outC); err != nil {
		return nil, err
	}
	if k.down, err = newShortcut(b, bufs, prefix, inC, outC, stride, rng); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *BasicBlock) outChannels() int { return k.outC }

// Forward runs the block on x [N,inC,H,W]. In train mode BN uses batch
// statistics (and updates its running ones) and the activations are kept for
// Backward. The result is owned by the block.
func (k *BasicBlock) Forward(x *tensor.Tensor, train bool) (*tensor.Tensor, error) {
	k.ready = false
	if x == nil {
		return nil, fmt.Errorf("%s: input is nil", k.name)
	}
	c1, err := k.conv1.forward(x)
	if err != nil {
		return nil, err
	}
	a1, err := k.bn1.forward(c1, train) // bn1 + ReLU
	if err != nil {
		return nil, err
	}
	c2, err := k.conv2.forward(a1)
	if err != nil {
		return nil, err
	}
	s, err := k.bn2.forward(c2, train)
	if err != nil {
		return nil, err
	}
	out, err := residualOut(k.b, k.name, k.down, x, s, train)
	if err != nil {
		return nil, err
	}
	k.a1, k.out, k.ready = a1, out, train
	return out, nil
}

// Backward takes dL/dout of the last train Forward, overwrites every
// parameter gradient of the block and returns dL/dx (owned by the block).
func (k *BasicBlock) Backward(dy *tensor.Tensor) (*tensor.Tensor, error) {
	if err := checkBackward(k.name+" backward", k.ready, k.out, dy); err != nil {
		return nil, err
	}
	ds, err := k.bufs.like(k.keyDS, k.out)
	if err != nil {
		return nil, err
	}
	if err := k.b.ReLUBackward(k.out, dy, ds); err != nil {
		return nil, fmt.Errorf("%s output relu: %w", k.name, err)
	}
	dc2, err := k.bn2.backward(ds)
	if err != nil {
		return nil, err
	}
	da1, err := k.conv2.backward(dc2, true)
	if err != nil {
		return nil, err
	}
	dc1, err := k.bn1.backward(da1) // through bn1's ReLU
	if err != nil {
		return nil, err
	}
	dx, err := k.conv1.backward(dc1, true)
	if err != nil {
		return nil, err
	}
	if err := addShortcutGrad(k.b, k.name, k.down, ds, dx); err != nil {
		return nil, err
	}
	return dx, nil
}

// Params returns the block's parameters in torchvision order.
func (k *BasicBlock) Params() []*Param {
	p := append(k.conv1.params(), k.bn1.params()...)
	p = append(p, k.conv2.params()...)
	p = append(p, k.bn2.params()...)
	return append(p, k.down.params()...)
}

// StateDict returns the block's state in torchvision state_dict order.
func (k *BasicBlock) StateDict() []StateEntry {
	s := append(k.conv1.stateDict(), k.bn1.stateDict()...)
	s = append(s, k.conv2.stateDict()...)
	s = append(s, k.bn2.stateDict()...)
	return append(s, k.down.stateDict()...)
}

// Bottleneck is torchvision's ResNet-50 block (v1.5, stride on the 3x3 conv):
// out = relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x))))))) + shortcut(x)),
// conv1 1x1 inC->midC, conv2 3x3 midC->midC, conv3 1x1 midC->4*midC.
type Bottleneck struct {
	b                   backend.Backend
	bufs                *bufCache
	name                string
	inC, midC, outC     int
	conv1, conv2, conv3 *conv2d
	bn1, bn2, bn3       *batchNorm
	down                *shortcut
	a1, a2              *tensor.Tensor
	out                 *tensor.Tensor
	keyDS               string
	ready               bool
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
	k := &Bottleneck{b: b, bufs: bufs, name: blockName(prefix), inC: inC, midC: midC, outC: outC, keyDS: prefix + "/ds"}
	var err error
	if k.conv1, err = newConv2d(b, bufs, prefix+"conv1", inC, midC, 1, 1, 0, rng); err != nil {
		return nil, err
	}
	if k.bn1, err = newBatchNorm(b, bufs, prefix+"bn1", midC); err != nil {
		return nil, err
	}
	k.bn1.relu = true
	if k.conv2, err = newConv2d(b, bufs, prefix+"conv2", midC, midC, 3, stride, 1, rng); err != nil {
		return nil, err
	}
	if k.bn2, err = newBatchNorm(b, bufs, prefix+"bn2", midC); err != nil {
		return nil, err
	}
	k.bn2.relu = true
	if k.conv3, err = newConv2d(b, bufs, prefix+"conv3", midC, outC, 1, 1, 0, rng); err != nil {
		return nil, err
	}
	if k.bn3, err = newBatchNorm(b, bufs, prefix+"bn3", outC); err != nil {
		return nil, err
	}
	if k.down, err = newShortcut(b, bufs, prefix, inC, outC, stride, rng); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *Bottleneck) outChannels() int { return k.outC }

// Forward runs the block on x [N,inC,H,W]; see BasicBlock.Forward.
func (k *Bottleneck) Forward(x *tensor.Tensor, train bool) (*tensor.Tensor, error) {
	k.ready = false
	if x == nil {
		return nil, fmt.Errorf("%s: input is nil", k.name)
	}
	c1, err := k.conv1.forward(x)
	if err != nil {
		return nil, err
	}
	a1, err := k.bn1.forward(c1, train) // bn1 + ReLU
	if err != nil {
		return nil, err
	}
	c2, err := k.conv2.forward(a1)
	if err != nil {
		return nil, err
	}
	a2, err := k.bn2.forward(c2, train) // bn2 + ReLU
	if err != nil {
		return nil, err
	}
	c3, err := k.conv3.forward(a2)
	if err != nil {
		return nil, err
	}
	s, err := k.bn3.forward(c3, train)
	if err != nil {
		return nil, err
	}
	out, err := residualOut(k.b, k.name, k.down, x, s, train)
	if err != nil {
		return nil, err
	}
	k.a1, k.a2, k.out, k.ready = a1, a2, out, train
	return out, nil
}

// Backward takes dL/dout of the last train Forward, overwrites every
// parameter gradient of the block and returns dL/dx (owned by the block).
func (k *Bottleneck) Backward(dy *tensor.Tensor) (*tensor.Tensor, error) {
	if err := checkBackward(k.name+" backward", k.ready, k.out, dy); err != nil {
		return nil, err
	}
	ds, err := k.bufs.like(k.keyDS, k.out)
	if err != nil {
		return nil, err
	}
	if err := k.b.ReLUBackward(k.out, dy, ds); err != nil {
		return nil, fmt.Errorf("%s output relu: %w", k.name, err)
	}
	dc3, err := k.bn3.backward(ds)
	if err != nil {
		return nil, err
	}
	da2, err := k.conv3.backward(dc3, true)
	if err != nil {
		return nil, err
	}
	dc2, err := k.bn2.backward(da2) // through bn2's ReLU
	if err != nil {
		return nil, err
	}
	da1, err := k.conv2.backward(dc2, true)
	if err != nil {
		return nil, err
	}
	dc1, err := k.bn1.backward(da1) // through bn1's ReLU
	if err != nil {
		return nil, err
	}
	dx, err := k.conv1.backward(dc1, true)
	if err != nil {
		return nil, err
	}
	if err := addShortcutGrad(k.b, k.name, k.down, ds, dx); err != nil {
		return nil, err
	}
	return dx, nil
}

// Params returns the block's parameters in torchvision order.
func (k *Bottleneck) Params() []*Param {
	p := append(k.conv1.params(), k.bn1.params()...)
	p = append(p, k.conv2.params()...)
	p = append(p, k.bn2.params()...)
	p = append(p, k.conv3.params()...)
	p = append(p, k.bn3.params()...)
	return append(p, k.down.params()...)
}

// StateDict returns the block's state in torchvision state_dict order.
func (k *Bottleneck) StateDict() []StateEntry {
	s := append(k.conv1.stateDict(), k.bn1.stateDict()...)
	s = append(s, k.conv2.stateDict()...)
	s = append(s, k.bn2.stateDict()...)
	s = append(s, k.conv3.stateDict()...)
	s = append(s, k.bn3.stateDict()...)
	return append(s, k.down.stateDict()...)
}
