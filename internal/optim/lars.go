package optim

import (
	"fmt"
	"math"

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
// ||g||² + 2wd<g,p> + wd²||p||², and the update is one backend MomentumStep
// with TrustRatio q.
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

// trustRatio computes q for one parameter from three reductions.
func (l *LARS) trustRatio(p *model.Param) (float32, error) {
	gg, err := l.b.SumSquares(p.Grad)
	if err != nil {
		return 0, fmt.Errorf("optim lars: gradient norm of %s: %w", p.Name, err)
	}
	if err := finite("lars", "gradient", p.Name, gg); err != nil {
		return 0, err
	}
	if !l.adapted(p) {
		return 1, nil
	}
	pp, err := l.b.SumSquares(p.Value)
	if err != nil {
		return 0, fmt.Errorf("optim lars: norm of %s: %w", p.Name, err)
	}
	if err := finite("lars", "value", p.Name, pp); err != nil {
		return 0, err
	}
	wd := float64(l.o.WeightDecay)
	var gp float64
	if wd != 0 {
		if gp, err = l.b.Dot(p.Grad, p.Value); err != nil {
			return 0, fmt.Errorf("optim lars: <grad, value> of %s: %w", p.Name, err)
		}
	}
	dd := gg + 2*wd*gp + wd*wd*pp
	if err := finite("lars", "decayed gradient", p.Name, dd); err != nil {
		return 0, err
	}
	if dd <= 0 || pp <= 0 {
		return 1, nil
	}
	q := float64(l.o.TrustCoef) * math.Sqrt(pp) / math.Sqrt(dd)
	q32 := float32(q)
	if !(q32 > 0) || math.IsInf(float64(q32), 0) {
		return 0, fmt.Errorf("optim lars: trust ratio of %s is %v (||p||²=%g, ||g+wd*p||²=%g), outside float32 range; the parameter or gradient has degenerate scale: %w", p.Name, q, pp, dd, ErrNonFinite)
	}
	return q32, nil
}

// Step applies one LARS update with learning rate lr. All trust ratios are
// computed (and checked for NaN/Inf) before any parameter changes.
func (l *LARS) Step(lr float32) error {
	if err := l.ready(); err != nil {
		return err
	}
	if err := checkLR("lars", lr); err != nil {
		return err
	}
	qs, err := l.TrustRatios()
	if err != nil {
		return err
	}
	for i, p := range l.params {
		wd := float32(0)
		if l.adapted(p) {
			wd = l.o.WeightDecay
		}
		err := l.b.MomentumStep(p.Value, p.Grad, l.slots[0].t[i], backend.MomentumOpts{
			LR:          lr,
			Momentum:    l.o.Momentum,
			WeightDecay: wd,
			TrustRatio:  qs[i],
			FirstStep:   l.steps == 0,
		})
		if err != nil {
			return fmt.Errorf("optim lars: update %s: %w", p.Name, err)
		}
	}
	l.steps++
	return nil
}
