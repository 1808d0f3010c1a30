//go:build cuda || cudaemu

package cuda_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/backend/backendtest"
	"simclr/internal/tensor"
)

// TestErrorsMatchCPU makes every call of the shared table (backendtest.All:
// one valid call per op, the bad calls generated from it, bad parameters)
// on both backends. Each backend must fail exactly when the shape
// inference does, with the inference's message, so cpu and cuda report
// the same error; shape errors must be *tensor.ShapeError on both. The
// cases are written once, in backendtest, not once per backend.
func TestErrorsMatchCPU(t *testing.T) {
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(3, 4))
	backends := []struct {
		name string
		b    backend.Backend
	}{{"cpu", e.cpu}, {"cuda", e.gpu}}
	for _, c := range backendtest.All() {
		t.Run(c.Name(), func(t *testing.T) {
			want := c.Infer(c.Shapes())
			for _, be := range backends {
				ts, free, err := c.Alloc(be.b, rng)
				if err != nil {
					t.Fatalf("%s: %v", be.name, err)
				}
				got := c.Run(be.b, ts)
				free()
				if errText(got) != errText(want) {
					t.Errorf("%s error %q, shape inference %q", be.name, errText(got), errText(want))
				}
				var se *tensor.ShapeError
				if errors.As(want, &se) && !errors.As(got, &se) {
					t.Errorf("%s error %q is not a *tensor.ShapeError", be.name, got)
				}
			}
		})
	}
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
