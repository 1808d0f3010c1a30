package optim

import (
	"fmt"

	"simclr/internal/backend"
	"simclr/internal/model"
)

// SGDOptions configures SGD.
type SGDOptions struct {
	// Momentum is in [0, 1); 0 is plain SGD.
	Momentum float32
	// WeightDecay (L2, added to the gradient as in PyTorch) is >= 0.
	WeightDecay float32
	// Nesterov uses Nesterov momentum; it needs Momentum > 0.
	Nesterov bool
	// ExcludeBiasBN gives parameters marked NoDecay (biases, batch-norm
	// scales and shifts) no weight decay.
	ExcludeBiasBN bool
}

// SGD is torch.optim.SGD: g' = g + wd*p; buf = m*buf + g' (buf = g' on the
// first step); d = nesterov ? g' + m*buf : buf; p -= lr*d.
type SGD struct {
	*base
	o SGDOptions
}

var _ Optimizer = (*SGD)(nil)

// NewSGD returns an SGD optimizer over params. Its state is one
// "momentum_buffer" per parameter.
func NewSGD(b backend.Backend, params []*model.Param, o SGDOptions) (*SGD, error) {
	if err := checkUnit("sgd", "momentum", o.Momentum); err != nil {
		return nil, err
	}
	if err := checkNonNeg("sgd", "weight decay", o.WeightDecay); err != nil {
		return nil, err
	}
	if o.Nesterov && o.Momentum == 0 {
		return nil, fmt.Errorf("optim sgd: nesterov needs momentum > 0; set a momentum or turn nesterov off")
	}
	bs, err := newBase(b, params, "sgd", "momentum_buffer")
	if err != nil {
		return nil, err
	}
	return &SGD{base: bs, o: o}, nil
}

// Step applies one SGD update with learning rate lr.
func (s *SGD) Step(lr float32) error { return s.step(lr, nil) }

// StepDeferred is Step with the gradient check on the device (see
// Optimizer).
func (s *SGD) StepDeferred(lr float32, d backend.DeferredCheck) error { return s.step(lr, &d) }

// FailureError names the parameter of a failure StepDeferred recorded.
func (s *SGD) FailureError(f *backend.StepFailure) error { return s.failureError(f) }

func (s *SGD) step(lr float32, d *backend.DeferredCheck) error {
	if err := s.ready(); err != nil {
		return err
	}
	if err := checkLR("sgd", lr); err != nil {
		return err
	}
	if d == nil {
		if _, err := s.checkGradNorms(); err != nil {
			return err
		}
	}
	n := len(s.params)
	ps, gs, decayed := make([]*backend.Tensor, n), make([]*backend.Tensor, n), make([]bool, n)
	for i, p := range s.params {
		ps[i], gs[i] = p.Value, p.Grad
		decayed[i] = decay(p, s.o.WeightDecay, s.o.ExcludeBiasBN) != 0
	}
	err := s.b.MomentumStepMulti(ps, gs, s.slots[0].t, decayed, backend.MomentumOpts{
		LR:          lr,
		Momentum:    s.o.Momentum,
		WeightDecay: s.o.WeightDecay,
		TrustRatio:  1,
		Nesterov:    s.o.Nesterov,
		FirstStep:   s.steps == 0,
		Deferred:    d,
	})
	if err != nil {
		return fmt.Errorf("optim sgd: update: %w", err)
	}
	s.steps++
	return nil
}
