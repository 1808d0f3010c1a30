//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"unsafe"

	"simclr/internal/dist"
)

// ncclCollectives run on the backend's stream through NCCL, with the
// driver's context current on a locked OS thread (cuDriver.do). The copies
// around them (htod/dtoh/dtod) use the legacy default stream, which is
// ordered with the backend's blocking stream both ways, so no extra
// synchronisation is needed.
type ncclCollectives struct {
	d    *cuDriver
	n    *dist.NCCL
	boot dist.Comm
}

// NewNCCLDeviceComm creates the NCCL communicator of the job that boot (the
// host communicator: MPI or TCP) spans, one GPU per rank: rank 0 makes the
// unique ID and boot broadcasts it. It fails with the fix when libnccl.so.2
// is missing.
func NewNCCLDeviceComm(b *Backend, boot dist.Comm) (*DeviceComm, error) {
	d, ok := b.drv.(*cuDriver)
	if !ok {
		return nil, errors.New("NCCL needs the CUDA driver backend")
	}
	var n *dist.NCCL
	err := d.do(func() error {
		var err error
		n, err = dist.OpenNCCL(boot)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &DeviceComm{b: b, c: &ncclCollectives{d: d, n: n, boot: boot}}, nil
}

// NCCLAvailable reports whether libnccl.so.2 loads (dist.backend auto
// picks NCCL on a CUDA device when it does), else the error naming the fix.
func NCCLAvailable() error {
	_, err := dist.NCCLVersion()
	return err
}

func (c *ncclCollectives) rank() int    { return c.n.Rank() }
func (c *ncclCollectives) size() int    { return c.n.Size() }
func (c *ncclCollectives) kind() string { return fmt.Sprintf("nccl %d", c.n.Version) }

func (c *ncclCollectives) stream() uintptr { return uintptr(unsafe.Pointer(c.d.stream.C())) }

func (c *ncclCollectives) allReduceSum(buf uintptr, count int, f64 bool) error {
	dtype := dist.NCCLFloat32
	if f64 {
		dtype = dist.NCCLFloat64
	}
	return c.d.do(func() error { return c.n.AllReduceSum(buf, buf, count, dtype, c.stream()) })
}

func (c *ncclCollectives) allGather(send, recv uintptr, count int) error {
	return c.d.do(func() error { return c.n.AllGather(send, recv, count, dist.NCCLFloat32, c.stream()) })
}

func (c *ncclCollectives) close() error {
	return c.d.do(func() error { return c.n.Close() })
}

func (c *ncclCollectives) abort() error {
	return c.d.do(func() error { return c.n.Abort() })
}
