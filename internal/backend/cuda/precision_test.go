//go:build cuda || cudaemu

package cuda_test

// Matmul precision (SetMatmulPrecision TF32/BF16): by definition the cuda
// backend in a reduced precision computes what the fp32 CPU backend
// computes on copies of the GEMM operands rounded on the host
// (backend.Precision.Round); only the fp32 accumulation order differs, so
// the tolerance is the fp32 parity suite's gemmTol.

import (
	"fmt"
	"math"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/tensor"
)

// split creates a tensor holding cv on the cpu backend and gv on the cuda
// backend (the same shape).
func (e *env) split(cv, gv []float32, shape ...int) pair {
	e.t.Helper()
	p := e.make(nil, shape...)
	if err := e.cpu.Upload(p.c, cv); err != nil {
		e.t.Fatal(err)
	}
	if err := e.gpu.Upload(p.g, gv); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// operand is a random GEMM operand: the cuda backend gets the fp32 values,
// the cpu backend the same values rounded to prec.
func (e *env) operand(prec backend.Precision, shape ...int) pair {
	v := e.values(tensor.Shape(shape).Numel(), -1, 1)
	r := make([]float32, len(v))
	for i, x := range v {
		r[i] = prec.Round(x)
	}
	return e.split(r, v, shape...)
}

// withPrecision sets the shared cuda backend's precision for one test.
func (e *env) withPrecision(p backend.Precision) {
	e.t.Helper()
	if err := e.gpu.SetMatmulPrecision(p); err != nil {
		e.t.Fatalf("SetMatmulPrecision(%s): %v", p, err)
	}
	e.t.Cleanup(func() {
		if err := e.gpu.SetMatmulPrecision(backend.FP32); err != nil {
			e.t.Errorf("reset precision: %v", err)
		}
	})
	if got := e.gpu.MatmulPrecision(); got != p {
		e.t.Fatalf("MatmulPrecision() = %s after SetMatmulPrecision(%s)", got, p)
	}
}

var reduced = []backend.Precision{backend.TF32, backend.BF16}

func TestConvPrecisionParity(t *testing.T) {
	cases := []struct {
		n, cin, h, w, cout, k, stride, pad int
	}{
		{2, 3, 9, 9, 5, 3, 1, 1},   // odd image, padding
		{2, 2, 11, 11, 6, 7, 2, 3}, // stem-like 7x7 stride 2
		{2, 66, 5, 5, 3, 3, 2, 0},  // reduction length 594
		{3, 8, 6, 6, 70, 1, 1, 0},  // 1x1, Cout above one tile
	}
	for _, prec := range reduced {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/n%d_cin%d_%dx%d_cout%d_k%d_s%d_p%d", prec, c.n, c.cin, c.h, c.w, c.cout, c.k, c.stride, c.pad), func(t *testing.T) {
				e := newEnv(t)
				e.withPrecision(prec)
				p := backend.ConvParams{Stride: c.stride, Pad: c.pad}
				ho := backend.ConvOutSize(c.h, c.k, c.stride, c.pad)
				wo := backend.ConvOutSize(c.w, c.k, c.stride, c.pad)
				x, w := e.operand(prec, c.n, c.cin, c.h, c.w), e.operand(prec, c.cout, c.cin, c.k, c.k)
				y := e.zeros(c.n, c.cout, ho, wo)
				e.must("forward", e.cpu.Conv2DForward(x.c, w.c, y.c, p), e.gpu.Conv2DForward(x.g, w.g, y.g, p))
				e.check("conv2d forward", y, gemmTol(c.cin*c.k*c.k, 1))
				dy, dx, dw := e.operand(prec, c.n, c.cout, ho, wo), e.zeros(c.n, c.cin, c.h, c.w), e.zeros(c.cout, c.cin, c.k, c.k)
				e.must("backward data", e.cpu.Conv2DBackwardData(dy.c, w.c, dx.c, p), e.gpu.Conv2DBackwardData(dy.g, w.g, dx.g, p))
				e.check("conv2d backward data", dx, gemmTol(c.cout*c.k*c.k, 1))
				e.must("backward filter", e.cpu.Conv2DBackwardFilter(x.c, dy.c, dw.c, p), e.gpu.Conv2DBackwardFilter(x.g, dy.g, dw.g, p))
				e.check("conv2d backward filter", dw, gemmTol(c.n*ho*wo, 1))
			})
		}
	}
}

func TestLinearPrecisionParity(t *testing.T) {
	cases := []struct {
		n, in, out int
		bias       bool
	}{
		{5, 70, 67, true},
		{66, 9, 3, false},
	}
	for _, prec := range reduced {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/n%d_in%d_out%d_bias%v", prec, c.n, c.in, c.out, c.bias), func(t *testing.T) {
				e := newEnv(t)
				e.withPrecision(prec)
				x, w := e.operand(prec, c.n, c.in), e.operand(prec, c.out, c.in)
				// The bias and db are not GEMM operands: fp32 on both sides.
				var bias, db pair
				if c.bias {
					bias, db = e.rand(c.out), e.zeros(c.out)
				}
				y := e.zeros(c.n, c.out)
				e.must("forward", e.cpu.LinearForward(x.c, w.c, bias.c, y.c), e.gpu.LinearForward(x.g, w.g, bias.g, y.g))
				e.check("linear forward", y, gemmTol(c.in, 1))
				// dy is an operand of both backward GEMMs; db sums the
				// unrounded dy, so give the cpu db its own fp32 run.
				dyv := e.values(c.n*c.out, -1, 1)
				dyr := make([]float32, len(dyv))
				for i, v := range dyv {
					dyr[i] = prec.Round(v)
				}
				dy := e.split(dyr, dyv, c.n, c.out)
				dx, dw := e.zeros(c.n, c.in), e.zeros(c.out, c.in)
				e.must("backward", e.cpu.LinearBackward(x.c, w.c, dy.c, dx.c, dw.c, nil), e.gpu.LinearBackward(x.g, w.g, dy.g, dx.g, dw.g, db.g))
				e.check("linear backward data", dx, gemmTol(c.out, 1))
				e.check("linear backward weight", dw, gemmTol(c.n, 1))
				if c.bias {
					dyFull := e.split(dyv, dyv, c.n, c.out)
					dx2, dw2 := e.zeros(c.n, c.in), e.zeros(c.out, c.in)
					e.must("cpu bias gradient", e.cpu.LinearBackward(x.c, w.c, dyFull.c, dx2.c, dw2.c, db.c), nil)
					e.check("linear backward bias (fp32)", db, tol{abs: 1e-6, rel: 1e-6})
				}
			})
		}
	}
}

// TestReducedPrecisionChangesResults guards against a precision that is
// accepted but not applied: on random data TF32 and BF16 results must
// differ from fp32 by far more than fp32's own tolerance, BF16 (7 mantissa
// bits) more than TF32 (10 bits).
func TestReducedPrecisionChangesResults(t *testing.T) {
	e := newEnv(t)
	p := backend.ConvParams{Stride: 1, Pad: 1}
	x, w := e.rand(2, 8, 6, 6), e.rand(8, 8, 3, 3)
	k := 8 * 9
	run := func(prec backend.Precision) []float32 {
		if err := e.gpu.SetMatmulPrecision(prec); err != nil {
			t.Fatal(err)
		}
		defer e.gpu.SetMatmulPrecision(backend.FP32)
		y := e.zeros(2, 8, 6, 6)
		e.mustGPU("forward", e.gpu.Conv2DForward(x.g, w.g, y.g, p))
		_, g := e.download(y)
		return g
	}
	ref := run(backend.FP32)
	tl := gemmTol(k, 1).abs
	maxDiff := map[backend.Precision]float64{}
	for _, prec := range reduced {
		got := run(prec)
		far := 0
		for i := range ref {
			d := math.Abs(float64(got[i]) - float64(ref[i]))
			maxDiff[prec] = math.Max(maxDiff[prec], d)
			if d > tl {
				far++
			}
		}
		if far < len(ref)/4 {
			t.Errorf("%s: only %d of %d outputs differ from fp32 by more than fp32's tolerance %g (max diff %g): is the rounding applied?", prec, far, len(ref), tl, maxDiff[prec])
		}
	}
	if !(maxDiff[backend.BF16] > 4*maxDiff[backend.TF32]) {
		t.Errorf("max |bf16 - fp32| = %g is not well above max |tf32 - fp32| = %g (bf16 keeps 3 fewer mantissa bits)", maxDiff[backend.BF16], maxDiff[backend.TF32])
	}
	t.Logf("max |result - fp32|: tf32 %g, bf16 %g (fp32 tolerance %g)", maxDiff[backend.TF32], maxDiff[backend.BF16], tl)
}
