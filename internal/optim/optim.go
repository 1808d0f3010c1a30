// Package optim holds the optimizers (SGD, LARS, AdamW) and learning-rate
// schedules used for pretraining and linear evaluation.
//
// Every optimizer updates model.Params in place through backend.Backend, so
// the same code runs on any backend. A Step first measures every gradient
// (and, for LARS, every parameter norm); when one of them is NaN or Inf it
// returns an error naming the parameter and changes nothing. Only then are
// the parameters updated. StepDeferred does the same checks without
// waiting for the device: a failure goes into a sticky status record on
// the device, which the training loop reads with its losses.
//
// Optimizer state (momentum buffers, Adam moments) is exposed by State under
// PyTorch-like names such as "optim.layer1.0.conv1.weight.momentum_buffer"
// and restored with LoadState, so checkpoints resume bit-exactly.
package optim

import (
	"errors"
	"fmt"
	"math"

	"simclr/internal/backend"
	"simclr/internal/model"
	"simclr/internal/tensor"
)

// Optimizer updates a fixed set of parameters from their gradients.
type Optimizer interface {
	// Step applies one update of every parameter from its Grad with
	// learning rate lr.
	Step(lr float32) error
	// StepDeferred is Step without a host wait: the gradients (and, for
	// LARS, the trust ratios) are checked on the device, a failure is
	// recorded in d's status record with d.Step (backend.DeferredCheck)
	// and every update is skipped from then on, so the parameters stay as
	// they were before the failing step. The caller reads the record back
	// (with its losses) and turns a failure into Step's error with
	// FailureError.
	StepDeferred(lr float32, d backend.DeferredCheck) error
	// FailureError is the error Step would have returned for the failure
	// f that StepDeferred recorded (naming the parameter; it wraps
	// ErrNonFinite), nil for nil.
	FailureError(f *backend.StepFailure) error
	// State returns the optimizer's state tensors (owned by the optimizer's
	// backend) for checkpoints; Steps gives the matching step count.
	State() []NamedTensor
	// LoadState restores the state saved from State: get returns the host
	// values stored under a name. It returns an error naming any missing or
	// mis-sized entry and then leaves the current state unchanged.
	LoadState(get func(name string) ([]float32, bool), steps int) error
	// Steps is the number of updates applied so far.
	Steps() int
}

// NamedTensor is one named optimizer state tensor.
type NamedTensor struct {
	Name string
	T    *tensor.Tensor
}

// StatePrefix starts the name of every optimizer state entry.
const StatePrefix = "optim."

// slot is one per-parameter state tensor (a momentum buffer or a moment).
type slot struct {
	suffix string // e.g. "momentum_buffer"
	t      []*tensor.Tensor
}

// base holds what every optimizer shares: the backend, the parameters, their
// state tensors and the step count.
type base struct {
	b      backend.Backend
	params []*model.Param
	slots  []slot
	steps  int
	kind   string // "sgd", "lars", "adamw" for error messages
}

// newBase checks the parameters and allocates one zeroed state tensor per
// parameter for each suffix.
func newBase(b backend.Backend, params []*model.Param, kind string, suffixes ...string) (*base, error) {
	if b == nil {
		return nil, fmt.Errorf("optim %s: backend is nil", kind)
	}
	if len(params) == 0 {
		return nil, fmt.Errorf("optim %s: no parameters to optimise", kind)
	}
	seen := make(map[string]int, len(params))
	for i, p := range params {
		if p == nil {
			return nil, fmt.Errorf("optim %s: parameter %d is nil", kind, i)
		}
		if p.Name == "" {
			return nil, fmt.Errorf("optim %s: parameter %d has no name (state entries are keyed by name)", kind, i)
		}
		if j, dup := seen[p.Name]; dup {
			return nil, fmt.Errorf("optim %s: parameter name %q is used twice (indices %d and %d); names must be unique", kind, p.Name, j, i)
		}
		seen[p.Name] = i
		if p.Value == nil || p.Grad == nil {
			return nil, fmt.Errorf("optim %s: parameter %q has a nil Value or Grad tensor", kind, p.Name)
		}
		if err := tensor.CheckShape("optim "+kind, "grad vs value of "+p.Name, p.Grad.Shape, p.Value.Shape); err != nil {
			return nil, err
		}
	}
	o := &base{b: b, params: params, kind: kind}
	for _, s := range suffixes {
		sl := slot{suffix: s, t: make([]*tensor.Tensor, len(params))}
		for i, p := range params {
			t, err := b.New(p.Value.Shape...)
			if err != nil {
				o.free()
				return nil, fmt.Errorf("optim %s: allocate %s of %s: %w", kind, s, p.Name, err)
			}
			sl.t[i] = t
		}
		o.slots = append(o.slots, sl)
	}
	return o, nil
}

// free releases the state tensors allocated so far.
func (o *base) free() {
	for _, sl := range o.slots {
		for _, t := range sl.t {
			if t != nil {
				o.b.Free(t)
			}
		}
	}
}

// Release frees the optimizer's state tensors on its backend; the optimizer
// must not be used afterwards.
func (o *base) Release() {
	o.free()
	o.slots = nil
}

// Steps is the number of updates applied so far.
func (o *base) Steps() int { return o.steps }

// State returns every state tensor, named StatePrefix+param+"."+suffix, in
// parameter order.
func (o *base) State() []NamedTensor {
	out := make([]NamedTensor, 0, len(o.params)*len(o.slots))
	for i, p := range o.params {
		for _, sl := range o.slots {
			out = append(out, NamedTensor{Name: StatePrefix + p.Name + "." + sl.suffix, T: sl.t[i]})
		}
	}
	return out
}

// LoadState checks every entry first (present, right size, finite) and only
// then uploads, so a bad checkpoint leaves the optimizer as it was.
func (o *base) LoadState(get func(name string) ([]float32, bool), steps int) error {
	if err := o.ready(); err != nil {
		return err
	}
	if get == nil {
		return fmt.Errorf("optim %s: load state: nil lookup function", o.kind)
	}
	if steps < 0 {
		return fmt.Errorf("optim %s: load state: step count %d is negative; use the count saved with the checkpoint", o.kind, steps)
	}
	type upload struct {
		dst *tensor.Tensor
		src []float32
	}
	var ups []upload
	for _, nt := range o.State() {
		vals, ok := get(nt.Name)
		if !ok {
			return fmt.Errorf("optim %s: load state: entry %q is missing; the checkpoint was saved with a different optimizer or model", o.kind, nt.Name)
		}
		if len(vals) != nt.T.Numel() {
			return fmt.Errorf("optim %s: load state: entry %q has %d values, want %d (shape %v); the checkpoint does not match this model", o.kind, nt.Name, len(vals), nt.T.Numel(), nt.T.Shape)
		}
		for j, v := range vals {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("optim %s: load state: entry %q holds a non-finite value %v at index %d; the checkpoint is corrupt", o.kind, nt.Name, v, j)
			}
		}
		ups = append(ups, upload{nt.T, vals})
	}
	for _, u := range ups {
		if err := o.b.Upload(u.dst, u.src); err != nil {
			return fmt.Errorf("optim %s: load state: %w", o.kind, err)
		}
	}
	o.steps = steps
	return nil
}

// decay returns the weight decay of parameter p.
func decay(p *model.Param, wd float32, excludeBiasBN bool) float32 {
	if excludeBiasBN && p.NoDecay {
		return 0
	}
	return wd
}

// ready returns an error once Release has been called.
func (o *base) ready() error {
	if o.slots == nil {
		return fmt.Errorf("optim %s: the optimizer was released; create a new one", o.kind)
	}
	return nil
}

// checkLR rejects learning rates that cannot be meant.
func checkLR(kind string, lr float32) error {
	if math.IsNaN(float64(lr)) || math.IsInf(float64(lr), 0) || lr < 0 {
		return fmt.Errorf("optim %s: learning rate %v must be finite and >= 0", kind, lr)
	}
	return nil
}

// checkGradNorms measures every gradient before anything is updated (one
// Backend.SumSquaresMulti: on the cuda backend one host read for all) and
// returns the squared norms; a NaN or Inf names the first such parameter.
func (o *base) checkGradNorms() ([]float64, error) {
	gs := make([]*tensor.Tensor, len(o.params))
	for i, p := range o.params {
		gs[i] = p.Grad
	}
	out, err := o.b.SumSquaresMulti(gs)
	if err != nil {
		return nil, fmt.Errorf("optim %s: gradient norms: %w", o.kind, err)
	}
	for i, p := range o.params {
		if err := finite(o.kind, "gradient", p.Name, out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ErrNonFinite is wrapped by every error about a NaN or Inf norm, so a
// training loop can tell divergence from other failures with errors.Is.
var ErrNonFinite = errors.New("non-finite value")

func finite(kind, what, name string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("optim %s: %s of parameter %s has a NaN or Inf norm (%v) — the loss diverged; lower the learning rate or check the input data: %w", kind, what, name, v, ErrNonFinite)
	}
	return nil
}

// checkUnit checks that x is finite and in [0,1).
func checkUnit(kind, name string, x float32) error {
	if math.IsNaN(float64(x)) || x < 0 || x >= 1 {
		return fmt.Errorf("optim %s: %s %v must be in [0, 1)", kind, name, x)
	}
	return nil
}

// checkNonNeg checks that x is finite and >= 0.
func checkNonNeg(kind, name string, x float32) error {
	if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) || x < 0 {
		return fmt.Errorf("optim %s: %s %v must be finite and >= 0", kind, name, x)
	}
	return nil
}

// failureError is FailureError for the optimizers whose deferred check is
// a gradient check (SGD, AdamW).
func (o *base) failureError(f *backend.StepFailure) error {
	if f == nil {
		return nil
	}
	if f.Index < 0 || f.Index >= len(o.params) {
		return fmt.Errorf("optim %s: step %d: the device check names tensor %d of %d: %w", o.kind, f.Step, f.Index, len(o.params), ErrNonFinite)
	}
	return finite(o.kind, f.What, o.params[f.Index].Name, f.Value)
}
