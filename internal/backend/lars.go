package backend

import (
	"fmt"
	"math"
)

// NonFiniteError is LARSStep's error for a NaN or Inf norm or a trust
// ratio outside float32's range: Index is the tensor (the first such one in
// argument order), What the quantity ("gradient", "value", "decayed
// gradient" or "trust ratio"), Value its value; for a trust ratio PP and DD
// are ||p||² and ||g+wd*p||².
type NonFiniteError struct {
	Index  int
	What   string
	Value  float64
	PP, DD float64
}

func (e *NonFiniteError) Error() string {
	if e.What == "trust ratio" {
		return fmt.Sprintf("%s: trust ratio of tensor %d is %v (||p||²=%g, ||g+wd*p||²=%g), outside float32 range", OpLARSStep, e.Index, e.Value, e.PP, e.DD)
	}
	return fmt.Sprintf("%s: %s of tensor %d has a NaN or Inf norm (%v)", OpLARSStep, e.What, e.Index, e.Value)
}

// The codes the cuda kernel lars_trust reports, in NonFiniteError.What
// order; 0 is no error.
var nonFiniteWhat = [...]string{1: "gradient", 2: "value", 3: "decayed gradient", 4: "trust ratio"}

// NonFiniteFromCode builds the error for a kernel's status code (1..4);
// nil for code 0 or an unknown code.
func NonFiniteFromCode(index, code int, value, pp, dd float64) *NonFiniteError {
	if code <= 0 || code >= len(nonFiniteWhat) {
		return nil
	}
	return &NonFiniteError{Index: index, What: nonFiniteWhat[code], Value: value, PP: pp, DD: dd}
}

func isFinite64(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// LARSTrust is the trust ratio of one tensor from gg = ||g||², pp = ||p||²
// and gp = <g,p> (each a float64 sum), the one formula every backend uses
// (kernels/optim.cu lars_trust repeats it operation for operation):
//
//	adapted == false:        q = 1 (only gg is checked)
//	dd = gg + 2*wd*gp + wd*wd*pp   (gp ignored when wd == 0)
//	dd <= 0 || pp <= 0:      q = 1
//	else                     q = float32(eta*sqrt(pp)/sqrt(dd))
//
// The returned error has Index 0; the caller sets it.
func LARSTrust(gg, pp, gp float64, adapted bool, wd32, eta32 float32) (float32, *NonFiniteError) {
	if !isFinite64(gg) {
		return 0, &NonFiniteError{What: "gradient", Value: gg}
	}
	if !adapted {
		return 1, nil
	}
	if !isFinite64(pp) {
		return 0, &NonFiniteError{What: "value", Value: pp}
	}
	wd := float64(wd32)
	if wd == 0 {
		gp = 0
	}
	dd := gg + 2*wd*gp + wd*wd*pp
	if !isFinite64(dd) {
		return 0, &NonFiniteError{What: "decayed gradient", Value: dd}
	}
	if dd <= 0 || pp <= 0 {
		return 1, nil
	}
	q := float64(eta32) * math.Sqrt(pp) / math.Sqrt(dd)
	q32 := float32(q)
	if !(q32 > 0) || math.IsInf(float64(q32), 0) {
		return 0, &NonFiniteError{What: "trust ratio", Value: q, PP: pp, DD: dd}
	}
	return q32, nil
}
