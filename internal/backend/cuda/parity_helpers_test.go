//go:build cuda || cudaemu

package cuda_test

// Parity suite: every op of the cuda backend, forward and backward, against
// the pure-Go reference backend (cpu.New) on small and awkward shapes (odd
// sizes, stride 2, one channel, batches and widths that are not multiples
// of the 64-wide GEMM tile, split-K). Run it on the CPU emulator with
//
//	go test -tags cudaemu ./internal/backend/cuda/...
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
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/backend/cpu"
	"simclr/internal/backend/cuda"
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
	// Every test starts in fp32 and leaves the shared backend in fp32,
	// whatever a job it ran set (train.precision auto is bf16 on CUDA).
	resetFP32 := func() {
		if err := gpuBE.SetMatmulPrecision(backend.FP32); err != nil {
			t.Fatalf("reset matmul precision: %v", err)
		}
	}
	resetFP32()
	t.Cleanup(resetFP32)
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

// checkGPU compares the cuda tensor of p with want (another cuda result).
func (e *env) checkGPU(name string, p pair, want []float32, tl tol) {
	e.t.Helper()
	_, g := e.download(p)
	bad := 0
	for i := range g {
		if d := math.Abs(float64(g[i]) - float64(want[i])); !(d <= tl.abs+tl.rel*math.Abs(float64(want[i]))) {
			if bad < 5 {
				e.t.Errorf("%s %v: element %d: %g, want %g (diff %g)", name, p.g.Shape, i, g[i], want[i], d)
			}
			bad++
		}
	}
	if bad > 5 {
		e.t.Errorf("%s: %d of %d elements differ", name, bad, len(g))
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
