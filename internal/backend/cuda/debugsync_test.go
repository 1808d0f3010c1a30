//go:build cuda || cudaemu

package cuda

import (
	"errors"
	"strings"
	"testing"

	"simclr/internal/backend"
)

// seqDriver logs the launches and syncs reaching the driver, in order, and
// can fail the syncs as a device fault would.
type seqDriver struct {
	driver
	log     []string
	syncErr error
}

func (s *seqDriver) launch(kernel string, grid, block dim3, a []uint64) error {
	s.log = append(s.log, "launch "+kernel)
	return s.driver.launch(kernel, grid, block, a)
}

func (s *seqDriver) launchShared(kernel string, grid, block dim3, sharedBytes int, a []uint64) error {
	s.log = append(s.log, "launch "+kernel)
	return s.driver.launchShared(kernel, grid, block, sharedBytes, a)
}

func (s *seqDriver) sync() error {
	s.log = append(s.log, "sync")
	if s.syncErr != nil {
		return s.syncErr
	}
	return s.driver.sync()
}

func newSeqBackend(t *testing.T) (*Backend, *seqDriver) {
	t.Helper()
	b, err := New("cuda")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.drv.(*seqDriver).syncErr = nil
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	sd := &seqDriver{driver: b.drv}
	b.drv = sd
	return b, sd
}

func TestDebugSync(t *testing.T) {
	b, sd := newSeqBackend(t)
	ops := newConvAndBN(t, b)
	if b.DebugSync() {
		t.Fatal("debug sync is on by default")
	}
	sd.log = nil
	ops.conv(t, b)
	ops.bn(t, b)
	if got, want := strings.Join(sd.log, ", "), "launch conv2d_fwd, launch bn_sum_partial, launch bn_sq_partial, launch bn_train_finish, launch bn_apply"; got != want {
		t.Errorf("debug sync off: driver calls %q, want %q (no sync per launch)", got, want)
	}

	b.EnableDebugSync(true)
	sd.log = nil
	ops.conv(t, b)
	ops.bn(t, b)
	if got, want := strings.Join(sd.log, ", "), "launch conv2d_fwd, sync, launch bn_sum_partial, sync, launch bn_sq_partial, sync, launch bn_train_finish, sync, launch bn_apply, sync"; got != want {
		t.Errorf("debug sync on: driver calls %q, want %q (a sync after every launch)", got, want)
	}

	// With kernel timing on too: still one sync after each launch.
	b.EnableKernelTimes(true)
	sd.log = nil
	ops.conv(t, b)
	if got, want := strings.Join(sd.log, ", "), "launch conv2d_fwd, sync"; got != want {
		t.Errorf("debug sync and kernel times: driver calls %q, want %q", got, want)
	}
	b.EnableKernelTimes(false)

	// A fault surfacing at the sync is reported against the op and kernel.
	fault := errors.New("CUDA_ERROR_ILLEGAL_ADDRESS")
	sd.syncErr = fault
	err := b.Conv2DForward(ops.x, ops.w, ops.y, backend.ConvParams{Stride: 1, Pad: 1})
	if !errors.Is(err, fault) {
		t.Fatalf("Conv2DForward with a faulting sync: %v, want the fault", err)
	}
	t.Logf("a fault at the debug sync reads: %v", err)
	for _, want := range []string{"conv2d", "kernel conv2d_fwd", "debug sync", "[2 2 5 5]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}

	b.EnableDebugSync(false)
	sd.log = nil
	if err := b.Conv2DForward(ops.x, ops.w, ops.y, backend.ConvParams{Stride: 1, Pad: 1}); err != nil {
		t.Errorf("debug sync off: the launch waited for the device: %v", err)
	}
	if len(sd.log) != 1 {
		t.Errorf("debug sync off: driver calls %q, want the launch only", sd.log)
	}
}

func TestDebugSyncEnv(t *testing.T) {
	for _, tt := range []struct {
		value string
		on    bool
	}{{"1", true}, {"true", true}, {"0", false}, {"", false}} {
		t.Setenv(SyncEnv, tt.value)
		b, err := New("cuda")
		if err != nil {
			t.Fatalf("%s=%q: %v", SyncEnv, tt.value, err)
		}
		if b.DebugSync() != tt.on {
			t.Errorf("%s=%q: debug sync %v, want %v", SyncEnv, tt.value, b.DebugSync(), tt.on)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(SyncEnv, "yes please")
	if b, err := New("cuda"); err == nil {
		b.Close()
		t.Fatalf("%s=\"yes please\": want an error", SyncEnv)
	} else if !strings.Contains(err.Error(), SyncEnv) || !strings.Contains(err.Error(), "1") {
		t.Errorf("error %q does not name %s and the values it takes", err, SyncEnv)
	}
}
