package optim

import (
	"errors"
	"fmt"

	"simclr/internal/backend"
	"simclr/internal/model"
)

// LARSOptions configures LARS.
type LARSOptions struct {
	// Momentum is in [0, 1).
	Momentum float32
	// WeightDecay is >= 0.
	WeightDecay float32
	// TrustCoef is the LARS coefficient eta (> 0), 0.001 in SimCLR.
	TrustCoef float32
	// ExcludeBiasBN gives parameters marked NoDecay neither weight decay
	// nor trust-ratio adaptation, as SimCLR and Barlow Twins do.
	ExcludeBiasBN bool
}

// LARS is layer-wise adaptive rate scaling as SimCLR and Barlow Twins use it.
// For every parameter p with gradient g:
//
//	dp = g + wd*p
//	q  = eta*||p||/||dp||   (q = 1 when either norm is 0)
//	mu = m*mu + q*dp
//	p -= lr*mu
//
// ||dp|| is computed without an extra pass over memory from
// ||g||² + 2wd<g,p> + wd²||p||² (backend.LARSTrust), and a step is one
// Backend.LARSStep over every parameter: on the cuda backend three
// multi-tensor launches and one status read instead of two or three host
// round trips per parameter, with the same results as the per-parameter
// MomentumStep path.
type LARS struct {
	*base
	o LARSOptions
}

var _ Optimizer = (*LARS)(nil)

// NewLARS returns a LARS optimizer over params. Its state is one
// "momentum_buffer" per parameter.
func NewLARS(b backend.Backend, params []*model.Param, o LARSOptions) (*LARS, error) {
	if err := checkUnit("lars", "momentum", o.Momentum); err != nil {
		return nil, err
	}
	if err := checkNonNeg("lars", "weight decay", o.WeightDecay); err != nil {
		return nil, err
	}
	if err := checkNonNeg("lars", "trust coefficient", o.TrustCoef); err != nil || o.TrustCoef == 0 {
		return nil, fmt.Errorf("optim lars: trust coefficient %v must be finite and > 0 (SimCLR uses 0.001)", o.TrustCoef)
	}
	bs, err := newBase(b, params, "lars", "momentum_buffer")
	if err != nil {
		return nil, err
	}
	return &LARS{base: bs, o: o}, nil
}

// adapted reports whether p gets weight decay and trust-ratio adaptation.
func (l *LARS) adapted(p *model.Param) bool { return !(l.o.ExcludeBiasBN && p.NoDecay) }

// TrustRatios returns the trust ratio q that the next Step would apply to
// each parameter (1 for excluded ones), for logging and tests.
func (l *LARS) TrustRatios() ([]float32, error) {
	out := make([]float32, len(l.params))
	for i, p := range l.params {
		q, err := l.trustRatio(p)
		if err != nil {
			return nil, err
		}
		out[i] = q
	}
	return out, nil
}

// trustRatio computes q for one parameter from three reductions (the
// per-parameter path, kept for TrustRatios; Step uses Backend.LARSStep).
func (l *LARS) trustRatio(p *model.Param) (float32, error) {
	gg, err := l.b.SumSquares(p.Grad)
	if err != nil {
		return 0, fmt.Errorf("optim lars: gradient norm of %s: %w", p.Name, err)
	}
	var pp, gp float64
	if l.adapted(p) {
		if pp, err = l.b.SumSquares(p.Value); err != nil {
			return 0, fmt.Errorf("optim lars: norm of %s: %w", p.Name, err)
		}
		if l.o.WeightDecay != 0 {
			if gp, err = l.b.Dot(p.Grad, p.Value); err != nil {
				return 0, fmt.Errorf("optim lars: <grad, value> of %s: %w", p.Name, err)
			}
		}
	}
	q, nf := backend.LARSTrust(gg, pp, gp, l.adapted(p), l.o.WeightDecay, l.o.TrustCoef)
	if nf != nil {
		return 0, l.nonFinite(p, nf)
	}
	return q, nil
}

// nonFinite turns a backend's report about parameter p into the optimizer's
// error, which wraps ErrNonFinite.
func (l *LARS) nonFinite(p *model.Param, nf *backend.NonFiniteError) error {
	if nf.What == "trust ratio" {
		return fmt.Errorf("optim lars: trust ratio of %s is %v (||p||²=%g, ||g+wd*p||²=%g), outside float32 range; the parameter or gradient has degenerate scale: %w", p.Name, nf.Value, nf.PP, nf.DD, ErrNonFinite)
	}
	return finite("lars", nf.What, p.Name, nf.Value)
}

// Step applies one LARS update with learning rate lr. All trust ratios are
// computed (and checked for NaN/Inf) before any parameter changes.
func (l *LARS) Step(lr float32) error { return l.step(lr, nil) }

// StepDeferred is Step with the check's result left in d's status record
// (see Optimizer): on the cuda backend three launches and no host read.
func (l *LARS) StepDeferred(lr float32, d backend.DeferredCheck) error { return l.step(lr, &d) }

// FailureError names the parameter of a failure StepDeferred recorded.
func (l *LARS) FailureError(f *backend.StepFailure) error {
	if f == nil {
		return nil
	}
	if f.Index < 0 || f.Index >= len(l.params) {
		return l.failureError(f)
	}
	nf := f.NonFiniteError
	return l.nonFinite(l.params[f.Index], &nf)
}

func (l *LARS) step(lr float32, d *backend.DeferredCheck) error {
	if err := l.ready(); err != nil {
		return err
	}
	if err := checkLR("lars", lr); err != nil {
		return err
	}
	n := len(l.params)
	ps, gs, adapt := make([]*backend.Tensor, n), make([]*backend.Tensor, n), make([]bool, n)
	for i, p := range l.params {
		ps[i], gs[i], adapt[i] = p.Value, p.Grad, l.adapted(p)
	}
	err := l.b.LARSStep(ps, gs, l.slots[0].t, adapt, backend.LARSOpts{
		LR:          lr,
		Momentum:    l.o.Momentum,
		WeightDecay: l.o.WeightDecay,
		TrustCoef:   l.o.TrustCoef,
		FirstStep:   l.steps == 0,
		Deferred:    d,
	})
	if nf := (*backend.NonFiniteError)(nil); errors.As(err, &nf) && nf.Index >= 0 && nf.Index < n {
		return l.nonFinite(l.params[nf.Index], nf)
	}
	if err != nil {
		return fmt.Errorf("optim lars: update: %w", err)
	}
	l.steps++
	return nil
}
