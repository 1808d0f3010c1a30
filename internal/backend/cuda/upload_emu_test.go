//go:build cudaemu

package cuda

import (
	"strings"
	"testing"
	"unsafe"
)

// TestEmuAsyncCopyRules: the emulator holds the staging rules that make
// the upload tests able to fail. An asynchronous copy from memory that is
// not pinned is refused; a queued copy reads its source when the queue
// runs, so a staging buffer rewritten before waiting on its fence lands on
// the device with the new bytes (the bug Upload's fence wait prevents),
// while waiting on the fence first keeps the queued values.
func TestEmuAsyncCopyRules(t *testing.T) {
	b, _ := newCountingBackend(t)
	d := b.drv
	x := newFilled(t, b, nil, 4)
	goMem := []float32{1, 2, 3, 4}
	err := d.htodAsync(x.Dev, unsafe.Pointer(&goMem[0]), 16)
	if err == nil || !strings.Contains(err.Error(), "not pinned") {
		t.Fatalf("async copy from Go memory: %v, want a refusal naming pinned memory", err)
	}

	p, err := d.hostAlloc(16)
	if err != nil {
		t.Fatal(err)
	}
	stage := unsafe.Slice((*float32)(p), 4)
	f, err := d.newFence()
	if err != nil {
		t.Fatal(err)
	}
	enqueue := func(vals []float32) {
		t.Helper()
		copy(stage, vals)
		if err := d.htodAsync(x.Dev, p, 16); err != nil {
			t.Fatal(err)
		}
		if err := d.recordFence(f); err != nil {
			t.Fatal(err)
		}
	}

	// Rewritten without waiting: the device gets the later bytes.
	enqueue([]float32{1, 2, 3, 4})
	copy(stage, []float32{9, 9, 9, 9})
	sameValues(t, "rewritten before the fence", downloadTensor(t, b, x), []float32{9, 9, 9, 9})

	// Waited on the fence first: the device keeps the queued bytes.
	enqueue([]float32{5, 6, 7, 8})
	if err := d.waitFence(f); err != nil {
		t.Fatal(err)
	}
	copy(stage, []float32{0, 0, 0, 0})
	sameValues(t, "rewritten after the fence", downloadTensor(t, b, x), []float32{5, 6, 7, 8})

	if err := d.hostFree(p); err != nil {
		t.Fatal(err)
	}
	if err := d.hostFree(p); err == nil {
		t.Error("second hostFree of the same block succeeded")
	}
}
