//go:build cuda || cudaemu

package cuda_test

import (
	"errors"
	"math"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/tensor"
)

// TestErrorsMatchCPU feeds bad input to both backends: both must fail, and
// shape errors must be *tensor.ShapeError on both.
func TestErrorsMatchCPU(t *testing.T) {
	e := newEnv(t)
	a, b3 := e.rand(4, 3), e.rand(3, 4)
	x, w := e.rand(1, 2, 5, 5), e.rand(3, 4, 3, 3)
	y := e.zeros(1, 3, 3, 3)
	nan := e.make([]float32{1, 2, float32(math.NaN()), 4}, 2, 2)
	logits := e.rand(2, 3)
	cases := []struct {
		name     string
		cpu, gpu func() error
		shape    bool
	}{
		{"add shape", func() error { return e.cpu.Add(a.c, b3.c, a.c) }, func() error { return e.gpu.Add(a.g, b3.g, a.g) }, true},
		{"conv channels", func() error { return e.cpu.Conv2DForward(x.c, w.c, y.c, backend.ConvParams{Stride: 1}) },
			func() error { return e.gpu.Conv2DForward(x.g, w.g, y.g, backend.ConvParams{Stride: 1}) }, true},
		{"conv stride 0", func() error { return e.cpu.Conv2DForward(x.c, w.c, y.c, backend.ConvParams{}) },
			func() error { return e.gpu.Conv2DForward(x.g, w.g, y.g, backend.ConvParams{}) }, false},
		{"nt-xent NaN", func() error { _, err := e.cpu.NTXentForward(nan.c, 0.1); return err },
			func() error { _, err := e.gpu.NTXentForward(nan.g, 0.1); return err }, false},
		{"nt-xent odd", func() error { _, err := e.cpu.NTXentForward(a.c, 0.1); return err },
			func() error { _, err := e.gpu.NTXentForward(a.g, 0.1); return err }, true},
		{"ce label", func() error { _, err := e.cpu.SoftmaxCrossEntropyForward(logits.c, []int32{0, 3}); return err },
			func() error { _, err := e.gpu.SoftmaxCrossEntropyForward(logits.g, []int32{0, 3}); return err }, false},
		{"ce NaN", func() error { _, err := e.cpu.SoftmaxCrossEntropyForward(nan.c, []int32{0, 1}); return err },
			func() error { _, err := e.gpu.SoftmaxCrossEntropyForward(nan.g, []int32{0, 1}); return err }, false},
		{"momentum trust ratio", func() error { return e.cpu.MomentumStep(a.c, a.c, a.c, backend.MomentumOpts{LR: 1}) },
			func() error { return e.gpu.MomentumStep(a.g, a.g, a.g, backend.MomentumOpts{LR: 1}) }, false},
		{"batchnorm one value", func() error {
			v := e.rand(1, 1)
			return e.cpu.BatchNormForwardTrain(v.c, v.c, v.c, v.c, v.c, v.c, v.c, v.c, 0.1, 1e-5)
		}, func() error {
			v := e.rand(1, 1)
			return e.gpu.BatchNormForwardTrain(v.g, v.g, v.g, v.g, v.g, v.g, v.g, v.g, 0.1, 1e-5)
		}, false},
		{"batchnorm+relu one value", func() error {
			v := e.rand(1, 1)
			return e.cpu.BatchNormReLUForwardTrain(v.c, v.c, v.c, v.c, v.c, v.c, v.c, v.c, 0.1, 1e-5)
		}, func() error {
			v := e.rand(1, 1)
			return e.gpu.BatchNormReLUForwardTrain(v.g, v.g, v.g, v.g, v.g, v.g, v.g, v.g, 0.1, 1e-5)
		}, false},
		{"batchnorm+relu backward y shape", func() error {
			v, c := e.rand(4, 3), e.rand(3)
			return e.cpu.BatchNormReLUBackward(v.c, b3.c, v.c, c.c, c.c, c.c, v.c, c.c, c.c)
		}, func() error {
			v, c := e.rand(4, 3), e.rand(3)
			return e.gpu.BatchNormReLUBackward(v.g, b3.g, v.g, c.g, c.g, c.g, v.g, c.g, c.g)
		}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errC, errG := c.cpu(), c.gpu()
			if errC == nil || errG == nil {
				t.Fatalf("cpu error %v, cuda error %v: both must fail", errC, errG)
			}
			var se *tensor.ShapeError
			if c.shape && !errors.As(errG, &se) {
				t.Errorf("cuda error %q is not a *tensor.ShapeError", errG)
			}
			if errC.Error() != errG.Error() {
				t.Logf("messages differ (allowed): cpu %q, cuda %q", errC, errG)
			}
		})
	}
}
