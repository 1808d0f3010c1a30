//go:build cudaemu

package cuda

/*
#cgo CXXFLAGS: -std=c++17 -O2
#cgo LDFLAGS: -lstdc++ -lpthread
#include <stdlib.h>
#include <string.h>
#include "emu.h"

// Device pointers travel as integers so Go never holds them as pointers.
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
// emu_kernels.cc. "Device" memory is host memory mapped by the emulator:
// every allocation exact-size, flush against a guard page and poisoned
// (see emu.h); copies are bounds-checked. Launches are synchronous, so a
// timing event is the host's monotonic clock read when it is recorded.
type emuDriver struct {
	mu     sync.Mutex
	ids    map[string]C.int
	allocs map[uintptr]int64
	stamps []time.Time // timing events: when each was last recorded (zero: never)

	// Asynchronous uploads. htodAsync only queues the copy (checked
	// against the pinned blocks and the destination's bounds); the queue is
	// performed, in order, before anything else reaches the emulator: a
	// launch, a synchronous copy, an allocation change, sync, waitFence,
	// hostFree. So a staging buffer rewritten before waiting on its fence
	// shows up as wrong data on the device, as it would on a GPU.
	qmu     sync.Mutex
	pinned  map[uintptr]int64 // hostAlloc blocks: start -> bytes
	pending []emuCopy
	fences  int
}

// emuCopy is one queued host-to-device copy.
type emuCopy struct {
	dst   uintptr
	src   unsafe.Pointer
	bytes int64
}

// flush performs the queued copies in order.
func (d *emuDriver) flush() {
	d.qmu.Lock()
	defer d.qmu.Unlock()
	for _, c := range d.pending {
		C.emu_htod(C.uintptr_t(c.dst), c.src, C.size_t(c.bytes))
	}
	d.pending = nil
}

func (d *emuDriver) hostAlloc(bytes int64) (unsafe.Pointer, error) {
	if bytes <= 0 {
		return nil, fmt.Errorf("emulator: pinned host allocation of %d bytes", bytes)
	}
	p := C.malloc(C.size_t(bytes))
	if p == nil {
		return nil, fmt.Errorf("emulator: out of host memory for %d pinned bytes", bytes)
	}
	d.qmu.Lock()
	d.pinned[uintptr(p)] = bytes
	d.qmu.Unlock()
	return p, nil
}

func (d *emuDriver) hostFree(p unsafe.Pointer) error {
	d.flush()
	d.qmu.Lock()
	defer d.qmu.Unlock()
	if _, ok := d.pinned[uintptr(p)]; !ok {
		return fmt.Errorf("emulator: hostFree of %p, which hostAlloc did not return (or freed twice)", p)
	}
	delete(d.pinned, uintptr(p))
	C.free(p)
	return nil
}

// pinnedLocked reports whether [p, p+n) lies inside one pinned block.
func (d *emuDriver) pinnedLocked(p unsafe.Pointer, n int64) bool {
	a := uintptr(p)
	for base, size := range d.pinned {
		if a >= base && n <= size && a-base <= uintptr(size-n) {
			return true
		}
	}
	return false
}

func (d *emuDriver) htodAsync(dst uintptr, src unsafe.Pointer, bytes int64) error {
	if err := d.check("asynchronous host-to-device copy", dst, bytes); err != nil {
		return err
	}
	if bytes == 0 {
		return nil
	}
	d.qmu.Lock()
	defer d.qmu.Unlock()
	if !d.pinnedLocked(src, bytes) {
		return fmt.Errorf("emulator: asynchronous host-to-device copy of %d bytes from %p, which is not pinned host memory from hostAlloc (a pageable source could change before the copy runs)", bytes, src)
	}
	d.pending = append(d.pending, emuCopy{dst, src, bytes})
	return nil
}

func (d *emuDriver) newFence() (fence, error) {
	d.qmu.Lock()
	defer d.qmu.Unlock()
	d.fences++
	return fence(d.fences - 1), nil
}

func (d *emuDriver) checkFence(f fence) error {
	d.qmu.Lock()
	defer d.qmu.Unlock()
	if f < 0 || int(f) >= d.fences {
		return fmt.Errorf("emulator: unknown fence %d", f)
	}
	return nil
}

// recordFence only checks the handle: the fence completes when the queue
// before it is performed, which waitFence forces.
func (d *emuDriver) recordFence(f fence) error { return d.checkFence(f) }

func (d *emuDriver) waitFence(f fence) error {
	if err := d.checkFence(f); err != nil {
		return err
	}
	d.flush()
	return nil
}

func openDriver(index int) (driver, error) {
	if index != 0 {
		return nil, fmt.Errorf("cuda: device cuda:%d not found; the emulator (build tag cudaemu) has only cuda:0", index)
	}
	d := &emuDriver{ids: make(map[string]C.int), allocs: make(map[uintptr]int64), pinned: make(map[uintptr]int64)}
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

// computeCapability: the emulator implements the sm_90 feature set the
// kernels use (mma.sync, ldmatrix, cp.async), so it counts as 9.0.
func (d *emuDriver) computeCapability() (major, minor int) { return 9, 0 }

func (d *emuDriver) alloc(bytes int64) (uintptr, error) {
	d.flush()
	if bytes < 0 {
		return 0, fmt.Errorf("emulator: alloc of a negative size %d", bytes)
	}
	u := uintptr(C.emu_mem_alloc(C.size_t(bytes)))
	if u == 0 {
		return 0, fmt.Errorf("emulator: out of host memory for a %d-byte device allocation", bytes)
	}
	d.mu.Lock()
	d.allocs[u] = bytes
	d.mu.Unlock()
	return u, nil
}

func (d *emuDriver) free(p uintptr) error {
	d.flush()
	d.mu.Lock()
	_, ok := d.allocs[p]
	delete(d.allocs, p)
	d.mu.Unlock()
	if !ok || C.emu_mem_free(C.uintptr_t(p)) != 0 {
		return fmt.Errorf("emulator: free of unknown pointer %#x", p)
	}
	return nil
}

// place implements placer: the live allocation becomes the last n bytes of
// block, so the pool's size-class slack is out of bounds.
func (d *emuDriver) place(block uintptr, n int64) (uintptr, error) {
	d.flush()
	u := uintptr(C.emu_mem_place(C.uintptr_t(block), C.size_t(n)))
	if u == 0 {
		return 0, fmt.Errorf("emulator: cannot place %d bytes in block %#x (unknown block or too small)", n, block)
	}
	return u, nil
}

// unplace implements placer: p's block stays mapped but inaccessible.
func (d *emuDriver) unplace(p uintptr) {
	d.flush()
	C.emu_mem_unplace(C.uintptr_t(p))
}

// check fails unless [p, p+n) lies inside one live allocation.
func (d *emuDriver) check(what string, p uintptr, n int64) error {
	if n == 0 {
		return nil
	}
	var msg [256]C.char
	if C.emu_mem_check(C.uintptr_t(p), C.size_t(n), &msg[0], C.int(len(msg))) != 0 {
		return fmt.Errorf("emulator: %s of %d bytes: %s", what, n, C.GoString(&msg[0]))
	}
	return nil
}

func (d *emuDriver) htod(dst uintptr, src unsafe.Pointer, bytes int64) error {
	d.flush()
	if err := d.check("host-to-device copy", dst, bytes); err != nil {
		return err
	}
	C.emu_htod(C.uintptr_t(dst), src, C.size_t(bytes))
	return nil
}

func (d *emuDriver) dtoh(dst unsafe.Pointer, src uintptr, bytes int64) error {
	d.flush()
	if err := d.check("device-to-host copy", src, bytes); err != nil {
		return err
	}
	C.emu_dtoh(dst, C.uintptr_t(src), C.size_t(bytes))
	return nil
}

func (d *emuDriver) dtod(dst, src uintptr, bytes int64) error {
	d.flush()
	if err := d.check("device-to-device copy (source)", src, bytes); err != nil {
		return err
	}
	if err := d.check("device-to-device copy (destination)", dst, bytes); err != nil {
		return err
	}
	C.emu_dtod(C.uintptr_t(dst), C.uintptr_t(src), C.size_t(bytes))
	return nil
}

func (d *emuDriver) hasKernel(name string) bool {
	_, ok := d.ids[name]
	return ok
}

func (d *emuDriver) launch(kernel string, grid, block dim3, a []uint64) error {
	return d.launchShared(kernel, grid, block, 0, a)
}

func (d *emuDriver) launchShared(kernel string, grid, block dim3, sharedBytes int, a []uint64) error {
	id, ok := d.ids[kernel]
	if !ok {
		return fmt.Errorf("emulator: no kernel named %s", kernel)
	}
	return d.launchID(id, grid, block, sharedBytes, a)
}

// launchFault launches one of the emulator's own broken test kernels
// (emu_faults.h), which the backend's registry does not hold.
func (d *emuDriver) launchFault(kernel string, grid, block dim3, sharedBytes int, a []uint64) error {
	d.flush()
	cs := C.CString(kernel)
	defer C.free(unsafe.Pointer(cs))
	id := C.emu_fault_kernel_id(cs)
	if id < 0 {
		return fmt.Errorf("emulator: no test kernel named %s in emu_faults.h", kernel)
	}
	return d.launchID(id, grid, block, sharedBytes, a)
}

// setFaultMaxDynamicShared is setMaxDynamicShared for a test kernel.
func (d *emuDriver) setFaultMaxDynamicShared(kernel string, bytes int) error {
	cs := C.CString(kernel)
	defer C.free(unsafe.Pointer(cs))
	id := C.emu_fault_kernel_id(cs)
	if id < 0 {
		return fmt.Errorf("emulator: no test kernel named %s in emu_faults.h", kernel)
	}
	return d.setMaxDynamicSharedID(kernel, id, bytes)
}

func (d *emuDriver) setMaxDynamicShared(kernel string, bytes int) error {
	id, ok := d.ids[kernel]
	if !ok {
		return fmt.Errorf("emulator: no kernel named %s", kernel)
	}
	return d.setMaxDynamicSharedID(kernel, id, bytes)
}

func (d *emuDriver) setMaxDynamicSharedID(kernel string, id C.int, bytes int) error {
	if bytes < 0 || bytes > 1<<30 {
		return fmt.Errorf("emulator: kernel %s: max dynamic shared memory %d bytes out of range", kernel, bytes)
	}
	var msg [512]C.char
	if C.emu_set_max_dynamic_shared(id, C.int(bytes), &msg[0], C.int(len(msg))) != 0 {
		return errors.New("emulator: " + C.GoString(&msg[0]))
	}
	return nil
}

func (d *emuDriver) launchID(id C.int, grid, block dim3, sharedBytes int, a []uint64) error {
	d.flush()
	if sharedBytes < 0 || sharedBytes > 1<<30 {
		return fmt.Errorf("emulator: dynamic shared memory of %d bytes out of range", sharedBytes)
	}
	for _, v := range []int{grid.x, grid.y, grid.z, block.x, block.y, block.z} {
		if v < 0 || v > 1<<32-1 {
			return fmt.Errorf("emulator: invalid launch grid %v block %v", grid, block)
		}
	}
	slots := (*C.uint64_t)(C.malloc(C.size_t(max(len(a), 1) * 8)))
	defer C.free(unsafe.Pointer(slots))
	copy(unsafe.Slice((*uint64)(unsafe.Pointer(slots)), max(len(a), 1)), a)
	var msg [1024]C.char
	rc := C.emu_launch(id, C.uint(grid.x), C.uint(grid.y), C.uint(grid.z), C.uint(block.x), C.uint(block.y), C.uint(block.z),
		C.uint(sharedBytes), slots, C.int(len(a)), &msg[0], C.int(len(msg)))
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

func (d *emuDriver) sync() error { d.flush(); return nil }

func (d *emuDriver) close() error {
	d.flush()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stamps = nil
	return nil
}

// launchBound returns the __launch_bounds__ the emulator's registry read
// for kernel (0: none), or -1 for an unknown kernel.
func (d *emuDriver) launchBound(kernel string) int {
	id, ok := d.ids[kernel]
	if !ok {
		return -1
	}
	return int(C.emu_kernel_launch_bound(id))
}

// emuFPContract reports whether the emulator was built to contract a*b+c
// into FMAs (make test-cudaemu-fma).
func emuFPContract() bool { return C.emu_fp_contract() != 0 }

// emuKernelsHash is the SHA-256 of kernels/*.cu{,h} the emulator was built
// from (see kernels/build.sh emu-hash).
func emuKernelsHash() string { return C.GoString(C.emu_kernels_hash()) }
