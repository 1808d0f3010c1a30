package backend

import (
	"fmt"
	"math"
)

// StatusWords is the length of a status record (DeferredCheck), in
// 32-bit words.
const StatusWords = 10

// DeferredCheck makes a multi-tensor optimizer op (LARSStep,
// MomentumStepMulti, AdamWStepMulti) check its norms without waiting for
// the device: instead of returning a *NonFiniteError it records the first
// failure in a sticky status record, words At..At+StatusWords-1 of Status
// (a float32 tensor of the op's backend whose words hold integer and
// float64 bits; DecodeStatus reads them), and returns nil. The record keeps
// the first failure (Step, the tensor, what and the value) until the
// tensor is cleared to zeros; while it holds one, the op changes nothing,
// so the parameters stay as they were before the failing step. The caller
// reads the record back when it next reads anything (a training loop: with
// the losses, once per logging interval) and stops there.
//
// MomentumStepMulti and AdamWStepMulti with a DeferredCheck also check
// every gradient's sum of squares first (SumSquaresMulti's values; code 1,
// "gradient"), which the synchronous calls leave to the caller; LARSStep
// records the failure it would return. MomentumStep and AdamWStep take
// none.
type DeferredCheck struct {
	Status *Tensor
	At     int
	Step   int // >= 1: recorded with a failure (the caller's step count)
}

// Validate checks the record's place and step; op names the caller's op.
func (d *DeferredCheck) Validate(op string) error {
	if d == nil {
		return nil
	}
	if d.Status == nil {
		return fmt.Errorf("%s: deferred check without a status tensor; allocate one of at least %d elements", op, StatusWords)
	}
	if n := d.Status.Numel(); d.At < 0 || d.At+StatusWords > n {
		return fmt.Errorf("%s: status record at %d..%d outside the status tensor %v (%d elements)", op, d.At, d.At+StatusWords-1, d.Status.Shape, n)
	}
	if d.Step < 1 {
		return fmt.Errorf("%s: deferred check step %d must count from 1", op, d.Step)
	}
	return nil
}

// StepFailure is a status record that holds a failure: the step the
// check failed at and what failed (Index, What and Value as
// NonFiniteError's).
type StepFailure struct {
	Step int
	NonFiniteError
}

// StatusSet reports whether the record w (StatusWords words) holds a
// failure.
func StatusSet(w []float32) bool { return math.Float32bits(w[0]) != 0 }

// EncodeStatus records e at step in w (StatusWords words) unless w
// already holds a failure: the layout kernels/optim.cu status_record
// writes.
func EncodeStatus(w []float32, step int, e *NonFiniteError) {
	if StatusSet(w) {
		return
	}
	code := 0
	for c, what := range nonFiniteWhat {
		if what != "" && what == e.What {
			code = c
		}
	}
	i32 := func(v int) float32 { return math.Float32frombits(uint32(int32(v))) }
	f64 := func(at int, v float64) {
		u := math.Float64bits(v)
		w[at], w[at+1] = math.Float32frombits(uint32(u)), math.Float32frombits(uint32(u>>32))
	}
	w[1], w[2], w[3] = i32(step), i32(e.Index), i32(code)
	f64(4, e.Value)
	f64(6, e.PP)
	f64(8, e.DD)
	w[0] = i32(1)
}

// DecodeStatus reads a status record (StatusWords words): nil when it is
// clear, an error when it is not a record EncodeStatus or the kernels
// write.
func DecodeStatus(w []float32) (*StepFailure, error) {
	if len(w) != StatusWords {
		return nil, fmt.Errorf("status record of %d words, want %d", len(w), StatusWords)
	}
	i32 := func(at int) int { return int(int32(math.Float32bits(w[at]))) }
	f64 := func(at int) float64 {
		return math.Float64frombits(uint64(math.Float32bits(w[at])) | uint64(math.Float32bits(w[at+1]))<<32)
	}
	switch i32(0) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, fmt.Errorf("status record flag %d is neither 0 nor 1; the status tensor was overwritten", i32(0))
	}
	e := NonFiniteFromCode(i32(2), i32(3), f64(4), f64(6), f64(8))
	if e == nil || i32(1) < 1 || i32(2) < 0 {
		return nil, fmt.Errorf("status record (step %d, tensor %d, code %d) is not a known failure; the status tensor was overwritten", i32(1), i32(2), i32(3))
	}
	return &StepFailure{Step: i32(1), NonFiniteError: *e}, nil
}
