//go:build cuda || cudaemu

package cuda_test

import (
	"errors"
	"math"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/backend/backendtest"
	"simclr/internal/tensor"
)

// TestErrorsMatchCPU makes every call of the shared table (backendtest.All:
// one valid call per op, the bad calls generated from it, bad parameters)
// on both backends with the same inputs. Each backend must fail exactly
// when the shape inference does, with the inference's message, so cpu and
// cuda report the same error; shape errors must be *tensor.ShapeError on
// both. The cases are written once, in backendtest, not once per backend.
// The calls that succeed must also agree: every operand afterwards (the
// outputs the op wrote, the inputs it must leave alone) and the scalar
// result, to a tolerance that fits these small shapes (the per-family
// parity tests check awkward shapes with tighter, per-op tolerances).
func TestErrorsMatchCPU(t *testing.T) {
	e := newEnv(t)
	for i, c := range backendtest.All() {
		t.Run(c.Name(), func(t *testing.T) {
			want := c.Infer(c.Shapes())
			tsC, freeC, err := c.Alloc(e.cpu, uint64(i))
			if err != nil {
				t.Fatalf("cpu: %v", err)
			}
			defer freeC()
			tsG, freeG, err := c.Alloc(e.gpu, uint64(i))
			if err != nil {
				t.Fatalf("cuda: %v", err)
			}
			defer freeG()
			vC, errC := c.Run(e.cpu, tsC)
			vG, errG := c.Run(e.gpu, tsG)
			for _, r := range []struct {
				name string
				err  error
			}{{"cpu", errC}, {"cuda", errG}} {
				if errText(r.err) != errText(want) {
					t.Errorf("%s error %q, shape inference %q", r.name, errText(r.err), errText(want))
				}
				var se *tensor.ShapeError
				if errors.As(want, &se) && !errors.As(r.err, &se) {
					t.Errorf("%s error %q is not a *tensor.ShapeError", r.name, r.err)
				}
			}
			if want != nil || errC != nil || errG != nil {
				return
			}
			if !closeTo(vC, vG) {
				t.Errorf("result: cpu %g, cuda %g", vC, vG)
			}
			for j, o := range c.Operands {
				if tsC[j] == nil {
					continue
				}
				hc, hg := make([]float32, tsC[j].Numel()), make([]float32, tsG[j].Numel())
				if err := e.cpu.Download(hc, tsC[j]); err != nil {
					t.Fatal(err)
				}
				if err := e.gpu.Download(hg, tsG[j]); err != nil {
					t.Fatal(err)
				}
				for k := range hc {
					if !closeTo(float64(hc[k]), float64(hg[k])) {
						t.Errorf("%s %v element %d: cpu %g, cuda %g", o.Name, o.Shape, k, hc[k], hg[k])
						break
					}
				}
			}
		})
	}
}

// closeTo is the loose agreement TestErrorsMatchCPU asks of successful
// calls: 1e-4 relative or absolute.
func closeTo(c, g float64) bool {
	if math.IsNaN(c) && math.IsNaN(g) {
		return true
	}
	return math.Abs(c-g) <= 1e-4*math.Max(1, math.Abs(c))
}

// TestValueErrorsMatchCPU: errors that depend on the values, not the
// shapes (a NaN in a loss input, invalid running statistics), are the
// same on both backends.
func TestValueErrorsMatchCPU(t *testing.T) {
	e := newEnv(t)
	nan := float32(math.NaN())
	s := e.make([]float32{1, 2, nan, 4}, 2, 2)
	logits := e.make([]float32{0, 1, 2, float32(math.Inf(1)), 0, 1}, 2, 3)
	x, c := e.rand(4, 2), e.rand(2)
	runVar := e.make([]float32{1, -1}, 2)
	cases := []struct {
		name, want string
		call       func(b backend.Backend, p func(pair) *tensor.Tensor) error
	}{
		{"nt-xent NaN", "nt-xent forward: s[1,0] is NaN; the inputs diverged (lower the learning rate)",
			func(b backend.Backend, p func(pair) *tensor.Tensor) error {
				_, err := b.NTXentForward(p(s), 0.1)
				return err
			}},
		{"nt-xent backward NaN", "nt-xent backward: s[1,0] is NaN; the inputs diverged (lower the learning rate)",
			func(b backend.Backend, p func(pair) *tensor.Tensor) error {
				return b.NTXentBackward(p(s), 0.1, p(e.zeros(2, 2)))
			}},
		{"ce Inf", "softmax cross-entropy forward: logits[1,0] is +Inf; the inputs diverged (lower the learning rate)",
			func(b backend.Backend, p func(pair) *tensor.Tensor) error {
				_, err := b.SoftmaxCrossEntropyForward(p(logits), []int32{0, 1})
				return err
			}},
		{"batchnorm eval running variance", "batchnorm forward eval: running statistics of channel 1 are invalid (mean",
			func(b backend.Backend, p func(pair) *tensor.Tensor) error {
				return b.BatchNormForwardEval(p(x), p(c), p(c), p(c), p(runVar), p(e.zeros(4, 2)), 1e-5)
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errC := tc.call(e.cpu, func(q pair) *tensor.Tensor { return q.c })
			errG := tc.call(e.gpu, func(q pair) *tensor.Tensor { return q.g })
			if errText(errC) != errText(errG) {
				t.Errorf("cpu error %q, cuda error %q: want the same", errText(errC), errText(errG))
			}
			if got := errText(errC); len(got) < len(tc.want) || got[:len(tc.want)] != tc.want {
				t.Errorf("error %q, want it to start with %q", got, tc.want)
			}
		})
	}
}

// errText is err's message, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
