//go:build cuda || cudaemu

package cuda

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"simclr/internal/backend"
)

// KernelTime is the device time of one kernel (see Backend.KernelTimes).
type KernelTime = backend.KernelTime

var _ backend.KernelTimer = (*Backend)(nil)

// maxPendingLaunches bounds the timed launches whose times are not yet
// collected. When a launch would exceed it, the older half is collected
// first: that waits only for launches queued long ago, so the device keeps
// a queue of work. Backends that Sync once per step never reach it.
const maxPendingLaunches = 1024

// timedLaunch is one launch between two recorded events.
type timedLaunch struct {
	kernel      string
	start, stop event
}

// kernelTimer times kernel launches with driver events while on is set.
// Elapsed times are read lazily (Sync, KernelTimes), never per launch, and
// events are reused, so steady-state steps create no events.
type kernelTimer struct {
	on atomic.Bool

	mu      sync.Mutex // held across a timed launch, so launches from other goroutines cannot fall between its events
	free    []event    // events ready for reuse
	pending []timedLaunch
	totals  map[string]KernelTime
}

// EnableKernelTimes turns kernel timing on or off for later launches. While
// on, every launch is bracketed by two events recorded on the backend's
// stream (and launches are serialised); while off, launches record nothing.
func (b *Backend) EnableKernelTimes(on bool) { b.timer.on.Store(on) }

// KernelTimes waits for the timed launches to finish and returns the device
// time per kernel since the last ResetKernelTimes, largest total first (ties
// by name).
func (b *Backend) KernelTimes() ([]KernelTime, error) {
	t := &b.timer
	t.mu.Lock()
	defer t.mu.Unlock()
	err := t.collectLocked(b.drv, len(t.pending))
	out := make([]KernelTime, 0, len(t.totals))
	for _, kt := range t.totals {
		out = append(out, kt)
	}
	slices.SortFunc(out, func(a, b KernelTime) int {
		if c := cmp.Compare(b.TotalMs, a.TotalMs); c != 0 {
			return c
		}
		return cmp.Compare(a.Kernel, b.Kernel)
	})
	if err != nil {
		return out, fmt.Errorf("kernel times: %w", err)
	}
	return out, nil
}

// ResetKernelTimes forgets the totals and the launches not yet collected;
// their events go back to the pool.
func (b *Backend) ResetKernelTimes() {
	t := &b.timer
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dropLocked(0)
	clear(t.totals)
}

// collectKernelTimes adds the pending launches to the totals; Sync calls it
// after the stream is idle, so no wait is involved.
func (b *Backend) collectKernelTimes() error {
	t := &b.timer
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.collectLocked(b.drv, len(t.pending)); err != nil {
		return fmt.Errorf("kernel times: %w", err)
	}
	return nil
}

// launchTimed launches kernel between two events and queues the pair for
// collection.
func (b *Backend) launchTimed(kernel string, grid, block dim3, sharedBytes int, a args) error {
	t := &b.timer
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.pending) >= maxPendingLaunches {
		if err := t.collectLocked(b.drv, len(t.pending)/2); err != nil {
			return fmt.Errorf("kernel times: %w", err)
		}
	}
	start, err := t.eventLocked(b.drv)
	if err != nil {
		return err
	}
	stop, err := t.eventLocked(b.drv)
	if err != nil {
		t.free = append(t.free, start)
		return err
	}
	if err := b.recordLaunch(kernel, grid, block, sharedBytes, a, start, stop); err != nil {
		t.free = append(t.free, start, stop)
		return err
	}
	t.pending = append(t.pending, timedLaunch{kernel: kernel, start: start, stop: stop})
	return nil
}

// recordLaunch records start, launches the kernel and records stop.
func (b *Backend) recordLaunch(kernel string, grid, block dim3, sharedBytes int, a args, start, stop event) error {
	if err := b.drv.record(start); err != nil {
		return fmt.Errorf("kernel times: %w", err)
	}
	if err := b.drv.launchShared(kernel, grid, block, sharedBytes, a); err != nil {
		return err
	}
	if err := b.drv.record(stop); err != nil {
		return fmt.Errorf("kernel times: %w", err)
	}
	return nil
}

// eventLocked takes an event from the pool, creating one when it is empty.
func (t *kernelTimer) eventLocked(drv driver) (event, error) {
	if n := len(t.free); n > 0 {
		ev := t.free[n-1]
		t.free = t.free[:n-1]
		return ev, nil
	}
	ev, err := drv.newEvent()
	if err != nil {
		return 0, fmt.Errorf("kernel times: %w", err)
	}
	return ev, nil
}

// collectLocked adds the first n pending launches to the totals and returns
// their events to the pool. It waits for each launch's stop event. On an
// error every launch not yet added is dropped.
func (t *kernelTimer) collectLocked(drv driver, n int) error {
	if t.totals == nil {
		t.totals = make(map[string]KernelTime)
	}
	for i, p := range t.pending[:n] {
		ms, err := drv.elapsed(p.start, p.stop)
		if err != nil {
			t.dropLocked(i)
			return fmt.Errorf("kernel %s: %w", p.kernel, err)
		}
		kt := t.totals[p.kernel]
		kt.Kernel = p.kernel
		kt.Calls++
		kt.TotalMs += ms
		t.totals[p.kernel] = kt
		t.free = append(t.free, p.start, p.stop)
	}
	t.pending = t.pending[:copy(t.pending, t.pending[n:])]
	return nil
}

// dropLocked returns the events of the pending launches from index from on
// to the pool and empties the pending list; the launches before from must
// have been collected already.
func (t *kernelTimer) dropLocked(from int) {
	for _, p := range t.pending[from:] {
		t.free = append(t.free, p.start, p.stop)
	}
	t.pending = t.pending[:0]
}
