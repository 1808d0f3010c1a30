//go:build cudaemu

package cuda

/*
#cgo CXXFLAGS: -std=c++17 -O2
#cgo LDFLAGS: -lstdc++ -lpthread
#include <stdlib.h>
#include <string.h>
#include "emu.h"

// Device pointers travel as integers so Go never holds them as pointers.
static uintptr_t emu_alloc(size_t n) { return (uintptr_t)calloc(1, n); }
static void emu_free(uintptr_t p) { free((void*)p); }
static void emu_htod(uintptr_t dst, const void* src, size_t n) { memcpy((void*)dst, src, n); }
static void emu_dtoh(void* dst, uintptr_t src, size_t n) { memcpy(dst, (const void*)src, n); }
static void emu_dtod(uintptr_t dst, uintptr_t src, size_t n) { memmove((void*)dst, (const void*)src, n); }
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// emuDriver runs the kernels on the CPU through the emulator compiled from
// emu_kernels.cc. "Device" memory is C heap memory; launches are
// synchronous, so a timing event is the host's monotonic clock read when
// it is recorded.
type emuDriver struct {
	mu     sync.Mutex
	ids    map[string]C.int
	allocs map[uintptr]int64
	stamps []time.Time // timing events: when each was last recorded (zero: never)
}

func openDriver(index int) (driver, error) {
	if index != 0 {
		return nil, fmt.Errorf("cuda: device cuda:%d not found; the emulator (build tag cudaemu) has only cuda:0", index)
	}
	d := &emuDriver{ids: make(map[string]C.int), allocs: make(map[uintptr]int64)}
	for i := C.int(0); i < C.emu_kernel_count(); i++ {
		d.ids[C.GoString(C.emu_kernel_name(i))] = i
	}
	return d, nil
}

// Devices lists the emulated device.
func Devices() ([]DeviceInfo, error) {
	return []DeviceInfo{{Index: 0, Name: fmt.Sprintf("CUDA emulator on %d CPU threads", runtime.NumCPU()), ComputeCapability: "emulated"}}, nil
}

func (d *emuDriver) name() string { return "CUDA emulator (cudaemu)" }

func (d *emuDriver) alloc(bytes int64) (uintptr, error) {
	u := uintptr(C.emu_alloc(C.size_t(bytes)))
	if u == 0 {
		return 0, errors.New("emulator: out of host memory")
	}
	d.mu.Lock()
	d.allocs[u] = bytes
	d.mu.Unlock()
	return u, nil
}

func (d *emuDriver) free(p uintptr) error {
	d.mu.Lock()
	_, ok := d.allocs[p]
	delete(d.allocs, p)
	d.mu.Unlock()
	if !ok {
		return fmt.Errorf("emulator: free of unknown pointer %#x", p)
	}
	C.emu_free(C.uintptr_t(p))
	return nil
}

func (d *emuDriver) htod(dst uintptr, src unsafe.Pointer, bytes int64) error {
	C.emu_htod(C.uintptr_t(dst), src, C.size_t(bytes))
	return nil
}

func (d *emuDriver) dtoh(dst unsafe.Pointer, src uintptr, bytes int64) error {
	C.emu_dtoh(dst, C.uintptr_t(src), C.size_t(bytes))
	return nil
}

func (d *emuDriver) dtod(dst, src uintptr, bytes int64) error {
	C.emu_dtod(C.uintptr_t(dst), C.uintptr_t(src), C.size_t(bytes))
	return nil
}

func (d *emuDriver) hasKernel(name string) bool {
	_, ok := d.ids[name]
	return ok
}

func (d *emuDriver) launch(kernel string, grid, block dim3, a []uint64) error {
	id, ok := d.ids[kernel]
	if !ok {
		return fmt.Errorf("emulator: no kernel named %s", kernel)
	}
	slots := (*C.uint64_t)(C.malloc(C.size_t(max(len(a), 1) * 8)))
	defer C.free(unsafe.Pointer(slots))
	copy(unsafe.Slice((*uint64)(unsafe.Pointer(slots)), max(len(a), 1)), a)
	var msg [512]C.char
	rc := C.emu_launch(id, C.uint(grid.x), C.uint(grid.y), C.uint(grid.z), C.uint(block.x), C.uint(block.y), C.uint(block.z),
		0, slots, C.int(len(a)), &msg[0], C.int(len(msg)))
	if rc != 0 {
		return errors.New("emulator: " + C.GoString(&msg[0]))
	}
	return nil
}

func (d *emuDriver) newEvent() (event, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stamps = append(d.stamps, time.Time{})
	return event(len(d.stamps) - 1), nil
}

func (d *emuDriver) record(ev event) error {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if ev < 0 || int(ev) >= len(d.stamps) {
		return fmt.Errorf("emulator: unknown timing event %d", ev)
	}
	d.stamps[ev] = now
	return nil
}

// elapsed returns the monotonic time between the two recordings; like
// cuEventElapsedTime it fails for an event never recorded.
func (d *emuDriver) elapsed(start, end event) (float64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var t [2]time.Time
	for i, ev := range []event{start, end} {
		if ev < 0 || int(ev) >= len(d.stamps) {
			return 0, fmt.Errorf("emulator: unknown timing event %d", ev)
		}
		if d.stamps[ev].IsZero() {
			return 0, fmt.Errorf("emulator: timing event %d was never recorded", ev)
		}
		t[i] = d.stamps[ev]
	}
	return float64(t[1].Sub(t[0]).Nanoseconds()) / 1e6, nil
}

func (d *emuDriver) sync() error { return nil }

func (d *emuDriver) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stamps = nil
	return nil
}

// emuKernelsHash is the SHA-256 of kernels/*.cu{,h} the emulator was built
// from (see kernels/build.sh emu-hash).
func emuKernelsHash() string { return C.GoString(C.emu_kernels_hash()) }
