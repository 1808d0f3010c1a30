//go:build cuda

package cuda

/*
#include <cuda.h>

// set_max_dyn_smem raises a kernel's dynamic shared memory limit.
static CUresult set_max_dyn_smem(CUfunction f, int bytes) {
	return cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes);
}

// alloc_host allocates pinned host memory (gorgonia.org/cu v0.9.6 wraps
// cuMemFreeHost but not cuMemAllocHost).
static CUresult alloc_host(void** p, size_t bytes) { return cuMemAllocHost(p, bytes); }
*/
import "C"

import (
	_ "embed" // the kernel image
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	// probe must come first: its C constructor checks for a CUDA device
	// before gorgonia.org/cu's init would exit the process without a
	// useful message.
	_ "simclr/internal/backend/cuda/driverprobe"

	"gorgonia.org/cu"

	"simclr/internal/backend/cuda/internal/kernelhash"
)

// fatbin is kernels/build/simclr.fatbin, copied here by kernels/build.sh.
//
//go:embed simclr.fatbin
var fatbin string

// cuDriver runs on a real device through gorgonia.org/cu. A CUDA context is
// bound to an OS thread, so every call locks the goroutine to its thread
// and makes the context current; mu serialises the calls.
type cuDriver struct {
	mu      sync.Mutex
	dev     cu.Device
	ctx     cu.CUContext
	mod     cu.Module
	stream  cu.Stream
	done    cu.Event
	events  []cu.Event // timing events, indexed by event
	fences  []cu.Event // completion markers without timing, indexed by fence
	fns     map[string]cu.Function
	devName string
	ccMajor int
	ccMinor int
}

// do runs fn with the driver's context current on a locked OS thread.
func (d *cuDriver) do(fn func() error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cu.SetCurrentContext(d.ctx); err != nil {
		return fmt.Errorf("cuda: make context current: %w", err)
	}
	return fn()
}

func openDriver(index int) (driver, error) {
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("cuda: count devices: %w", err)
	}
	if index >= n {
		return nil, fmt.Errorf("cuda: device cuda:%d not found (%d device(s)); use cuda:0..cuda:%d or --device cpu", index, n, n-1)
	}
	if len(fatbin) == 0 {
		return nil, errors.New("cuda: the embedded kernel image is empty; run kernels/build.sh and rebuild with -tags cuda")
	}
	// A stale image is refused before any context exists; the device
	// global is checked again after loading (checkKernelHash).
	if h, found, err := kernelhash.FromImage([]byte(fatbin)); err != nil {
		return nil, fmt.Errorf("cuda: %w", err)
	} else if found {
		if err := kernelhash.Compare(h, kernelhash.Sources); err != nil {
			return nil, fmt.Errorf("cuda: %w", err)
		}
	}
	dev, err := cu.GetDevice(index)
	if err != nil {
		return nil, fmt.Errorf("cuda: get device %d: %w", index, err)
	}
	d := &cuDriver{dev: dev, fns: make(map[string]cu.Function)}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if d.ctx, err = dev.MakeContext(cu.SchedAuto); err != nil {
		return nil, fmt.Errorf("cuda: create context on cuda:%d: %w", index, err)
	}
	fail := func(what string, err error) (driver, error) {
		d.ctx.Destroy()
		return nil, fmt.Errorf("cuda: %s on cuda:%d: %w", what, index, err)
	}
	if d.mod, err = cu.LoadFatBinary(fatbin); err != nil {
		return fail("load the kernel image (built for sm_70..sm_90; rebuild kernels/build.sh with ARCHS for this GPU)", err)
	}
	if err := d.checkKernelHash(); err != nil {
		d.mod.Unload()
		d.ctx.Destroy()
		return nil, fmt.Errorf("cuda: cuda:%d: %w", index, err)
	}
	for _, k := range kernelNames {
		f, err := d.mod.Function(k)
		if err != nil {
			continue // New reports the missing kernel by name
		}
		d.fns[k] = f
	}
	if d.stream, err = cu.MakeStream(cu.DefaultStream); err != nil {
		return fail("create stream", err)
	}
	if d.done, err = cu.MakeEvent(cu.DisableTiming); err != nil {
		return fail("create event", err)
	}
	name, _ := dev.Name()
	major, minor, _ := dev.ComputeCapability()
	d.devName = fmt.Sprintf("%s (sm_%d%d)", name, major, minor)
	d.ccMajor, d.ccMinor = major, minor
	return d, nil
}

// checkKernelHash reads the simclr_kernels_sha256 global of the loaded
// module (the hash of the kernel sources the fatbin was compiled from) and
// compares it with the hash this binary was built with. The context must
// be current.
func (d *cuDriver) checkKernelHash() error {
	ptr, size, err := d.mod.Global(kernelhash.Global)
	if err != nil {
		return fmt.Errorf("the kernel image has no %s global (built by an older kernels/build.sh?): %w; %s",
			kernelhash.Global, err, kernelhash.Fix)
	}
	if size <= 0 || size > 4096 {
		return fmt.Errorf("the kernel image's %s global has %d bytes, want %d; %s",
			kernelhash.Global, size, len(kernelhash.Marker)+65, kernelhash.Fix)
	}
	buf := make([]byte, size)
	if err := cu.MemcpyDtoH(unsafe.Pointer(&buf[0]), ptr, size); err != nil {
		return fmt.Errorf("read the kernel image's %s global: %w", kernelhash.Global, err)
	}
	h, err := kernelhash.FromGlobal(buf)
	if err != nil {
		return err
	}
	return kernelhash.Compare(h, kernelhash.Sources)
}

// Devices lists the CUDA devices.
func Devices() ([]DeviceInfo, error) {
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("cuda: count devices: %w", err)
	}
	out := make([]DeviceInfo, 0, n)
	for i := 0; i < n; i++ {
		dev, err := cu.GetDevice(i)
		if err != nil {
			return nil, fmt.Errorf("cuda: get device %d: %w", i, err)
		}
		name, _ := dev.Name()
		major, minor, _ := dev.ComputeCapability()
		mem, _ := dev.TotalMem()
		out = append(out, DeviceInfo{Index: i, Name: name, MemoryBytes: mem, ComputeCapability: fmt.Sprintf("%d.%d", major, minor)})
	}
	return out, nil
}

func (d *cuDriver) name() string { return d.devName }

func (d *cuDriver) computeCapability() (major, minor int) { return d.ccMajor, d.ccMinor }

func (d *cuDriver) alloc(bytes int64) (uintptr, error) {
	var p cu.DevicePtr
	err := d.do(func() (err error) { p, err = cu.MemAlloc(bytes); return err })
	return uintptr(p), err
}

func (d *cuDriver) free(p uintptr) error {
	return d.do(func() error { return cu.MemFree(cu.DevicePtr(p)) })
}

// htod, dtoh and dtod use the legacy default stream, which orders them
// after the kernels queued on d.stream (a blocking stream).
func (d *cuDriver) htod(dst uintptr, src unsafe.Pointer, bytes int64) error {
	return d.do(func() error { return cu.MemcpyHtoD(cu.DevicePtr(dst), src, bytes) })
}

func (d *cuDriver) dtoh(dst unsafe.Pointer, src uintptr, bytes int64) error {
	return d.do(func() error { return cu.MemcpyDtoH(dst, cu.DevicePtr(src), bytes) })
}

func (d *cuDriver) dtod(dst, src uintptr, bytes int64) error {
	return d.do(func() error { return cu.MemcpyDtoD(cu.DevicePtr(dst), cu.DevicePtr(src), bytes) })
}

func (d *cuDriver) hasKernel(name string) bool {
	_, ok := d.fns[name]
	return ok
}

func (d *cuDriver) launch(kernel string, grid, block dim3, a []uint64) error {
	return d.launchShared(kernel, grid, block, 0, a)
}

// setMaxDynamicShared calls cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES):
// gorgonia.org/cu v0.9.6 has no setter for function attributes, so the
// CUfunction handle is read out of cu.Function (a struct holding only it).
func (d *cuDriver) setMaxDynamicShared(kernel string, bytes int) error {
	f, ok := d.fns[kernel]
	if !ok {
		return fmt.Errorf("no kernel named %s in the kernel image", kernel)
	}
	if unsafe.Sizeof(f) != unsafe.Sizeof(C.CUfunction(nil)) {
		return errors.New("cuda: gorgonia.org/cu's Function layout changed; update setMaxDynamicShared")
	}
	fn := *(*C.CUfunction)(unsafe.Pointer(&f))
	return d.do(func() error {
		if r := C.set_max_dyn_smem(fn, C.int(bytes)); r != C.CUDA_SUCCESS {
			return fmt.Errorf("cuda: kernel %s: set max dynamic shared memory to %d bytes: CUresult %d", kernel, bytes, int(r))
		}
		return nil
	})
}

func (d *cuDriver) launchShared(kernel string, grid, block dim3, sharedBytes int, a []uint64) error {
	f, ok := d.fns[kernel]
	if !ok {
		return fmt.Errorf("no kernel named %s in the kernel image", kernel)
	}
	params := make([]unsafe.Pointer, len(a))
	for i := range a {
		params[i] = unsafe.Pointer(&a[i])
	}
	return d.do(func() error {
		return f.Launch(grid.x, grid.y, grid.z, block.x, block.y, block.z, sharedBytes, d.stream, params)
	})
}

// newEvent creates an event with timing enabled (cu.DefaultEvent).
func (d *cuDriver) newEvent() (event, error) {
	var ev event
	err := d.do(func() error {
		e, err := cu.MakeEvent(cu.DefaultEvent)
		if err != nil {
			return fmt.Errorf("create timing event: %w", err)
		}
		d.events = append(d.events, e)
		ev = event(len(d.events) - 1)
		return nil
	})
	return ev, err
}

// eventLocked returns the event of handle ev; d.mu must be held.
func (d *cuDriver) eventLocked(ev event) (cu.Event, error) {
	if ev < 0 || int(ev) >= len(d.events) {
		return cu.Event{}, fmt.Errorf("unknown timing event %d", ev)
	}
	return d.events[ev], nil
}

func (d *cuDriver) record(ev event) error {
	return d.do(func() error {
		e, err := d.eventLocked(ev)
		if err != nil {
			return err
		}
		if err := e.Record(d.stream); err != nil {
			return fmt.Errorf("record timing event %d: %w", ev, err)
		}
		return nil
	})
}

// elapsed waits for end on the host (not for the rest of the stream) and
// reads the device's time between the two events.
func (d *cuDriver) elapsed(start, end event) (float64, error) {
	var ms float64
	err := d.do(func() error {
		s, err := d.eventLocked(start)
		if err != nil {
			return err
		}
		e, err := d.eventLocked(end)
		if err != nil {
			return err
		}
		if err := e.Synchronize(); err != nil {
			return fmt.Errorf("wait for timing event %d: %w", end, err)
		}
		if ms, err = s.Elapsed(e); err != nil {
			return fmt.Errorf("elapsed time between events %d and %d: %w", start, end, err)
		}
		return nil
	})
	return ms, err
}

// sync records an event after the queued work and waits for it.
func (d *cuDriver) sync() error {
	return d.do(func() error {
		if err := d.done.Record(d.stream); err != nil {
			return err
		}
		return d.done.Synchronize()
	})
}

func (d *cuDriver) close() error {
	return d.do(func() error {
		errs := []error{cu.DestroyEvent(&d.done)}
		for i := range d.events {
			errs = append(errs, cu.DestroyEvent(&d.events[i]))
		}
		for i := range d.fences {
			errs = append(errs, cu.DestroyEvent(&d.fences[i]))
		}
		d.events, d.fences = nil, nil
		return errors.Join(append(errs, d.stream.Destroy(), d.mod.Unload(), d.ctx.Destroy())...)
	})
}

func (d *cuDriver) hostAlloc(bytes int64) (unsafe.Pointer, error) {
	var p unsafe.Pointer
	err := d.do(func() error {
		if r := C.alloc_host(&p, C.size_t(bytes)); r != C.CUDA_SUCCESS {
			return fmt.Errorf("cuda: allocate %d bytes of pinned host memory (cuMemAllocHost): CUresult %d", bytes, int(r))
		}
		return nil
	})
	return p, err
}

func (d *cuDriver) hostFree(p unsafe.Pointer) error {
	return d.do(func() error { return cu.MemFreeHost(p) })
}

// htodAsync queues the copy on d.stream, in order with the kernels.
func (d *cuDriver) htodAsync(dst uintptr, src unsafe.Pointer, bytes int64) error {
	return d.do(func() error { return cu.MemcpyHtoDAsync(cu.DevicePtr(dst), src, bytes, d.stream) })
}

func (d *cuDriver) newFence() (fence, error) {
	var f fence
	err := d.do(func() error {
		e, err := cu.MakeEvent(cu.DisableTiming)
		if err != nil {
			return fmt.Errorf("create fence event: %w", err)
		}
		d.fences = append(d.fences, e)
		f = fence(len(d.fences) - 1)
		return nil
	})
	return f, err
}

func (d *cuDriver) fenceLocked(f fence) (cu.Event, error) {
	if f < 0 || int(f) >= len(d.fences) {
		return cu.Event{}, fmt.Errorf("unknown fence %d", f)
	}
	return d.fences[f], nil
}

func (d *cuDriver) recordFence(f fence) error {
	return d.do(func() error {
		e, err := d.fenceLocked(f)
		if err != nil {
			return err
		}
		return e.Record(d.stream)
	})
}

func (d *cuDriver) waitFence(f fence) error {
	return d.do(func() error {
		e, err := d.fenceLocked(f)
		if err != nil {
			return err
		}
		return e.Synchronize()
	})
}
