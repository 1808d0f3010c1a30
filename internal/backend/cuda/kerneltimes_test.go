//go:build cuda || cudaemu

// Kernel timing on the backend: with -tags cudaemu on the emulator, with
// -tags cuda on the GPU (part of the gpu-check parity binary).

package cuda

import (
	"math"
	"strings"
	"testing"

	"simclr/internal/backend"
)

// countingDriver counts the timing-event calls reaching the driver.
type countingDriver struct {
	driver
	newEvents, records, elapseds int
}

func (c *countingDriver) newEvent() (event, error) { c.newEvents++; return c.driver.newEvent() }
func (c *countingDriver) record(ev event) error    { c.records++; return c.driver.record(ev) }
func (c *countingDriver) elapsed(s, e event) (float64, error) {
	c.elapseds++
	return c.driver.elapsed(s, e)
}

// newCountingBackend opens a fresh emulator backend whose driver counts
// event calls.
func newCountingBackend(t *testing.T) (*Backend, *countingDriver) {
	t.Helper()
	b, err := New("cuda")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	cd := &countingDriver{driver: b.drv}
	b.drv = cd
	return b, cd
}

// newFilled creates a tensor on b holding vals.
func newFilled(t *testing.T, b *Backend, vals []float32, shape ...int) *Tensor {
	t.Helper()
	x, err := b.New(shape...)
	if err != nil {
		t.Fatal(err)
	}
	if vals != nil {
		if err := b.Upload(x, vals); err != nil {
			t.Fatal(err)
		}
	}
	return x
}

func ramp(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i%7) - 3
	}
	return v
}

// convAndBN holds the tensors of one small conv forward and BN forward.
type convAndBN struct {
	x, w, y                                         *Tensor
	gamma, beta, bnY, mean, invStd, runMean, runVar *Tensor
}

func newConvAndBN(t *testing.T, b *Backend) *convAndBN {
	t.Helper()
	ones := []float32{1, 1, 1}
	return &convAndBN{
		x: newFilled(t, b, ramp(2*2*5*5), 2, 2, 5, 5), w: newFilled(t, b, ramp(3*2*3*3), 3, 2, 3, 3),
		y: newFilled(t, b, nil, 2, 3, 5, 5), gamma: newFilled(t, b, ones, 3), beta: newFilled(t, b, nil, 3),
		bnY: newFilled(t, b, nil, 2, 3, 5, 5), mean: newFilled(t, b, nil, 3), invStd: newFilled(t, b, nil, 3),
		runMean: newFilled(t, b, nil, 3), runVar: newFilled(t, b, ones, 3),
	}
}

func (o *convAndBN) conv(t *testing.T, b *Backend) {
	t.Helper()
	if err := b.Conv2DForward(o.x, o.w, o.y, backend.ConvParams{Stride: 1, Pad: 1}); err != nil {
		t.Fatal(err)
	}
}

func (o *convAndBN) bn(t *testing.T, b *Backend) {
	t.Helper()
	if err := b.BatchNormForwardTrain(o.y, o.gamma, o.beta, o.bnY, o.mean, o.invStd, o.runMean, o.runVar, 0.1, 1e-5); err != nil {
		t.Fatal(err)
	}
}

func kernelTimes(t *testing.T, b *Backend) []KernelTime {
	t.Helper()
	kts, err := b.KernelTimes()
	if err != nil {
		t.Fatalf("KernelTimes: %v", err)
	}
	return kts
}

// checkTimes checks that kts has exactly the wanted calls per kernel,
// finite positive times (every launch takes some time) and the largest
// total first.
func checkTimes(t *testing.T, kts []KernelTime, want map[string]int) {
	t.Helper()
	got := make(map[string]int)
	for i, kt := range kts {
		got[kt.Kernel] = kt.Calls
		if math.IsNaN(kt.TotalMs) || math.IsInf(kt.TotalMs, 0) || kt.TotalMs <= 0 {
			t.Errorf("%s: total %v ms, want a finite time > 0", kt.Kernel, kt.TotalMs)
		}
		if i > 0 && kts[i-1].TotalMs < kt.TotalMs {
			t.Errorf("not sorted by total: %s %v ms before %s %v ms", kts[i-1].Kernel, kts[i-1].TotalMs, kt.Kernel, kt.TotalMs)
		}
	}
	if len(got) != len(want) || len(kts) != len(want) {
		t.Errorf("kernel times %+v, want calls %v", kts, want)
		return
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d calls, want %d (all: %+v)", k, got[k], n, kts)
		}
	}
}

func TestKernelTimes(t *testing.T) {
	b, cd := newCountingBackend(t)
	ops := newConvAndBN(t, b)
	if kts := kernelTimes(t, b); len(kts) != 0 {
		t.Fatalf("timing is off by default, got %+v", kts)
	}
	ops.conv(t, b) // off: not counted

	b.EnableKernelTimes(true)
	ops.conv(t, b)
	ops.conv(t, b)
	ops.bn(t, b)
	// Two convolutions and one batch norm (four kernels: two partial
	// statistics passes, the per-channel finish, the apply).
	if cd.records != 12 || cd.elapseds != 0 {
		t.Errorf("6 timed launches made %d records and %d elapsed reads, want 12 and 0 (times are read lazily)", cd.records, cd.elapseds)
	}
	checkTimes(t, kernelTimes(t, b), map[string]int{"conv2d_fwd": 2, "bn_sum_partial": 1, "bn_sq_partial": 1, "bn_train_finish": 1, "bn_apply": 1})

	b.EnableKernelTimes(false)
	records := cd.records
	ops.conv(t, b)
	ops.bn(t, b)
	if cd.records != records {
		t.Errorf("launches with timing off recorded %d events", cd.records-records)
	}
	checkTimes(t, kernelTimes(t, b), map[string]int{"conv2d_fwd": 2, "bn_sum_partial": 1, "bn_sq_partial": 1, "bn_train_finish": 1, "bn_apply": 1})

	b.ResetKernelTimes()
	if kts := kernelTimes(t, b); len(kts) != 0 {
		t.Fatalf("after reset: %+v, want none", kts)
	}

	b.EnableKernelTimes(true)
	ops.bn(t, b)
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	if n := len(b.timer.pending); n != 0 {
		t.Errorf("Sync left %d launches uncollected", n)
	}
	checkTimes(t, kernelTimes(t, b), map[string]int{"bn_sum_partial": 1, "bn_sq_partial": 1, "bn_train_finish": 1, "bn_apply": 1})
}

// TestKernelTimesReuseEvents checks that repeated steps create no events
// after the first and that a long run without Sync keeps a bounded queue.
func TestKernelTimesReuseEvents(t *testing.T) {
	b, cd := newCountingBackend(t)
	ops := newConvAndBN(t, b)
	b.EnableKernelTimes(true)
	step := func() {
		ops.conv(t, b)
		ops.bn(t, b)
		if err := b.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	step()
	if cd.newEvents != 10 {
		t.Errorf("first step of 5 launches created %d events, want 10", cd.newEvents)
	}
	for range 5 {
		step()
	}
	if cd.newEvents != 10 {
		t.Errorf("6 steps created %d events, want the first step's 10", cd.newEvents)
	}
	checkTimes(t, kernelTimes(t, b), map[string]int{"conv2d_fwd": 6, "bn_sum_partial": 6, "bn_sq_partial": 6, "bn_train_finish": 6, "bn_apply": 6})

	b.EnableKernelTimes(false)
	x := newFilled(t, b, nil, 4) // New launches fill_f32: not timed
	b.ResetKernelTimes()
	b.EnableKernelTimes(true)
	const launches = maxPendingLaunches + 10
	for range launches {
		if err := b.Zero(x); err != nil {
			t.Fatal(err)
		}
		if n := len(b.timer.pending); n > maxPendingLaunches {
			t.Fatalf("%d launches pending, more than the bound %d", n, maxPendingLaunches)
		}
	}
	if cd.newEvents > 2*maxPendingLaunches+4 {
		t.Errorf("%d launches without Sync created %d events, want at most %d", launches, cd.newEvents, 2*maxPendingLaunches+4)
	}
	checkTimes(t, kernelTimes(t, b), map[string]int{"fill_f32": launches})
}

// TestKernelTimesLaunchError checks that a failed timed launch is not
// counted and gives its events back.
func TestKernelTimesLaunchError(t *testing.T) {
	b, _ := newCountingBackend(t)
	b.EnableKernelTimes(true)
	err := b.launch("test", "no_such_kernel", dim3{1, 1, 1}, block1D(), nil)
	if err == nil || !strings.Contains(err.Error(), "no kernel named no_such_kernel") {
		t.Fatalf("launch error %v, want one naming the missing kernel", err)
	}
	if len(b.timer.pending) != 0 || len(b.timer.free) != 2 {
		t.Errorf("after a failed launch: %d pending, %d free events; want 0 and 2", len(b.timer.pending), len(b.timer.free))
	}
	if kts := kernelTimes(t, b); len(kts) != 0 {
		t.Errorf("failed launch counted: %+v", kts)
	}
}
