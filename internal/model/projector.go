package model

import (
	"fmt"
	"strconv"

	"simclr/internal/backend"
	"simclr/internal/tensor"
)

// hiddenLayer is Linear [+ BN1d] + ReLU of the projection head.
type hiddenLayer struct {
	lin *linear
	bn  *batchNorm     // nil without HeadBN
	act *tensor.Tensor // relu output of the last forward
}

// Projector is the projection head g, an nn.Sequential named "projector":
// Linear(D,H)[+BN1d]+ReLU, (Linear(H,H)[+BN1d]+ReLU with 3 layers),
// Linear(H,Out). Tensor names follow the Sequential indices, e.g.
// "projector.0.weight", "projector.1.running_mean" (BN), "projector.3.bias".
// Hidden linears have no bias when followed by BN; the last one always has.
type Projector struct {
	b      backend.Backend
	bufs   *bufCache
	inDim  int
	hidden []hiddenLayer
	out    *linear
	z      *tensor.Tensor
	ready  bool
}

// NewProjector builds the head for encoder features of size inDim from cfg's
// head fields, initialised like PyTorch's nn.Linear (uniform +-1/sqrt(fan_in)
// weight and bias; BN gamma 1, beta 0) from a PCG generator seeded with seed.
func NewProjector(b backend.Backend, inDim int, cfg Config, seed int64) (*Projector, error) {
	if b == nil {
		return nil, fmt.Errorf("new projector: backend is nil")
	}
	if err := cfg.ValidateHead(); err != nil {
		return nil, fmt.Errorf("new projector: %w", err)
	}
	if inDim < 1 || inDim > MaxHeadDim {
		return nil, fmt.Errorf("new projector: input size %d out of range 1..%d", inDim, MaxHeadDim)
	}
	rng := newRNG(seed, projectorStream)
	hid := cfg.HeadHidden
	if hid == 0 {
		hid = inDim
	}
	bufs := newBufCache(b)
	p := &Projector{b: b, bufs: bufs, inDim: inDim}
	idx := 0
	name := func() string { s := "projector." + strconv.Itoa(idx); idx++; return s }
	in := inDim
	for i := 0; i < cfg.HeadLayers-1; i++ {
		var h hiddenLayer
		var err error
		if h.lin, err = newLinear(b, bufs, name(), in, hid, !cfg.HeadBN, rng); err != nil {
			return nil, fmt.Errorf("new projector: %w", err)
		}
		if cfg.HeadBN {
			if h.bn, err = newBatchNorm(b, bufs, name(), hid); err != nil {
				return nil, fmt.Errorf("new projector: %w", err)
			}
		}
		idx++ // the ReLU module
		p.hidden = append(p.hidden, h)
		in = hid
	}
	var err error
	if p.out, err = newLinear(b, bufs, name(), in, cfg.HeadOut, true, rng); err != nil {
		return nil, fmt.Errorf("new projector: %w", err)
	}
	return p, nil
}

// InDim is the feature size the head expects.
func (p *Projector) InDim() int { return p.inDim }

// OutDim is the size of a projection.
func (p *Projector) OutDim() int { return p.out.out }

// Forward maps features h [N,InDim] to projections [N,OutDim] (owned by p,
// valid until the next Forward). Train mode uses BN batch statistics and
// keeps the activations for Backward.
func (p *Projector) Forward(h *tensor.Tensor, train bool) (*tensor.Tensor, error) {
	p.ready = false
	if h == nil {
		return nil, fmt.Errorf("projector forward: input is nil")
	}
	if len(h.Shape) != 2 || h.Shape[0] < 1 || h.Shape[1] != p.inDim {
		return nil, fmt.Errorf("projector forward: input shape %v, want [N %d]", h.Shape, p.inDim)
	}
	x := h
	for i := range p.hidden {
		l := &p.hidden[i]
		y, err := l.lin.forward(x)
		if err != nil {
			return nil, err
		}
		if l.bn != nil {
			if y, err = l.bn.forward(y, train); err != nil {
				return nil, err
			}
		}
		if err := relu(p.b, l.lin.name, y); err != nil {
			return nil, err
		}
		l.act = y
		x = y
	}
	z, err := p.out.forward(x)
	if err != nil {
		return nil, err
	}
	p.z, p.ready = z, train
	return z, nil
}

// Backward takes dL/dz of the last train Forward, overwrites every parameter
// gradient of the head and returns dL/dh (owned by p).
func (p *Projector) Backward(dz *tensor.Tensor) (*tensor.Tensor, error) {
	if err := checkBackward("projector backward", p.ready, p.z, dz); err != nil {
		return nil, err
	}
	// Every gradient below is taken from the gradient pool and put back
	// once the layer below has consumed it; the result stays taken.
	p.bufs.resetGrads()
	d, err := p.out.backward(dz)
	if err != nil {
		return nil, err
	}
	for i := len(p.hidden) - 1; i >= 0; i-- {
		l := &p.hidden[i]
		// d is a pool buffer of this pass, so ReLU backward in place is safe.
		if err := p.b.ReLUBackward(l.act, d, d); err != nil {
			return nil, fmt.Errorf("%s relu backward: %w", l.lin.name, err)
		}
		if l.bn != nil {
			dn, err := l.bn.backward(d, false) // no ReLU of its own: not in place
			p.bufs.put(d)
			if err != nil {
				return nil, err
			}
			d = dn
		}
		dl, err := l.lin.backward(d)
		p.bufs.put(d)
		if err != nil {
			return nil, err
		}
		d = dl
	}
	return d, nil
}

// Params returns the head's parameters in nn.Sequential order.
func (p *Projector) Params() []*Param {
	var ps []*Param
	for _, l := range p.hidden {
		ps = append(ps, l.lin.params()...)
		if l.bn != nil {
			ps = append(ps, l.bn.params()...)
		}
	}
	return append(ps, p.out.params()...)
}

// StateDict returns the head's state in nn.Sequential state_dict order.
func (p *Projector) StateDict() []StateEntry {
	var s []StateEntry
	for _, l := range p.hidden {
		s = append(s, l.lin.stateDict()...)
		if l.bn != nil {
			s = append(s, l.bn.stateDict()...)
		}
	}
	return append(s, p.out.stateDict()...)
}

// ReleaseBuffers frees every cached activation and gradient buffer.
func (p *Projector) ReleaseBuffers() {
	p.bufs.release()
	p.ready, p.z = false, nil
	for i := range p.hidden {
		p.hidden[i].act = nil
	}
}
