package model

import (
	"fmt"
	"math"

	"simclr/internal/backend"
	"simclr/internal/safetensors"
	"simclr/internal/tensor"
)

// SimCLR is the encoder f and the projection head g trained together.
type SimCLR struct {
	Encoder   *ResNet
	Projector *Projector

	b         backend.Backend
	bufs      *bufCache
	lossFused string // loss.fused: LossFusedAuto, LossFusedOn or LossFusedOff
}

// NewSimCLR builds the encoder and head of cfg from one seed (they draw from
// different PCG streams).
func NewSimCLR(b backend.Backend, cfg Config, seed int64) (*SimCLR, error) {
	if b == nil {
		return nil, fmt.Errorf("new simclr model: backend is nil")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new simclr model: %w", err)
	}
	enc, err := NewResNet(b, cfg, seed)
	if err != nil {
		return nil, err
	}
	head, err := NewProjector(b, enc.FeatureDim(), cfg, seed)
	if err != nil {
		return nil, err
	}
	return &SimCLR{Encoder: enc, Projector: head, b: b, bufs: newBufCache(b), lossFused: LossFusedAuto}, nil
}

// Step runs one training forward and backward pass. x holds both augmented
// views stacked, [2N,C,H,W]: view 1 in rows 0..N-1, view 2 in rows N..2N-1,
// so row i's positive is row i+N. It runs the encoder and head in train mode,
// L2-normalises the projections, takes their cosine similarities and the
// NT-Xent loss at temperature tau (fused or materialised: SetLossFused),
// then back-propagates: on return every
// Params() gradient holds dLoss/dparam (overwritten, not accumulated).
func (m *SimCLR) Step(x *tensor.Tensor, tau float32) (float32, error) {
	return m.step(x, tau, nil)
}

// StepInto is Step that leaves the loss on the device, in out, instead of
// reading it back (no host wait for it): a training loop reads the losses
// of several steps at once. A non-finite loss is not an error here (see
// LossSlot).
func (m *SimCLR) StepInto(x *tensor.Tensor, tau float32, out LossSlot) error {
	_, err := m.step(x, tau, &out)
	return err
}

func (m *SimCLR) step(x *tensor.Tensor, tau float32, out *LossSlot) (float32, error) {
	if x == nil {
		return 0, fmt.Errorf("simclr step: input is nil")
	}
	if len(x.Shape) != 4 || x.Shape[0] < 4 || x.Shape[0]%2 != 0 {
		return 0, fmt.Errorf("simclr step: input shape %v, want [2N C H W] with both views stacked and N >= 2", x.Shape)
	}
	if !(tau > 0) || math.IsInf(float64(tau), 0) {
		return 0, fmt.Errorf("simclr step: temperature %v must be a finite number > 0 (SimCLR uses 0.1-0.5)", tau)
	}
	h, err := m.Encoder.Forward(x, true)
	if err != nil {
		return 0, fmt.Errorf("simclr step: %w", err)
	}
	z, err := m.Projector.Forward(h, true)
	if err != nil {
		return 0, fmt.Errorf("simclr step: %w", err)
	}
	dz, err := m.bufs.get("dz", z.Shape[0], z.Shape[1])
	if err != nil {
		return 0, err
	}
	loss, err := m.ntxent(z, dz, tau, out)
	if err != nil {
		return loss, fmt.Errorf("simclr step: %w", err)
	}
	dh, err := m.Projector.Backward(dz)
	if err != nil {
		return 0, fmt.Errorf("simclr step: %w", err)
	}
	if err := m.Encoder.Backward(dh); err != nil {
		return 0, fmt.Errorf("simclr step: %w", err)
	}
	return loss, nil
}

// Params returns the encoder's parameters, then the head's.
func (m *SimCLR) Params() []*Param {
	return append(m.Encoder.Params(), m.Projector.Params()...)
}

// StateDict returns the encoder's state (torchvision names), then the head's
// ("projector." names).
func (m *SimCLR) StateDict() []StateEntry {
	return append(m.Encoder.StateDict(), m.Projector.StateDict()...)
}

// LoadStateDict loads encoder and head from f (names prefixed by prefix),
// strictly: see ResNet.LoadStateDict.
func (m *SimCLR) LoadStateDict(f *safetensors.File, prefix string) error {
	return loadStateDict(m.b, m.StateDict(), f, prefix)
}

// ReleaseBuffers frees every cached activation and gradient buffer of the
// encoder, the head and the loss.
func (m *SimCLR) ReleaseBuffers() {
	m.Encoder.ReleaseBuffers()
	m.Projector.ReleaseBuffers()
	m.bufs.release()
}
