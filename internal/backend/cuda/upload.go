//go:build cuda || cudaemu

package cuda

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"simclr/internal/backend"
)

// Uploads go through two pinned staging buffers (stager). Upload copies the
// caller's values into the next buffer on the host, queues an asynchronous
// host-to-device copy from it on the backend's stream and records a fence
// after the copy; it returns without waiting for the device, so the
// caller's slice is free at once and the copy runs in stream order (kernels
// queued later see the data; Download and Sync wait for it). Before a
// buffer is rewritten, Upload waits on its fence: the copy queued from it
// two pieces earlier must have run. An upload larger than stageMaxBytes is
// copied in pieces through the buffers alternately, so filling one piece
// on the host overlaps the previous piece's copy.
const stageMinBytes = 64 << 10 // the smallest staging buffer allocated

// stageMaxBytes is the largest staging buffer (a variable so that a test
// can make pieces with small uploads).
var stageMaxBytes int64 = 8 << 20

// stageBuf is one pinned staging buffer.
type stageBuf struct {
	p     unsafe.Pointer // pinned host memory from hostAlloc, nil until first used
	size  int64
	f     fence
	armed bool // a copy from p is queued: wait on f before writing p
}

// stager is the double-buffered staging area; mu serialises uploads (two
// ranks may share a backend).
type stager struct {
	mu   sync.Mutex
	bufs [2]stageBuf
	next int
}

// stageSize is the buffer size allocated for a piece of n bytes: a power
// of two from stageMinBytes to stageMaxBytes, so a run of growing uploads
// reallocates a few times only.
func stageSize(n int64) int64 {
	s := int64(stageMinBytes)
	for s < n && s < stageMaxBytes {
		s *= 2
	}
	return s
}

// ready waits until sb may be written and makes it hold at least n bytes.
func (b *Backend) stageReady(sb *stageBuf, n int64) error {
	if sb.armed {
		if err := b.drv.waitFence(sb.f); err != nil {
			return fmt.Errorf("wait for the staging buffer's previous copy: %w", err)
		}
		sb.armed = false
	}
	if sb.p == nil {
		f, err := b.drv.newFence()
		if err != nil {
			return fmt.Errorf("staging fence: %w", err)
		}
		sb.f = f
	}
	if sb.size >= n {
		return nil
	}
	if sb.size > 0 {
		if err := b.drv.hostFree(sb.p); err != nil {
			return fmt.Errorf("free a staging buffer: %w", err)
		}
		sb.p, sb.size = nil, 0
	}
	size := stageSize(n)
	p, err := b.drv.hostAlloc(size)
	if err != nil {
		return fmt.Errorf("staging buffer: %w", err)
	}
	sb.p, sb.size = p, size
	return nil
}

// Upload copies src into dst: through a pinned staging buffer and an
// asynchronous copy on the backend's stream (see stager). src may be
// reused as soon as Upload returns; kernels queued afterwards, Download and
// Sync see the new values.
func (b *Backend) Upload(dst *Tensor, src []float32) error {
	const op = backend.OpUpload
	if err := b.checkDev(op, "dst", dst); err != nil {
		return err
	}
	if err := backend.CheckUpload(dst.Shape, len(src)); err != nil {
		return err
	}
	if len(src) == 0 {
		return nil
	}
	total := int64(len(src)) * 4
	host := unsafe.Slice((*byte)(unsafe.Pointer(&src[0])), total)
	st := &b.stage
	st.mu.Lock()
	defer st.mu.Unlock()
	for off := int64(0); off < total; {
		n := min(total-off, stageMaxBytes)
		sb := &st.bufs[st.next]
		st.next ^= 1
		if err := b.stageReady(sb, n); err != nil {
			return fmt.Errorf("%s %v: %w", op, dst.Shape, err)
		}
		copy(unsafe.Slice((*byte)(sb.p), n), host[off:off+n])
		if err := b.drv.htodAsync(dst.Dev+uintptr(off), sb.p, n); err != nil {
			return fmt.Errorf("%s %v: %w", op, dst.Shape, err)
		}
		if err := b.drv.recordFence(sb.f); err != nil {
			return fmt.Errorf("%s %v: record the staging fence: %w", op, dst.Shape, err)
		}
		sb.armed = true
		off += n
	}
	return nil
}

// releaseStaging waits for the queued copies and frees the staging
// buffers (Close).
func (b *Backend) releaseStaging() error {
	st := &b.stage
	st.mu.Lock()
	defer st.mu.Unlock()
	var errs []error
	for i := range st.bufs {
		sb := &st.bufs[i]
		if sb.armed {
			errs = append(errs, b.drv.waitFence(sb.f))
			sb.armed = false
		}
		if sb.p != nil {
			errs = append(errs, b.drv.hostFree(sb.p))
		}
		*sb = stageBuf{}
	}
	return errors.Join(errs...)
}
