//go:build cuda || cudaemu

package cuda

import (
	"fmt"
	"unsafe"
)

// dim3 is a CUDA grid or block shape.
type dim3 struct{ x, y, z int }

func (d dim3) String() string { return fmt.Sprintf("(%d,%d,%d)", d.x, d.y, d.z) }

// driver is what the backend needs from a device: memory, copies, kernel
// launches by name with 8-byte argument slots, and synchronisation. The
// cuda build implements it with gorgonia.org/cu, the cudaemu build with the
// CPU emulator.
type driver interface {
	// name describes the device, e.g. "NVIDIA H100 (sm_90)".
	name() string
	alloc(bytes int64) (uintptr, error)
	free(p uintptr) error
	htod(dst uintptr, src unsafe.Pointer, bytes int64) error
	dtoh(dst unsafe.Pointer, src uintptr, bytes int64) error
	dtod(dst, src uintptr, bytes int64) error
	// hasKernel reports whether the loaded kernel image has the named kernel.
	hasKernel(name string) bool
	// launch queues kernel over grid x block; args are 8-byte slots.
	launch(kernel string, grid, block dim3, args []uint64) error
	// launchShared is launch with sharedBytes of dynamic shared memory
	// (extern __shared__, DYNAMIC_SHARED in the kernels) per block; above
	// 48 KB the kernel's limit must first be raised with setMaxDynamicShared.
	launchShared(kernel string, grid, block dim3, sharedBytes int, args []uint64) error
	// setMaxDynamicShared sets the most dynamic shared memory a launch of
	// kernel may request (cuFuncSetAttribute with
	// CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES; up to 227 KB on sm_90).
	setMaxDynamicShared(kernel string, bytes int) error
	// newEvent creates a timing event; close destroys every event.
	newEvent() (event, error)
	// record queues ev on the stream: it completes when the work queued
	// before it has.
	record(ev event) error
	// elapsed waits until end has completed and returns the milliseconds
	// between the completions of start and end, both recorded.
	elapsed(start, end event) (float64, error)
	sync() error
	close() error

	// hostAlloc returns bytes of page-locked (pinned) host memory
	// (cuMemAllocHost), the only memory htodAsync copies from; hostFree
	// releases it (no copy from it may still be queued).
	hostAlloc(bytes int64) (unsafe.Pointer, error)
	hostFree(p unsafe.Pointer) error
	// htodAsync queues a copy of bytes from pinned src (inside a hostAlloc
	// block) to dst on the stream the kernels run on (cuMemcpyHtoDAsync):
	// kernels queued after it see the data; src must not be written until
	// a fence recorded after the copy has completed.
	htodAsync(dst uintptr, src unsafe.Pointer, bytes int64) error
	// newFence creates a completion marker without timing (an event with
	// CU_EVENT_DISABLE_TIMING); recordFence queues it on the stream and
	// waitFence blocks the host until the work queued before the last
	// recordFence has completed. close destroys every fence.
	newFence() (fence, error)
	recordFence(f fence) error
	waitFence(f fence) error
}

// ccDriver is implemented by a driver that knows its device's compute
// capability (the cuda driver, and the emulator as 9.0); a driver without
// it (the tests' launch counter) is taken to run every precision.
type ccDriver interface {
	computeCapability() (major, minor int)
}

// fence is a driver's completion marker, a handle from newFence.
type fence int

// placer is implemented by a driver that checks bounds (the emulator): the
// pool hands it the size actually requested, so the slack of the size
// class counts as out of bounds.
type placer interface {
	// place makes the last n bytes of block (from alloc) the live
	// allocation and returns its address; the bytes in front become out of
	// bounds and the n bytes are poisoned afresh.
	place(block uintptr, n int64) (uintptr, error)
	// unplace marks the live allocation at p (from place) freed: any access
	// is an error until its block is placed again.
	unplace(p uintptr)
}

// event is a driver's timing event, a handle from newEvent: an index into
// the driver's own table of events.
type event int

// DeviceInfo describes one device New can open.
type DeviceInfo struct {
	// Index is N in "cuda:N".
	Index int
	// Name is the device name.
	Name string
	// MemoryBytes is the total device memory (host memory for the emulator).
	MemoryBytes int64
	// ComputeCapability is e.g. "9.0" ("emulated" for the emulator).
	ComputeCapability string
}

func (d DeviceInfo) String() string {
	return fmt.Sprintf("cuda:%d %s (compute %s, %.1f GiB)", d.Index, d.Name, d.ComputeCapability, float64(d.MemoryBytes)/(1<<30))
}
