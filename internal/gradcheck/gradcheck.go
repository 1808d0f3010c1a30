// Package gradcheck compares analytic gradients with central finite
// differences, for any computation on float32 host tensors.
//
// # Pattern
//
// Most ops produce a tensor, not a scalar. Make the loss scalar with a fixed
// random linear functional of the outputs, evaluated in float64:
//
//	r := gradcheck.RandomVector(y.Numel(), seed) // fixed upstream gradient
//	loss := func() float64 {
//		forward(x, w, y)                    // reads the inputs' Host slices
//		return gradcheck.Dot64(r, y.Host)  // L = sum_i r_i * y_i
//	}
//	// Analytic gradients of L: run the backward with dy = r.
//	backward(x, w, dy=r, dx, dw)
//	err := gradcheck.Check(loss, [][]float32{x.Host, w.Host},
//		[][]float32{dx.Host, dw.Host}, 1e-2, 1e-2, 1e-3)
//
// Because dL/dy = r exactly, the backward's input gradient is r itself, and
// the same pattern checks a whole block (conv -> BN -> ReLU -> ...) as
// easily as a single op: forward the block in the loss function, backward
// the block once with dy = r. Check perturbs every element of every input in
// place (restoring it afterwards), so the inputs must be the very slices the
// forward reads (for the CPU backend: tensor.Host). Layers whose forward
// changes state (BN running statistics) are fine as long as the training
// output does not depend on that state.
//
// # Tolerances
//
// The forward runs in float32, so a central difference with step eps has a
// rounding error of about ulp(L)/eps plus a truncation error of O(eps²).
// eps between 1e-3 and 1e-2 with rtol ≈ 1e-2 and atol ≈ 1e-3 (scaled to the
// size of the gradients) is usually sharp enough to catch a wrong sign, a
// missing term or a transposed index. Non-smooth points (ReLU at 0, max-pool
// ties) give spurious mismatches: keep inputs away from them.
package gradcheck

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// Check compares analytic gradients with central differences of a scalar loss.
// f evaluates the loss (float64) from the current inputs; inputs are host slices it perturbs in place;
// grads are the analytic gradients (same lengths). eps and tolerance per call. Returns an error naming
// the input, element index, analytic and numeric values for the worst mismatch.
//
// An element passes when |analytic-numeric| <= atol + rtol*max(|analytic|, |numeric|).
// Every input element is restored to its original value before Check returns.
func Check(f func() float64, inputs [][]float32, grads [][]float32, eps, rtol, atol float64) error {
	return check(f, inputs, grads, eps, rtol, atol, nil)
}

// CheckSampled is Check restricted to at most perInput elements of each
// input, chosen deterministically from seed (all elements when the input is
// no larger than perInput). Use it for inputs too large to check fully.
func CheckSampled(f func() float64, inputs [][]float32, grads [][]float32, eps, rtol, atol float64, perInput int, seed uint64) error {
	if perInput < 1 {
		return fmt.Errorf("gradcheck: perInput %d must be at least 1", perInput)
	}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	pick := make([][]int, len(inputs))
	for k, in := range inputs {
		if len(in) <= perInput {
			continue // nil: every element
		}
		pick[k] = rng.Perm(len(in))[:perInput]
	}
	return check(f, inputs, grads, eps, rtol, atol, pick)
}

// mismatch records the worst element seen so far.
type mismatch struct {
	input, index      int
	analytic, numeric float64
	excess            float64 // |a-n| / (atol + rtol*max(|a|,|n|))
	found             bool
}

func check(f func() float64, inputs, grads [][]float32, eps, rtol, atol float64, pick [][]int) error {
	if f == nil {
		return errors.New("gradcheck: loss function is nil")
	}
	if len(inputs) != len(grads) {
		return fmt.Errorf("gradcheck: %d inputs but %d gradients; pass one gradient slice per input", len(inputs), len(grads))
	}
	if !(eps > 0) || math.IsInf(eps, 0) {
		return fmt.Errorf("gradcheck: eps %g must be a positive finite step (try 1e-3..1e-2)", eps)
	}
	if !(rtol >= 0) || !(atol >= 0) || rtol+atol == 0 {
		return fmt.Errorf("gradcheck: tolerances rtol=%g atol=%g must be >= 0 and not both 0", rtol, atol)
	}
	for k := range inputs {
		if len(inputs[k]) != len(grads[k]) {
			return fmt.Errorf("gradcheck: input %d has %d elements but its gradient has %d", k, len(inputs[k]), len(grads[k]))
		}
	}
	if l := f(); math.IsNaN(l) || math.IsInf(l, 0) {
		return fmt.Errorf("gradcheck: loss at the unperturbed inputs is %g; fix the forward or the inputs", l)
	}
	var worst mismatch
	for k, in := range inputs {
		var elems []int // nil: every element
		if k < len(pick) {
			elems = pick[k]
		}
		n := len(in)
		if elems != nil {
			n = len(elems)
		}
		for e := 0; e < n; e++ {
			i := e
			if elems != nil {
				i = elems[e]
			}
			num, err := centralDiff(f, in, i, eps)
			if err != nil {
				return fmt.Errorf("gradcheck: input %d element %d: %w", k, i, err)
			}
			a := float64(grads[k][i])
			if math.IsNaN(a) || math.IsInf(a, 0) {
				return fmt.Errorf("gradcheck: input %d element %d: analytic gradient is %g", k, i, a)
			}
			diff := math.Abs(a - num)
			excess := diff / (atol + rtol*math.Max(math.Abs(a), math.Abs(num)))
			if !worst.found || excess > worst.excess {
				worst = mismatch{input: k, index: i, analytic: a, numeric: num, excess: excess, found: true}
			}
		}
	}
	if worst.found && worst.excess > 1 {
		return fmt.Errorf("gradcheck: input %d element %d: analytic %.6g vs numeric %.6g (diff %.3g > atol %g + rtol %g * |grad|)",
			worst.input, worst.index, worst.analytic, worst.numeric, math.Abs(worst.analytic-worst.numeric), atol, rtol)
	}
	return nil
}

// centralDiff returns (f(x+h) - f(x-h)) / (h+ + h-) for element i of in,
// using the steps actually representable in float32, and restores in[i].
func centralDiff(f func() float64, in []float32, i int, eps float64) (float64, error) {
	v := in[i]
	plus := float32(float64(v) + eps)
	minus := float32(float64(v) - eps)
	in[i] = plus
	fp := f()
	in[i] = minus
	fm := f()
	in[i] = v
	if math.IsNaN(fp) || math.IsNaN(fm) || math.IsInf(fp, 0) || math.IsInf(fm, 0) {
		return 0, fmt.Errorf("loss is not finite after a step of %g (f+ = %g, f- = %g)", eps, fp, fm)
	}
	h := float64(plus) - float64(minus)
	if h <= 0 {
		return 0, fmt.Errorf("step %g vanishes at value %g in float32; use a larger eps", eps, v)
	}
	return (fp - fm) / h, nil
}

// Dot64 returns sum_i r[i]*y[i] accumulated in float64: the scalar loss
// L = <r, y> whose gradient with respect to y is r. It panics if the
// lengths differ (a programming error in the test).
func Dot64(r, y []float32) float64 {
	if len(r) != len(y) {
		panic(fmt.Sprintf("gradcheck.Dot64: lengths %d and %d differ", len(r), len(y)))
	}
	var s float64
	for i := range r {
		s += float64(r[i]) * float64(y[i])
	}
	return s
}

// RandomVector returns n values uniform in [-1, 1), reproducible from seed;
// use it for the upstream gradient r and for random test inputs.
func RandomVector(n int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 0x2545f4914f6cdd1d))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(2*rng.Float64() - 1)
	}
	return v
}
