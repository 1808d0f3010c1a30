//go:build cuda || cudaemu

package cuda

import (
	"fmt"
	"unsafe"

	"simclr/internal/dist"
	"simclr/internal/model"
)

// collectives are the raw collectives a DeviceComm runs on device memory:
// NCCL on the backend's stream (cuda builds), or a host dist.Comm through
// copies (hostCollectives, every build). Buffers are device pointers.
type collectives interface {
	rank() int
	size() int
	kind() string
	// allReduceSum sums count values in place (float64 when f64, else
	// float32) over the ranks; every rank receives the same bits.
	allReduceSum(buf uintptr, count int, f64 bool) error
	// allGather concatenates every rank's count float32 values of send in
	// rank order into recv (count*size values).
	allGather(send, recv uintptr, count int) error
	close() error
	abort() error
}

// DeviceComm is model.DeviceComm for the CUDA backend: the collectives of
// a data-parallel job on device tensors. The layout work (fusing the
// gradients into one buffer, padding the projections to equal per-rank
// counts and putting the gathered rows in the single-process order) is
// device-to-device copies, the same for every implementation of the
// collectives, so the emulator tests exercise everything but the NCCL
// calls themselves.
type DeviceComm struct {
	b *Backend
	c collectives
}

var _ model.DeviceComm = (*DeviceComm)(nil)

// NewHostDeviceComm returns a DeviceComm whose collectives go through the
// host communicator c: download, c's collective, upload. It gives the
// same bits as the host path of the model (the same reductions of c).
func NewHostDeviceComm(b *Backend, c dist.Comm) *DeviceComm {
	return &DeviceComm{b: b, c: hostCollectives{b: b, c: c}}
}

func (d *DeviceComm) Rank() int { return d.c.rank() }
func (d *DeviceComm) Size() int { return d.c.size() }

// Kind names the collectives: "nccl", or "host-<comm kind>".
func (d *DeviceComm) Kind() string { return d.c.kind() }

// Close releases the collectives (the NCCL communicator); the host
// communicator is its owner's to close.
func (d *DeviceComm) Close() error { return d.c.close() }

// Abort tears the collectives down without waiting for the other ranks.
func (d *DeviceComm) Abort() error { return d.c.abort() }

// AllReduce64 sums buf over the ranks through a device buffer.
func (d *DeviceComm) AllReduce64(buf []float64) error {
	if len(buf) == 0 {
		return nil
	}
	s, err := d.b.scratch(int64(len(buf)) * 8)
	if err != nil {
		return fmt.Errorf("device all-reduce of %d float64: %w", len(buf), err)
	}
	defer s.release()
	p := unsafe.Pointer(&buf[0])
	if err := d.b.drv.htod(s.ptr, p, int64(len(buf))*8); err != nil {
		return fmt.Errorf("device all-reduce of %d float64: upload: %w", len(buf), err)
	}
	if err := d.c.allReduceSum(s.ptr, len(buf), true); err != nil {
		return fmt.Errorf("device all-reduce of %d float64: %w", len(buf), err)
	}
	if err := d.b.drv.dtoh(p, s.ptr, int64(len(buf))*8); err != nil {
		return fmt.Errorf("device all-reduce of %d float64: download: %w", len(buf), err)
	}
	return nil
}

// AllReduceSum32 sums every tensor of ts over the ranks in place: one
// collective on a fused buffer (the tensors copied in and out on the
// device).
func (d *DeviceComm) AllReduceSum32(ts []*Tensor) error {
	total := 0
	for i, t := range ts {
		if err := d.b.checkDevTensor("device all-reduce", fmt.Sprintf("tensor %d", i), t); err != nil {
			return err
		}
		total += t.Numel()
	}
	if total == 0 {
		return nil
	}
	if len(ts) == 1 {
		return d.c.allReduceSum(ts[0].Dev, total, false)
	}
	s, err := d.b.scratch(int64(total) * 4)
	if err != nil {
		return fmt.Errorf("device all-reduce of %d tensors (%d values): %w", len(ts), total, err)
	}
	defer s.release()
	off := uintptr(0)
	for _, t := range ts {
		if n := int64(t.Numel()) * 4; n > 0 {
			if err := d.b.drv.dtod(s.ptr+off, t.Dev, n); err != nil {
				return fmt.Errorf("device all-reduce: fuse %v: %w", t.Shape, err)
			}
			off += uintptr(n)
		}
	}
	if err := d.c.allReduceSum(s.ptr, total, false); err != nil {
		return fmt.Errorf("device all-reduce of %d tensors (%d values): %w", len(ts), total, err)
	}
	off = 0
	for _, t := range ts {
		if n := int64(t.Numel()) * 4; n > 0 {
			if err := d.b.drv.dtod(t.Dev, s.ptr+off, n); err != nil {
				return fmt.Errorf("device all-reduce: unfuse %v: %w", t.Shape, err)
			}
			off += uintptr(n)
		}
	}
	return nil
}

// viewDims checks the shapes of GatherViews and LocalViews and returns the
// row width, this rank's image count, the images before it and the total.
func (d *DeviceComm) viewDims(op string, local, global *Tensor, counts []int) (dim, n, off, total int, err error) {
	if len(counts) != d.Size() {
		return 0, 0, 0, 0, fmt.Errorf("%s: %d counts for %d ranks", op, len(counts), d.Size())
	}
	for r, c := range counts {
		if c < 0 {
			return 0, 0, 0, 0, fmt.Errorf("%s: negative count in %v", op, counts)
		}
		if r < d.Rank() {
			off += c
		}
		total += c
	}
	if err := d.b.checkDev(op, "local global", local, global); err != nil {
		return 0, 0, 0, 0, err
	}
	n = counts[d.Rank()]
	if len(local.Shape) != 2 || len(global.Shape) != 2 || local.Shape[1] != global.Shape[1] ||
		local.Shape[0] != 2*n || global.Shape[0] != 2*total {
		return 0, 0, 0, 0, fmt.Errorf("%s: local %v and global %v, want [2x%d D] and [2x%d D] for counts %v", op, local.Shape, global.Shape, n, total, counts)
	}
	return local.Shape[1], n, off, total, nil
}

// GatherViews: see model.DeviceComm. NCCL has no all-gather of unequal
// counts, so every rank sends its rows padded to the largest count.
func (d *DeviceComm) GatherViews(local, global *Tensor, counts []int) error {
	const op = "gather views"
	dim, n, _, total, err := d.viewDims(op, local, global, counts)
	if err != nil {
		return err
	}
	maxc := 0
	for _, c := range counts {
		maxc = max(maxc, c)
	}
	per := 2 * maxc * dim // values each rank sends
	send, err := d.b.scratch(int64(per) * 4)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer send.release()
	recv, err := d.b.scratch(int64(per*d.Size()) * 4)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer recv.release()
	if n > 0 {
		if err := d.b.drv.dtod(send.ptr, local.Dev, int64(2*n*dim)*4); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	if err := d.c.allGather(send.ptr, recv.ptr, per); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	o := 0
	for r, c := range counts {
		for v := 0; v < 2; v++ {
			if c == 0 {
				continue
			}
			dst := global.Dev + uintptr((v*total+o)*dim*4)
			src := recv.ptr + uintptr((r*per+v*c*dim)*4)
			if err := d.b.drv.dtod(dst, src, int64(c*dim)*4); err != nil {
				return fmt.Errorf("%s: place rank %d's view %d: %w", op, r, v+1, err)
			}
		}
		o += c
	}
	return nil
}

// LocalViews: see model.DeviceComm.
func (d *DeviceComm) LocalViews(global, local *Tensor, counts []int) error {
	const op = "local views"
	dim, n, off, total, err := d.viewDims(op, local, global, counts)
	if err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	for v := 0; v < 2; v++ {
		dst := local.Dev + uintptr(v*n*dim*4)
		src := global.Dev + uintptr((v*total+off)*dim*4)
		if err := d.b.drv.dtod(dst, src, int64(n*dim)*4); err != nil {
			return fmt.Errorf("%s: view %d: %w", op, v+1, err)
		}
	}
	return nil
}

// hostCollectives run a host dist.Comm's collectives on device buffers
// through copies.
type hostCollectives struct {
	b *Backend
	c dist.Comm
}

func (h hostCollectives) rank() int    { return h.c.Rank() }
func (h hostCollectives) size() int    { return h.c.Size() }
func (h hostCollectives) kind() string { return "host-" + h.c.Kind() }
func (h hostCollectives) close() error { return nil }
func (h hostCollectives) abort() error { return nil }

func (h hostCollectives) allReduceSum(buf uintptr, count int, f64 bool) error {
	if count == 0 {
		return nil
	}
	if f64 {
		v := make([]float64, count)
		if err := h.b.drv.dtoh(unsafe.Pointer(&v[0]), buf, int64(count)*8); err != nil {
			return err
		}
		if err := h.c.AllReduce64(v); err != nil {
			return err
		}
		return h.b.drv.htod(buf, unsafe.Pointer(&v[0]), int64(count)*8)
	}
	v := make([]float32, count)
	if err := h.b.drv.dtoh(unsafe.Pointer(&v[0]), buf, int64(count)*4); err != nil {
		return err
	}
	if err := h.c.AllReduce32(v); err != nil {
		return err
	}
	return h.b.drv.htod(buf, unsafe.Pointer(&v[0]), int64(count)*4)
}

func (h hostCollectives) allGather(send, recv uintptr, count int) error {
	if count == 0 {
		return nil
	}
	s, r := make([]float32, count), make([]float32, count*h.c.Size())
	if err := h.b.drv.dtoh(unsafe.Pointer(&s[0]), send, int64(count)*4); err != nil {
		return err
	}
	if err := h.c.AllGather32(s, r); err != nil {
		return err
	}
	return h.b.drv.htod(recv, unsafe.Pointer(&r[0]), int64(len(r))*4)
}
