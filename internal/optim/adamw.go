package optim

import (
	"fmt"
	"math"

	"simclr/internal/backend"
	"simclr/internal/model"
)

// AdamWOptions configures AdamW.
type AdamWOptions struct {
	// Beta1 and Beta2 are the moment decay rates, each in [0, 1).
	Beta1, Beta2 float32
	// Eps (> 0) is added to the root of the second moment.
	Eps float32
	// WeightDecay is the decoupled decay (p -= lr*wd*p), >= 0.
	WeightDecay float32
	// ExcludeBiasBN gives parameters marked NoDecay no weight decay.
	ExcludeBiasBN bool
}

// AdamW is torch.optim.AdamW (decoupled weight decay, bias-corrected
// moments, no amsgrad).
type AdamW struct {
	*base
	o AdamWOptions
}

var _ Optimizer = (*AdamW)(nil)

// NewAdamW returns an AdamW optimizer over params. Its state is "exp_avg"
// and "exp_avg_sq" per parameter (PyTorch's names).
func NewAdamW(b backend.Backend, params []*model.Param, o AdamWOptions) (*AdamW, error) {
	if err := checkUnit("adamw", "beta1", o.Beta1); err != nil {
		return nil, err
	}
	if err := checkUnit("adamw", "beta2", o.Beta2); err != nil {
		return nil, err
	}
	if math.IsNaN(float64(o.Eps)) || math.IsInf(float64(o.Eps), 0) || o.Eps <= 0 {
		return nil, fmt.Errorf("optim adamw: eps %v must be finite and > 0 (PyTorch's default is 1e-8)", o.Eps)
	}
	if err := checkNonNeg("adamw", "weight decay", o.WeightDecay); err != nil {
		return nil, err
	}
	bs, err := newBase(b, params, "adamw", "exp_avg", "exp_avg_sq")
	if err != nil {
		return nil, err
	}
	return &AdamW{base: bs, o: o}, nil
}

// Step applies one AdamW update with learning rate lr.
func (a *AdamW) Step(lr float32) error { return a.step(lr, nil) }

// StepDeferred is Step with the gradient check on the device (see
// Optimizer).
func (a *AdamW) StepDeferred(lr float32, d backend.DeferredCheck) error { return a.step(lr, &d) }

// FailureError names the parameter of a failure StepDeferred recorded.
func (a *AdamW) FailureError(f *backend.StepFailure) error { return a.failureError(f) }

func (a *AdamW) step(lr float32, d *backend.DeferredCheck) error {
	if err := a.ready(); err != nil {
		return err
	}
	if err := checkLR("adamw", lr); err != nil {
		return err
	}
	if d == nil {
		if _, err := a.checkGradNorms(); err != nil {
			return err
		}
	}
	n := len(a.params)
	ps, gs, decayed := make([]*backend.Tensor, n), make([]*backend.Tensor, n), make([]bool, n)
	for i, p := range a.params {
		ps[i], gs[i] = p.Value, p.Grad
		decayed[i] = decay(p, a.o.WeightDecay, a.o.ExcludeBiasBN) != 0
	}
	err := a.b.AdamWStepMulti(ps, gs, a.slots[0].t, a.slots[1].t, decayed, backend.AdamWOpts{
		LR:          lr,
		Beta1:       a.o.Beta1,
		Beta2:       a.o.Beta2,
		Eps:         a.o.Eps,
		WeightDecay: a.o.WeightDecay,
		Step:        a.steps + 1,
		Deferred:    d,
	})
	if err != nil {
		return fmt.Errorf("optim adamw: update: %w", err)
	}
	a.steps++
	return nil
}
