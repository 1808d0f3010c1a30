//go:build cuda || cudaemu

package cuda

import (
	"sync/atomic"
	"unsafe"
)

// readCounter is a driver that counts device-to-host copies (each one a
// host wait for the stream) and forwards everything to the real driver.
type readCounter struct {
	driver
	n *atomic.Int64
}

func (r readCounter) dtoh(dst unsafe.Pointer, src uintptr, bytes int64) error {
	r.n.Add(1)
	return r.driver.dtoh(dst, src, bytes)
}

// CountHostReads makes b count its device-to-host copies from now on (the
// loss, NaN checks, the optimizer's norms, Download: every host read of
// device memory, each a wait for the queued work) and returns the
// counter. For tests and measurements: call it before b is used from more
// than one goroutine. (The NCCL communicator needs the bare driver, so a
// counted backend cannot open one.)
func (b *Backend) CountHostReads() *atomic.Int64 {
	if rc, ok := b.drv.(readCounter); ok {
		return rc.n
	}
	n := new(atomic.Int64)
	b.drv = readCounter{driver: b.drv, n: n}
	return n
}
