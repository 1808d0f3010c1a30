package bench

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/backend/cpu"
	"simclr/internal/model"
	"simclr/internal/optim"
	"simclr/internal/tensor"
)

// timedCPU is the CPU backend with a fake kernel timer: while timing is
// on, each Upload counts as an "upload" kernel of 1 ms and each Sync as a
// "sync" kernel of 2 ms.
type timedCPU struct {
	*cpu.Backend
	on              bool
	uploads, syncs  int
	resets, enables int
	err             error // returned by KernelTimes
}

func (b *timedCPU) Upload(dst *tensor.Tensor, src []float32) error {
	if b.on {
		b.uploads++
	}
	return b.Backend.Upload(dst, src)
}

func (b *timedCPU) Sync() error {
	if b.on {
		b.syncs++
	}
	return b.Backend.Sync()
}

func (b *timedCPU) EnableKernelTimes(on bool) {
	if on {
		b.enables++
	}
	b.on = on
}

func (b *timedCPU) ResetKernelTimes() { b.uploads, b.syncs, b.resets = 0, 0, b.resets+1 }

func (b *timedCPU) KernelTimes() ([]backend.KernelTime, error) {
	if b.err != nil {
		return nil, b.err
	}
	return []backend.KernelTime{
		{Kernel: "sync", Calls: b.syncs, TotalMs: 2 * float64(b.syncs)},
		{Kernel: "upload", Calls: b.uploads, TotalMs: float64(b.uploads)},
	}, nil
}

func sgdFactory(b backend.Backend) OptimizerFactory {
	return func(ps []*model.Param) (optim.Optimizer, error) {
		return optim.NewSGD(b, ps, optim.SGDOptions{Momentum: 0.9})
	}
}

// TestRunKernelTimes checks that Run times only the timed steps and turns
// the backend's rows into the table.
func TestRunKernelTimes(t *testing.T) {
	b := &timedCPU{Backend: cpu.New()}
	res, err := Run(b, tinyConfig(), 8, 0.5, sgdFactory(b), Options{Steps: 3, Warmup: 2, BatchPairs: 2, KernelTimes: true})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if b.on || b.enables != 1 || b.resets != 1 {
		t.Errorf("after Run: timing on=%v, enabled %d times, reset %d times; want off, 1, 1", b.on, b.enables, b.resets)
	}
	want := []KernelRow{
		{Kernel: "sync", Calls: 3, TotalMs: 6, MsPerStep: 2, Percent: 100 * 2.0 / 3},
		{Kernel: "upload", Calls: 3, TotalMs: 3, MsPerStep: 1, Percent: 100 * 1.0 / 3},
	}
	if len(res.KernelTimes) != len(want) {
		t.Fatalf("KernelTimes = %+v, want %+v (the 2 warm-up steps not timed)", res.KernelTimes, want)
	}
	for i, w := range want {
		g := res.KernelTimes[i]
		if g.Kernel != w.Kernel || g.Calls != w.Calls || g.TotalMs != w.TotalMs || g.MsPerStep != w.MsPerStep || math.Abs(g.Percent-w.Percent) > 1e-9 {
			t.Errorf("row %d = %+v, want %+v", i, g, w)
		}
	}
	if res.KernelMsPerStep != 3 {
		t.Errorf("KernelMsPerStep = %v, want 3", res.KernelMsPerStep)
	}

	plain, err := Run(b, tinyConfig(), 8, 0.5, sgdFactory(b), Options{Steps: 1, BatchPairs: 2})
	if err != nil {
		t.Fatalf("Run without kernel times: %v", err)
	}
	if plain.KernelTimes != nil || plain.KernelMsPerStep != 0 || b.enables != 1 {
		t.Errorf("Run without Options.KernelTimes timed kernels: %+v, enabled %d times", plain.KernelTimes, b.enables)
	}
}

func TestRunKernelTimesErrors(t *testing.T) {
	c := cpu.New()
	_, err := Run(c, tinyConfig(), 8, 0.5, sgdFactory(c), Options{Steps: 1, BatchPairs: 2, KernelTimes: true})
	if err == nil || !strings.Contains(err.Error(), "kernel times need") || !strings.Contains(err.Error(), "cpu does not") {
		t.Errorf("kernel times on the CPU backend: error %v, want one saying the backend cannot time kernels", err)
	}

	b := &timedCPU{Backend: cpu.New(), err: errors.New("event failed")}
	_, err = Run(b, tinyConfig(), 8, 0.5, sgdFactory(b), Options{Steps: 1, BatchPairs: 2, KernelTimes: true})
	if err == nil || !strings.Contains(err.Error(), "event failed") {
		t.Errorf("KernelTimes error: Run returned %v, want it passed on", err)
	}
	if b.on {
		t.Error("timing left on after a failed Run")
	}
}

func TestWriteKernelTable(t *testing.T) {
	rows := KernelRows([]backend.KernelTime{
		{Kernel: "conv2d_bwd_filter", Calls: 40, TotalMs: 30},
		{Kernel: "bn_fwd_train", Calls: 20, TotalMs: 10},
	}, 4)
	var buf bytes.Buffer
	if err := WriteKernelTable(&buf, rows); err != nil {
		t.Fatal(err)
	}
	want := `kernel               calls    total ms    ms/step   % time
conv2d_bwd_filter       40      30.000      7.500     75.0
bn_fwd_train            20      10.000      2.500     25.0
total                   60      40.000     10.000    100.0
`
	if buf.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", buf.String(), want)
	}
}
