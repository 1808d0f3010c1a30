//go:build cuda || cudaemu

package cuda_test

import (
	"strings"
	"testing"

	"simclr/internal/backend/backendtest"
	"simclr/internal/backend/cuda"
	"simclr/internal/tensor"
)

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

// TestViews: View shares device storage (ops read and write views), Free
// of a view is harmless, bad shapes are errors; a view of a freed tensor
// is refused like the tensor.
func TestViews(t *testing.T) {
	e := newEnv(t)
	backendtest.CheckViews(t, e.gpu)
	base, err := e.gpu.New(8)
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.gpu.View(base, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	e.gpu.Free(base)
	if err := e.gpu.Zero(v); err == nil || !strings.Contains(err.Error(), "freed") {
		t.Errorf("Zero of a view of a freed tensor: error %v, want one saying it was freed", err)
	}
	if _, err := e.gpu.View(v, 1); err == nil {
		t.Error("View of a view of a freed tensor: want an error")
	}
}
