package model

import (
	"fmt"
	"math/rand/v2"

	"simclr/internal/backend"
	"simclr/internal/tensor"
)

// ResNet is the SimCLR encoder f: torchvision's ResNet without its fc layer.
// Forward maps images [N,C,H,W] to features [N,FeatureDim()] after global
// average pooling.
type ResNet struct {
	b       backend.Backend
	cfg     Config
	bufs    *bufCache
	conv1   *conv2d
	bn1     *batchNorm
	maxPool bool
	blocks  []resBlock
	featDim int

	stem  *tensor.Tensor // relu(bn1(conv1 x))
	last  *tensor.Tensor // output of the last block
	feat  *tensor.Tensor
	ready bool

	// recompute (SetRecompute) makes a train Forward lean: lean says the
	// last one was, so Backward rebuilds conv1's output from the input.
	recompute, lean bool

	// gradReady, when set, is called by Backward with each group of
	// parameters whose gradients are final: every block's, from the last,
	// then the stem's (SimCLR.SetGradReady).
	gradReady func([]*Param) error
}

// imagenetPool is torchvision's stem max-pool.
var imagenetPool = backend.PoolParams{Kernel: 3, Stride: 2, Pad: 1}

// NewResNet builds the encoder described by cfg's encoder fields, initialised
// like torchvision (Kaiming-normal fan_out for convs, BN gamma 1 and beta 0)
// from a PCG generator seeded with seed: the same seed gives the same weights.
func NewResNet(b backend.Backend, cfg Config, seed int64) (*ResNet, error) {
	r, err := newResNet(b, cfg, newRNG(seed, encoderStream))
	if err != nil {
		return nil, fmt.Errorf("new %s encoder: %w", cfg.Arch, err)
	}
	return r, nil
}

// newResNet builds the network; a nil rng leaves the conv weights zero.
func newResNet(b backend.Backend, cfg Config, rng *rand.Rand) (*ResNet, error) {
	if b == nil {
		return nil, fmt.Errorf("backend is nil")
	}
	if err := cfg.ValidateEncoder(); err != nil {
		return nil, err
	}
	cfg = Config{Arch: cfg.Arch, Stem: cfg.Stem, Width: cfg.Width, InChannels: cfg.InChannels}
	spec := archSpecs[cfg.Arch]
	bufs := newBufCache(b)
	r := &ResNet{b: b, cfg: cfg, bufs: bufs, featDim: spec.featureDim(cfg.Width)}
	var err error
	w := cfg.Width
	if cfg.Stem == StemImageNet {
		r.conv1, err = newConv2d(b, bufs, "conv1", cfg.InChannels, w, 7, 2, 3, rng)
		r.maxPool = true
	} else {
		r.conv1, err = newConv2d(b, bufs, "conv1", cfg.InChannels, w, 3, 1, 1, rng)
	}
	if err != nil {
		return nil, err
	}
	if r.bn1, err = newBatchNorm(b, bufs, "bn1", w); err != nil {
		return nil, err
	}
	r.bn1.relu = true
	inC := w
	for li, n := range spec.blocks {
		planes := w << li
		for i := 0; i < n; i++ {
			stride := 1
			if i == 0 && li > 0 {
				stride = 2
			}
			prefix := fmt.Sprintf("layer%d.%d.", li+1, i)
			var blk resBlock
			if spec.bottleneck {
				blk, err = newBottleneck(b, bufs, prefix, inC, planes, stride, rng)
			} else {
				blk, err = newBasicBlock(b, bufs, prefix, inC, planes, stride, rng)
			}
			if err != nil {
				return nil, err
			}
			r.blocks = append(r.blocks, blk)
			inC = blk.outChannels()
		}
	}
	return r, nil
}

// Config returns the encoder fields (Arch, Stem, Width, InChannels) of the
// configuration the network was built from; the head fields are zero.
func (r *ResNet) Config() Config { return r.cfg }

// FeatureDim is the size of a feature vector: 8*Width for basic blocks,
// 32*Width for bottlenecks.
func (r *ResNet) FeatureDim() int { return r.featDim }

// Forward maps x [N,InChannels,H,W] to features [N,FeatureDim()]. In train
// mode BN uses batch statistics, updates its running ones and the
// activations are kept for Backward. The result is owned by r and valid
// until the next Forward; x must stay unchanged until Backward.
func (r *ResNet) Forward(x *tensor.Tensor, train bool) (*tensor.Tensor, error) {
	r.ready = false
	if x == nil {
		return nil, fmt.Errorf("encoder forward: input is nil")
	}
	if len(x.Shape) != 4 || x.Shape[0] < 1 || x.Shape[1] != r.cfg.InChannels || x.Shape[2] < 1 || x.Shape[3] < 1 {
		return nil, fmt.Errorf("encoder forward: input shape %v, want [N %d H W] (N, H, W >= 1; in_channels %d)",
			x.Shape, r.cfg.InChannels, r.cfg.InChannels)
	}
	lean := train && r.recompute
	r.bufs.drop(r.stem) // a lean forward's output no backward read
	r.stem = nil
	var c *tensor.Tensor
	var err error
	if lean {
		c, err = r.conv1.forwardArena(x) // an arena buffer, rebuilt in Backward
	} else {
		c, err = r.conv1.forward(x)
	}
	if err != nil {
		return nil, err
	}
	var a *tensor.Tensor
	if lean {
		// The stem's output, layer1.0's input, lives until Backward has
		// finished with it.
		if a, err = r.bufs.keep(r.bn1.keyY, c.Shape...); err == nil {
			err = r.bn1.forwardTo(c, a, true) // bn1 + ReLU
		}
		r.bufs.put(c)
	} else {
		a, err = r.bn1.forward(c, train) // bn1 + ReLU
	}
	if err != nil {
		return nil, err
	}
	h := a
	if r.maxPool {
		ho := backend.ConvOutSize(a.Shape[2], imagenetPool.Kernel, imagenetPool.Stride, imagenetPool.Pad)
		wo := backend.ConvOutSize(a.Shape[3], imagenetPool.Kernel, imagenetPool.Stride, imagenetPool.Pad)
		if h, err = r.bufs.get("maxpool/y", a.Shape[0], a.Shape[1], ho, wo); err != nil {
			return nil, err
		}
		if err := r.b.MaxPool2DForward(a, h, imagenetPool); err != nil {
			return nil, fmt.Errorf("maxpool: %w", err)
		}
	}
	for _, blk := range r.blocks {
		if h, err = blk.Forward(h, train); err != nil {
			return nil, err
		}
	}
	feat, err := r.bufs.get("avgpool/y", h.Shape[0], h.Shape[1])
	if err != nil {
		return nil, err
	}
	if err := r.b.GlobalAvgPoolForward(h, feat); err != nil {
		return nil, fmt.Errorf("avgpool: %w", err)
	}
	r.stem, r.last, r.feat, r.ready, r.lean = a, h, feat, train, lean
	return feat, nil
}

// Backward takes dL/dfeatures [N,FeatureDim()] of the last train Forward and
// overwrites the gradient of every parameter.
func (r *ResNet) Backward(dfeat *tensor.Tensor) error {
	if err := checkBackward("encoder backward", r.ready, r.feat, dfeat); err != nil {
		return err
	}
	// Every activation gradient below is taken from the gradient pool and
	// put back once the layer below has consumed it.
	r.bufs.resetGrads()
	dh, err := r.bufs.gradLike("avgpool/dx", r.last)
	if err != nil {
		return err
	}
	if err := r.b.GlobalAvgPoolBackward(dfeat, dh); err != nil {
		return fmt.Errorf("avgpool backward: %w", err)
	}
	for i := len(r.blocks) - 1; i >= 0; i-- {
		dx, err := r.blocks[i].backward(dh, true) // puts dh back
		if err != nil {
			return err
		}
		dh = dx
		if r.gradReady != nil {
			if err := r.gradReady(r.blocks[i].Params()); err != nil {
				return err
			}
		}
	}
	if r.maxPool {
		da, err := r.bufs.gradLike("maxpool/dx", r.stem)
		if err != nil {
			return err
		}
		if err := r.b.MaxPool2DBackward(r.stem, dh, da, imagenetPool); err != nil {
			return fmt.Errorf("maxpool backward: %w", err)
		}
		r.bufs.put(dh)
		dh = da
	}
	if r.lean {
		// conv1's output again (conv1 keeps x, unchanged since Forward);
		// bn1 reads it and its own output, the cached stem.
		c, err := r.conv1.forwardArena(r.conv1.x)
		if err != nil {
			return err
		}
		if err := r.bn1.recompute(c, nil); err != nil {
			return err
		}
	}
	dc, err := r.bn1.backward(dh, true) // through bn1's ReLU, over dh
	if err != nil {
		return err
	}
	if dc != dh {
		r.bufs.put(dh)
	}
	r.bufs.put(r.bn1.x) // a rebuilt conv1 output is dead
	if r.lean {
		r.bufs.drop(r.stem) // read by bn1's backward, the last reader
		r.ready = false
	}
	_, err = r.conv1.backward(dc, false)
	r.bufs.put(dc)
	if err != nil || r.gradReady == nil {
		return err
	}
	return r.gradReady(append(r.conv1.params(), r.bn1.params()...))
}

// Params returns the trainable parameters in torchvision order.
func (r *ResNet) Params() []*Param {
	p := append(r.conv1.params(), r.bn1.params()...)
	for _, blk := range r.blocks {
		p = append(p, blk.Params()...)
	}
	return p
}

// StateDict returns the full state in torchvision state_dict order (weights,
// biases, running_mean, running_var, num_batches_tracked), without fc.
func (r *ResNet) StateDict() []StateEntry {
	s := append(r.conv1.stateDict(), r.bn1.stateDict()...)
	for _, blk := range r.blocks {
		s = append(s, blk.StateDict()...)
	}
	return s
}

// SetRecompute switches activation recomputation: with on, a train
// Forward keeps only each residual block's input and output, and Backward
// rebuilds a block's conv and batch-norm outputs from its input before
// running its backward (one more forward of every block, about a third
// more work per step, for most of the activation memory). The loss and
// every gradient are the same bits either way.
func (r *ResNet) SetRecompute(on bool) {
	r.recompute = on
	for _, blk := range r.blocks {
		blk.setRecompute(on)
	}
}

// ReleaseBuffers frees every cached activation and gradient buffer (for
// example after evaluating with another batch size); the next Forward
// allocates afresh. Parameters and statistics are kept.
func (r *ResNet) ReleaseBuffers() {
	r.bufs.release()
	r.ready, r.stem, r.last, r.feat = false, nil, nil, nil
}
