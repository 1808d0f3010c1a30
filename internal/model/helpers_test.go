package model

import (
	"math/rand/v2"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/backend/cpu"
	"simclr/internal/gradcheck"
	"simclr/internal/tensor"
)

// newBackend returns the CPU reference backend.
func newBackend(t testing.TB) backend.Backend {
	t.Helper()
	b := cpu.New()
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// countingBackend counts New calls so tests can prove that steady-state
// steps allocate nothing.
type countingBackend struct {
	backend.Backend
	news int
}

func (c *countingBackend) New(shape ...int) (*tensor.Tensor, error) {
	c.news++
	return c.Backend.New(shape...)
}

// randomInput uploads a tensor of uniform [-1,1) values.
func randomInput(t testing.TB, b backend.Backend, seed uint64, shape ...int) *tensor.Tensor {
	t.Helper()
	x, err := b.New(shape...)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Upload(x, gradcheck.RandomVector(x.Numel(), seed)); err != nil {
		t.Fatal(err)
	}
	return x
}

// download copies a backend tensor to a new host slice.
func download(t testing.TB, b backend.Backend, x *tensor.Tensor) []float32 {
	t.Helper()
	v := make([]float32, x.Numel())
	if err := b.Download(v, x); err != nil {
		t.Fatal(err)
	}
	return v
}

// testRNG is the generator the block tests build blocks from.
func testRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 7)) }

// tinyConfig is a SimCLR configuration small enough for gradient checks.
func tinyConfig() Config {
	return Config{Arch: "resnet18", Stem: StemCIFAR, Width: 4, InChannels: 3,
		HeadLayers: 2, HeadHidden: 16, HeadOut: 8, HeadBN: true}
}
