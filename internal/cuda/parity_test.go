//go:build cuda || cudaemu

package cuda_test

// Parity suite: every op of the cuda backend, forward and backward, against
// the pure-Go reference backend (cpu.New) on small and awkward shapes (odd
// sizes, stride 2, one channel, batches and widths that are not multiples
// of the 64-wide GEMM tile, split-K). Run it on the CPU emulator with
//
//	go test -tags cudaemu ./internal/cuda/...
//
// and on a GPU with -tags cuda. Tolerances (see each case):
//   - elementwise ops, max-pool, the optimiser steps: exact (bit-identical
//     float32 ops in the same order);
//   - float64 reductions (batch-norm statistics, norms, losses, SumSquares,
//     Dot): relative 1e-5 on outputs that go through float32;
//   - GEMM-shaped ops (conv, linear, similarity): |gpu-cpu| <= 2e-6*K*scale
//     + 1e-6, K the reduction length (float32 accumulation in a different
//     order).

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/backend/cpu"
	"simclr/internal/cuda"
	"simclr/internal/tensor"
)

var (
	gpuOnce sync.Once
	gpuBE   *cuda.Backend
	gpuErr  error
)

// env holds the two backends of one test.
type env struct {
	t   *testing.T
	cpu *cpu.Backend
	gpu *cuda.Backend
	rng *rand.Rand
}

func newEnv(t *testing.T) *env {
	t.Helper()
	gpuOnce.Do(func() { gpuBE, gpuErr = cuda.New("cuda") })
	if gpuErr != nil {
		t.Fatalf("cuda.New: %v", gpuErr)
	}
	return &env{t: t, cpu: cpu.New(), gpu: gpuBE, rng: rand.New(rand.NewPCG(1, 2))}
}

// pair is one tensor on both backends.
type pair struct{ c, g *tensor.Tensor }

func (e *env) values(n int, lo, hi float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = lo + (hi-lo)*e.rng.Float32()
	}
	return v
}

// make creates a tensor holding vals (zeros when nil) on both backends.
func (e *env) make(vals []float32, shape ...int) pair {
	e.t.Helper()
	c, err := e.cpu.New(shape...)
	if err != nil {
		e.t.Fatal(err)
	}
	g, err := e.gpu.New(shape...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { e.cpu.Free(c); e.gpu.Free(g) })
	if vals != nil {
		if err := e.cpu.Upload(c, vals); err != nil {
			e.t.Fatal(err)
		}
		if err := e.gpu.Upload(g, vals); err != nil {
			e.t.Fatal(err)
		}
	}
	return pair{c, g}
}

func (e *env) rand(shape ...int) pair {
	return e.make(e.values(tensor.Shape(shape).Numel(), -1, 1), shape...)
}

func (e *env) zeros(shape ...int) pair { return e.make(nil, shape...) }

func (e *env) download(p pair) (c, g []float32) {
	e.t.Helper()
	c = make([]float32, p.c.Numel())
	g = make([]float32, p.g.Numel())
	if err := e.cpu.Download(c, p.c); err != nil {
		e.t.Fatal(err)
	}
	if err := e.gpu.Download(g, p.g); err != nil {
		e.t.Fatal(err)
	}
	return c, g
}

// tol is |gpu - cpu| <= abs + rel*|cpu|.
type tol struct{ abs, rel float64 }

var exact = tol{}

// gemmTol is the tolerance of a float32 dot product of length k with
// operands of magnitude about scale.
func gemmTol(k int, scale float64) tol { return tol{abs: 2e-6*float64(k)*scale + 1e-6, rel: 1e-5} }

// check compares the tensor on both backends.
func (e *env) check(name string, p pair, tl tol) {
	e.t.Helper()
	c, g := e.download(p)
	bad := 0
	for i := range c {
		cv, gv := float64(c[i]), float64(g[i])
		if math.IsNaN(cv) && math.IsNaN(gv) {
			continue
		}
		if d := math.Abs(gv - cv); !(d <= tl.abs+tl.rel*math.Abs(cv)) {
			if bad < 5 {
				e.t.Errorf("%s %v: element %d: cuda %g, cpu %g (diff %g, tolerance %g + %g*|cpu|)", name, p.c.Shape, i, gv, cv, d, tl.abs, tl.rel)
			}
			bad++
		}
	}
	if bad > 5 {
		e.t.Errorf("%s: %d of %d elements differ", name, bad, len(c))
	}
}

// must fails the test when either backend returned an error.
func (e *env) must(name string, errC, errG error) {
	e.t.Helper()
	if errC != nil || errG != nil {
		e.t.Fatalf("%s: cpu error %v, cuda error %v", name, errC, errG)
	}
}

func closeScalar(t *testing.T, name string, c, g float64, rel float64) {
	t.Helper()
	if d := math.Abs(c - g); !(d <= rel*math.Abs(c)+1e-12) {
		t.Errorf("%s: cuda %g, cpu %g (diff %g > %g relative)", name, g, c, d, rel)
	}
}

func TestElementwiseParity(t *testing.T) {
	for _, shape := range [][]int{{1}, {7}, {3, 5, 17}, {2, 1, 33, 31}} {
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			e := newEnv(t)
			a, b, out := e.rand(shape...), e.rand(shape...), e.zeros(shape...)
			e.must("add", e.cpu.Add(a.c, b.c, out.c), e.gpu.Add(a.g, b.g, out.g))
			e.check("add", out, exact)
			e.must("add in place", e.cpu.Add(a.c, b.c, a.c), e.gpu.Add(a.g, b.g, a.g))
			e.check("add in place", a, exact)

			vals := e.values(tensor.Shape(shape).Numel(), -1, 1)
			vals[0] = float32(math.NaN())
			x, y := e.make(vals, shape...), e.zeros(shape...)
			e.must("relu forward", e.cpu.ReLUForward(x.c, y.c), e.gpu.ReLUForward(x.g, y.g))
			e.check("relu forward", y, exact)
			dy, dx := e.rand(shape...), e.zeros(shape...)
			e.must("relu backward", e.cpu.ReLUBackward(y.c, dy.c, dx.c), e.gpu.ReLUBackward(y.g, dy.g, dx.g))
			e.check("relu backward", dx, exact)

			e.must("copy", e.cpu.Copy(out.c, b.c), e.gpu.Copy(out.g, b.g))
			e.check("copy", out, exact)
			e.must("zero", e.cpu.Zero(out.c), e.gpu.Zero(out.g))
			e.check("zero", out, exact)
		})
	}
}

func TestReductionParity(t *testing.T) {
	for _, n := range []int{1, 255, 1000, 20001} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			e := newEnv(t)
			a, b := e.rand(n), e.rand(n)
			sc, errC := e.cpu.SumSquares(a.c)
			sg, errG := e.gpu.SumSquares(a.g)
			e.must("sum squares", errC, errG)
			closeScalar(t, "sum squares", sc, sg, 1e-12)
			dc, errC := e.cpu.Dot(a.c, b.c)
			dg, errG := e.gpu.Dot(a.g, b.g)
			e.must("dot", errC, errG)
			closeScalar(t, "dot", dc, dg, 1e-10)
		})
	}
}

func TestConvParity(t *testing.T) {
	cases := []struct {
		n, cin, h, w, cout, k, stride, pad int
	}{
		{2, 3, 9, 9, 5, 3, 1, 1},   // odd image, padding
		{3, 1, 8, 8, 4, 3, 2, 1},   // one input channel, stride 2
		{1, 4, 7, 5, 3, 1, 1, 0},   // 1x1, non-square image
		{2, 2, 11, 11, 6, 7, 2, 3}, // ResNet stem shape (7x7 stride 2)
		{5, 3, 6, 6, 70, 3, 1, 0},  // Cout above one 64-row tile, batch 5
		{2, 66, 5, 5, 3, 3, 2, 0},  // reduction length 594 (37 K-steps)
		{2, 1, 96, 96, 2, 3, 1, 1}, // N*Ho*Wo = 18432: split-K filter gradient
		{1, 2, 4, 4, 2, 4, 1, 2},   // kernel larger than stride, pad 2 (even K)
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("n%d_cin%d_%dx%d_cout%d_k%d_s%d_p%d", c.n, c.cin, c.h, c.w, c.cout, c.k, c.stride, c.pad), func(t *testing.T) {
			e := newEnv(t)
			p := backend.ConvParams{Stride: c.stride, Pad: c.pad}
			ho := backend.ConvOutSize(c.h, c.k, c.stride, c.pad)
			wo := backend.ConvOutSize(c.w, c.k, c.stride, c.pad)
			x, w := e.rand(c.n, c.cin, c.h, c.w), e.rand(c.cout, c.cin, c.k, c.k)
			y := e.zeros(c.n, c.cout, ho, wo)
			e.must("forward", e.cpu.Conv2DForward(x.c, w.c, y.c, p), e.gpu.Conv2DForward(x.g, w.g, y.g, p))
			e.check("conv2d forward", y, gemmTol(c.cin*c.k*c.k, 1))
			dy, dx, dw := e.rand(c.n, c.cout, ho, wo), e.zeros(c.n, c.cin, c.h, c.w), e.zeros(c.cout, c.cin, c.k, c.k)
			e.must("backward data", e.cpu.Conv2DBackwardData(dy.c, w.c, dx.c, p), e.gpu.Conv2DBackwardData(dy.g, w.g, dx.g, p))
			e.check("conv2d backward data", dx, gemmTol(c.cout*c.k*c.k, 1))
			e.must("backward filter", e.cpu.Conv2DBackwardFilter(x.c, dy.c, dw.c, p), e.gpu.Conv2DBackwardFilter(x.g, dy.g, dw.g, p))
			e.check("conv2d backward filter", dw, gemmTol(c.n*ho*wo, 1))
		})
	}
}

func TestConvFilterGradientDeterministic(t *testing.T) {
	e := newEnv(t)
	p := backend.ConvParams{Stride: 1, Pad: 1}
	x, dy, dw := e.rand(2, 1, 96, 96), e.rand(2, 2, 96, 96), e.zeros(2, 1, 3, 3)
	var first []float32
	for run := 0; run < 2; run++ {
		if err := e.gpu.Conv2DBackwardFilter(x.g, dy.g, dw.g, p); err != nil {
			t.Fatal(err)
		}
		_, g := e.download(dw)
		if run == 0 {
			first = g
			continue
		}
		for i := range g {
			if math.Float32bits(g[i]) != math.Float32bits(first[i]) {
				t.Fatalf("run 2 element %d = %g, run 1 gave %g: the split-K reduction is not deterministic", i, g[i], first[i])
			}
		}
	}
}

func TestBatchNormParity(t *testing.T) {
	for _, shape := range [][]int{{4, 3, 5, 5}, {3, 1, 7, 3}, {2, 70, 1, 1}, {9, 5}, {2, 1}} {
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			e := newEnv(t)
			c := shape[1]
			x := e.make(e.values(tensor.Shape(shape).Numel(), -2, 3), shape...)
			gamma, beta := e.make(e.values(c, 0.5, 1.5), c), e.rand(c)
			rm, rv := e.rand(c), e.make(e.values(c, 0.5, 2), c)
			y, sm, si := e.zeros(shape...), e.zeros(c), e.zeros(c)
			e.must("forward train",
				e.cpu.BatchNormForwardTrain(x.c, gamma.c, beta.c, y.c, sm.c, si.c, rm.c, rv.c, 0.1, 1e-5),
				e.gpu.BatchNormForwardTrain(x.g, gamma.g, beta.g, y.g, sm.g, si.g, rm.g, rv.g, 0.1, 1e-5))
			for _, v := range []struct {
				name string
				p    pair
			}{{"y", y}, {"saveMean", sm}, {"saveInvStd", si}, {"runMean", rm}, {"runVar", rv}} {
				e.check("batchnorm forward train "+v.name, v.p, tol{abs: 1e-6, rel: 1e-5})
			}
			ye := e.zeros(shape...)
			e.must("forward eval",
				e.cpu.BatchNormForwardEval(x.c, gamma.c, beta.c, rm.c, rv.c, ye.c, 1e-5),
				e.gpu.BatchNormForwardEval(x.g, gamma.g, beta.g, rm.g, rv.g, ye.g, 1e-5))
			e.check("batchnorm forward eval", ye, tol{abs: 1e-6, rel: 1e-6})
			dy, dx, dg, db := e.rand(shape...), e.zeros(shape...), e.zeros(c), e.zeros(c)
			e.must("backward",
				e.cpu.BatchNormBackward(dy.c, x.c, gamma.c, sm.c, si.c, dx.c, dg.c, db.c),
				e.gpu.BatchNormBackward(dy.g, x.g, gamma.g, sm.g, si.g, dx.g, dg.g, db.g))
			e.check("batchnorm backward dx", dx, tol{abs: 1e-5, rel: 1e-4})
			e.check("batchnorm backward dgamma", dg, tol{abs: 1e-5, rel: 1e-5})
			e.check("batchnorm backward dbeta", db, tol{abs: 1e-5, rel: 1e-5})
		})
	}
}

// TestBatchNormReLUParity checks the fused batch norm + ReLU ops: against
// the CPU backend's fused ops (the batch-norm tolerances of
// TestBatchNormParity), and against the cuda backend's unfused sequences
// (BatchNormForwardTrain + ReLUForward, ReLUBackward + BatchNormBackward)
// bit for bit, dx aliasing dy included. beta is small, so about half of the
// batch-norm outputs are negative and the mask matters. With C >= 4,
// channel 1 has gamma 0 and beta -0 (outputs of +0 and -0, which the ReLU
// passes and the backward masks), channel 2 a negative gamma and channel 3
// a NaN input (NaN outputs, which pass forward and mask the gradient).
func TestBatchNormReLUParity(t *testing.T) {
	for _, shape := range [][]int{{3, 5, 7, 5}, {5, 4, 9, 9}, {3, 1, 7, 3}, {9, 5}, {301, 4}, {2, 1}} {
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			e := newEnv(t)
			n, c, numel := shape[0], shape[1], tensor.Shape(shape).Numel()
			sp := numel / (n * c) // values per channel and sample
			xv := e.values(numel, -2, 3)
			gv, bv := e.values(c, 0.5, 1.5), e.values(c, -0.2, 0.2)
			if c >= 4 {
				gv[1], bv[1] = 0, float32(math.Copysign(0, -1))
				gv[2] = -gv[2]
				xv[(n/2*c+3)*sp] = float32(math.NaN()) // sample n/2, channel 3
			}
			x, gamma, beta := e.make(xv, shape...), e.make(gv, c), e.make(bv, c)
			rmv, rvv := e.values(c, -1, 1), e.values(c, 0.5, 2)
			rm, rv := e.make(rmv, c), e.make(rvv, c)
			y, sm, si := e.zeros(shape...), e.zeros(c), e.zeros(c)
			e.must("batchnorm+relu forward train",
				e.cpu.BatchNormReLUForwardTrain(x.c, gamma.c, beta.c, y.c, sm.c, si.c, rm.c, rv.c, 0.1, 1e-5),
				e.gpu.BatchNormReLUForwardTrain(x.g, gamma.g, beta.g, y.g, sm.g, si.g, rm.g, rv.g, 0.1, 1e-5))
			for _, v := range []struct {
				name string
				p    pair
			}{{"y", y}, {"saveMean", sm}, {"saveInvStd", si}, {"runMean", rm}, {"runVar", rv}} {
				e.check("batchnorm+relu forward train "+v.name, v.p, tol{abs: 1e-6, rel: 1e-5})
			}
			if c == 1 || c >= 4 { // channels other than the special ones: about half clipped
				_, yg := e.download(y)
				zeros, total := 0, 0
				for i, v := range yg {
					if ch := i / sp % c; c == 1 || ch == 0 || ch >= 4 {
						total++
						if v == 0 {
							zeros++
						}
					}
				}
				if total >= 20 && (zeros*10 < total*3 || zeros*10 > total*7) {
					t.Errorf("%d of %d outputs clipped by the ReLU; the test wants about half", zeros, total)
				}
			}

			// The cuda backend's unfused forward on the same input and the
			// same running statistics: equal bit for bit.
			y2, sm2, si2 := e.zeros(shape...), e.zeros(c), e.zeros(c)
			rm2, rv2 := e.make(rmv, c), e.make(rvv, c)
			e.mustGPU("batchnorm forward train", e.gpu.BatchNormForwardTrain(x.g, gamma.g, beta.g, y2.g, sm2.g, si2.g, rm2.g, rv2.g, 0.1, 1e-5))
			e.mustGPU("relu forward", e.gpu.ReLUForward(y2.g, y2.g))
			e.sameBits("forward y", y, y2)
			e.sameBits("forward saveMean", sm, sm2)
			e.sameBits("forward saveInvStd", si, si2)
			e.sameBits("forward runMean", rm, rm2)
			e.sameBits("forward runVar", rv, rv2)

			// Backward. Both backends get the cuda y: a value within rounding
			// of 0 could otherwise be clipped on one backend only and flip
			// the mask.
			_, ygv := e.download(y)
			if err := e.cpu.Upload(y.c, ygv); err != nil {
				t.Fatal(err)
			}
			dyv := e.values(numel, -1, 1)
			dy, dx, dg, db := e.make(dyv, shape...), e.zeros(shape...), e.zeros(c), e.zeros(c)
			e.must("batchnorm+relu backward",
				e.cpu.BatchNormReLUBackward(dy.c, y.c, x.c, gamma.c, sm.c, si.c, dx.c, dg.c, db.c),
				e.gpu.BatchNormReLUBackward(dy.g, y.g, x.g, gamma.g, sm.g, si.g, dx.g, dg.g, db.g))
			e.check("batchnorm+relu backward dx", dx, tol{abs: 1e-5, rel: 1e-4})
			e.check("batchnorm+relu backward dgamma", dg, tol{abs: 1e-5, rel: 1e-5})
			e.check("batchnorm+relu backward dbeta", db, tol{abs: 1e-5, rel: 1e-5})

			// The unfused cuda backward: ReLUBackward into a masked
			// gradient, then BatchNormBackward.
			masked, dx2, dg2, db2 := e.zeros(shape...), e.zeros(shape...), e.zeros(c), e.zeros(c)
			e.mustGPU("relu backward", e.gpu.ReLUBackward(y.g, dy.g, masked.g))
			e.mustGPU("batchnorm backward", e.gpu.BatchNormBackward(masked.g, x.g, gamma.g, sm.g, si.g, dx2.g, dg2.g, db2.g))
			e.sameBits("backward dx", dx, dx2)
			e.sameBits("backward dgamma", dg, dg2)
			e.sameBits("backward dbeta", db, db2)

			// dx aliasing dy.
			da, dga, dba := e.make(dyv, shape...), e.zeros(c), e.zeros(c)
			e.mustGPU("batchnorm+relu backward in place", e.gpu.BatchNormReLUBackward(da.g, y.g, x.g, gamma.g, sm.g, si.g, da.g, dga.g, dba.g))
			e.sameBits("backward in place dx", da, dx2)
			e.sameBits("backward in place dgamma", dga, dg2)
			e.sameBits("backward in place dbeta", dba, db2)
		})
	}
}

// mustGPU fails the test when a cuda call returned an error.
func (e *env) mustGPU(name string, err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatalf("%s: cuda error %v", name, err)
	}
}

// sameBits checks that the cuda tensors of a and b hold the same float32
// bit patterns.
func (e *env) sameBits(name string, a, b pair) {
	e.t.Helper()
	_, av := e.download(a)
	_, bv := e.download(b)
	bad := 0
	for i := range av {
		if math.Float32bits(av[i]) != math.Float32bits(bv[i]) {
			if bad < 5 {
				e.t.Errorf("%s %v: element %d: fused %g (%#08x), unfused %g (%#08x)", name, a.g.Shape, i, av[i], math.Float32bits(av[i]), bv[i], math.Float32bits(bv[i]))
			}
			bad++
		}
	}
	if bad > 5 {
		e.t.Errorf("%s: %d of %d elements differ", name, bad, len(av))
	}
}

func TestPoolParity(t *testing.T) {
	cases := []struct {
		shape []int
		p     backend.PoolParams
	}{
		{[]int{2, 3, 9, 9}, backend.PoolParams{Kernel: 3, Stride: 2, Pad: 1}},
		{[]int{1, 1, 8, 7}, backend.PoolParams{Kernel: 3, Stride: 2, Pad: 1}},
		{[]int{3, 2, 6, 6}, backend.PoolParams{Kernel: 2, Stride: 2, Pad: 0}},
		{[]int{1, 2, 5, 5}, backend.PoolParams{Kernel: 3, Stride: 1, Pad: 1}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.shape, c.p), func(t *testing.T) {
			e := newEnv(t)
			n := tensor.Shape(c.shape).Numel()
			vals := make([]float32, n)
			for i := range vals {
				vals[i] = float32(e.rng.IntN(4)) // many ties: the first maximum must win
			}
			vals[n/2] = float32(math.NaN())
			ho := backend.ConvOutSize(c.shape[2], c.p.Kernel, c.p.Stride, c.p.Pad)
			wo := backend.ConvOutSize(c.shape[3], c.p.Kernel, c.p.Stride, c.p.Pad)
			x, y := e.make(vals, c.shape...), e.zeros(c.shape[0], c.shape[1], ho, wo)
			e.must("maxpool forward", e.cpu.MaxPool2DForward(x.c, y.c, c.p), e.gpu.MaxPool2DForward(x.g, y.g, c.p))
			e.check("maxpool forward", y, exact)
			dy, dx := e.rand(c.shape[0], c.shape[1], ho, wo), e.zeros(c.shape...)
			e.must("maxpool backward", e.cpu.MaxPool2DBackward(x.c, dy.c, dx.c, c.p), e.gpu.MaxPool2DBackward(x.g, dy.g, dx.g, c.p))
			e.check("maxpool backward", dx, tol{abs: 1e-6, rel: 1e-6})

			xa, ya := e.rand(c.shape...), e.zeros(c.shape[0], c.shape[1])
			e.must("gap forward", e.cpu.GlobalAvgPoolForward(xa.c, ya.c), e.gpu.GlobalAvgPoolForward(xa.g, ya.g))
			e.check("global avgpool forward", ya, tol{abs: 1e-7, rel: 1e-6})
			dya, dxa := e.rand(c.shape[0], c.shape[1]), e.zeros(c.shape...)
			e.must("gap backward", e.cpu.GlobalAvgPoolBackward(dya.c, dxa.c), e.gpu.GlobalAvgPoolBackward(dya.g, dxa.g))
			e.check("global avgpool backward", dxa, exact)
		})
	}
}

func TestLinearParity(t *testing.T) {
	cases := []struct {
		n, in, out int
		bias, dx   bool
	}{
		{5, 7, 3, true, true},
		{70, 33, 65, true, true},
		{1, 1, 1, false, true},
		{9, 130, 2, true, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%dx%d->%d_bias%v_dx%v", c.n, c.in, c.out, c.bias, c.dx), func(t *testing.T) {
			e := newEnv(t)
			x, w, y := e.rand(c.n, c.in), e.rand(c.out, c.in), e.zeros(c.n, c.out)
			var b, db pair
			if c.bias {
				b, db = e.rand(c.out), e.zeros(c.out)
			}
			e.must("forward", e.cpu.LinearForward(x.c, w.c, b.c, y.c), e.gpu.LinearForward(x.g, w.g, b.g, y.g))
			e.check("linear forward", y, gemmTol(c.in, 1))
			dy, dx, dw := e.rand(c.n, c.out), e.zeros(c.n, c.in), e.zeros(c.out, c.in)
			dxc, dxg := dx.c, dx.g
			if !c.dx {
				dxc, dxg = nil, nil
			}
			e.must("backward", e.cpu.LinearBackward(x.c, w.c, dy.c, dxc, dw.c, db.c), e.gpu.LinearBackward(x.g, w.g, dy.g, dxg, dw.g, db.g))
			e.check("linear backward dx", dx, gemmTol(c.out, 1))
			e.check("linear backward dw", dw, gemmTol(c.n, 1))
			if c.bias {
				e.check("linear backward db", db, tol{abs: 1e-6, rel: 1e-6})
			}
		})
	}
}

func TestNormSimilarityParity(t *testing.T) {
	for _, c := range []struct{ m, d int }{{6, 5}, {70, 17}, {4, 129}} {
		t.Run(fmt.Sprintf("%dx%d", c.m, c.d), func(t *testing.T) {
			e := newEnv(t)
			vals := e.values(c.m*c.d, -1, 1)
			for j := 0; j < c.d; j++ {
				vals[(c.m-1)*c.d+j] = 0 // a zero row: the norm is clamped to 1e-12
			}
			x, y, norms := e.make(vals, c.m, c.d), e.zeros(c.m, c.d), e.zeros(c.m)
			e.must("l2 forward", e.cpu.L2NormalizeForward(x.c, y.c, norms.c), e.gpu.L2NormalizeForward(x.g, y.g, norms.g))
			e.check("l2 normalize forward y", y, tol{abs: 1e-7, rel: 1e-6})
			e.check("l2 normalize forward norms", norms, tol{abs: 0, rel: 1e-6})
			dy, dx := e.rand(c.m, c.d), e.zeros(c.m, c.d)
			e.must("l2 backward", e.cpu.L2NormalizeBackward(y.c, norms.c, dy.c, dx.c), e.gpu.L2NormalizeBackward(y.g, norms.g, dy.g, dx.g))
			e.check("l2 normalize backward", dx, tol{abs: 1e-6, rel: 1e-5})

			s := e.zeros(c.m, c.m)
			e.must("similarity forward", e.cpu.SimilarityForward(y.c, s.c), e.gpu.SimilarityForward(y.g, s.g))
			e.check("similarity forward", s, gemmTol(c.d, 1))
			ds, dz := e.rand(c.m, c.m), e.zeros(c.m, c.d)
			e.must("similarity backward", e.cpu.SimilarityBackward(y.c, ds.c, dz.c), e.gpu.SimilarityBackward(y.g, ds.g, dz.g))
			e.check("similarity backward", dz, gemmTol(c.m, 2))
		})
	}
}

func TestLossParity(t *testing.T) {
	for _, c := range []struct {
		m   int
		tau float32
	}{{2, 0.5}, {6, 0.1}, {70, 0.2}, {258, 0.07}} {
		t.Run(fmt.Sprintf("ntxent_m%d_tau%g", c.m, c.tau), func(t *testing.T) {
			e := newEnv(t)
			s, ds := e.rand(c.m, c.m), e.zeros(c.m, c.m)
			lc, errC := e.cpu.NTXentForward(s.c, c.tau)
			lg, errG := e.gpu.NTXentForward(s.g, c.tau)
			e.must("nt-xent forward", errC, errG)
			closeScalar(t, "nt-xent forward", float64(lc), float64(lg), 1e-6)
			e.must("nt-xent backward", e.cpu.NTXentBackward(s.c, c.tau, ds.c), e.gpu.NTXentBackward(s.g, c.tau, ds.g))
			e.check("nt-xent backward", ds, tol{abs: 1e-9, rel: 1e-6})
		})
	}
	for _, c := range []struct{ n, k int }{{1, 1}, {5, 3}, {9, 300}} {
		t.Run(fmt.Sprintf("ce_%dx%d", c.n, c.k), func(t *testing.T) {
			e := newEnv(t)
			logits := e.make(e.values(c.n*c.k, -5, 5), c.n, c.k)
			labels := make([]int32, c.n)
			for i := range labels {
				labels[i] = int32(e.rng.IntN(c.k))
			}
			lc, errC := e.cpu.SoftmaxCrossEntropyForward(logits.c, labels)
			lg, errG := e.gpu.SoftmaxCrossEntropyForward(logits.g, labels)
			e.must("ce forward", errC, errG)
			closeScalar(t, "softmax cross-entropy forward", float64(lc), float64(lg), 1e-6)
			d := e.zeros(c.n, c.k)
			e.must("ce backward", e.cpu.SoftmaxCrossEntropyBackward(logits.c, labels, d.c), e.gpu.SoftmaxCrossEntropyBackward(logits.g, labels, d.g))
			e.check("softmax cross-entropy backward", d, tol{abs: 1e-9, rel: 1e-6})
		})
	}
}

func TestOptimizerParity(t *testing.T) {
	mom := []backend.MomentumOpts{
		{LR: 0.1, Momentum: 0.9, TrustRatio: 1, FirstStep: true},
		{LR: 0.05, Momentum: 0.9, WeightDecay: 1e-4, TrustRatio: 0.37},
		{LR: 0.3, Momentum: 0.8, WeightDecay: 5e-4, TrustRatio: 1, Nesterov: true},
	}
	for i, o := range mom {
		t.Run(fmt.Sprintf("momentum_%d", i), func(t *testing.T) {
			e := newEnv(t)
			p, g, buf := e.rand(3, 37), e.rand(3, 37), e.rand(3, 37)
			for step := 0; step < 3; step++ {
				e.must("momentum step", e.cpu.MomentumStep(p.c, g.c, buf.c, o), e.gpu.MomentumStep(p.g, g.g, buf.g, o))
				o.FirstStep = false
			}
			e.check("momentum p", p, exact)
			e.check("momentum buf", buf, exact)
		})
	}
	t.Run("adamw", func(t *testing.T) {
		e := newEnv(t)
		p, g, m, v := e.rand(1001), e.rand(1001), e.zeros(1001), e.zeros(1001)
		for step := 1; step <= 4; step++ {
			o := backend.AdamWOpts{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.05, Step: step}
			e.must("adamw step", e.cpu.AdamWStep(p.c, g.c, m.c, v.c, o), e.gpu.AdamWStep(p.g, g.g, m.g, v.g, o))
		}
		e.check("adamw p", p, exact)
		e.check("adamw m", m, exact)
		e.check("adamw v", v, exact)
	})
}

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

func TestTensorLifecycle(t *testing.T) {
	e := newEnv(t)
	g := e.gpu
	host := tensor.NewHost(2, 2)
	if err := g.Zero(host); err == nil {
		t.Error("Zero of a host tensor: want an error")
	}
	tt, err := g.New(64, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Upload(tt, make([]float32, 3)); err == nil {
		t.Error("Upload of 3 values into [64 64]: want an error")
	}
	g.Free(tt)
	if err := g.Zero(tt); err == nil {
		t.Error("Zero of a freed tensor: want an error")
	}
	g.Free(tt) // double free is ignored
	if _, err := g.New(2, -1); err == nil {
		t.Error("New with a negative dimension: want an error")
	}
	if _, err := g.New(1<<20, 1<<20); err == nil {
		t.Error("New beyond the 32-bit index limit: want an error")
	}
	// Freed blocks are reused: allocating and freeing the same size many
	// times must not raise the peak.
	before := g.PeakBytes()
	for i := 0; i < 10; i++ {
		u, err := g.New(300, 300)
		if err != nil {
			t.Fatal(err)
		}
		g.Free(u)
	}
	if grow := g.PeakBytes() - before; grow > 300*300*4+(64<<10) {
		t.Errorf("PeakBytes grew by %d for one reused 360000-byte tensor", grow)
	}
	if _, err := cuda.New("cuda:x"); err == nil {
		t.Error(`New("cuda:x"): want an error`)
	}
	devs, err := cuda.Devices()
	if err != nil || len(devs) == 0 {
		t.Errorf("Devices() = %v, %v; want at least one device", devs, err)
	}
}
