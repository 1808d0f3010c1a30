//go:build mpi && cgo

package dist

/*
#cgo pkg-config: ompi-c
#include <mpi.h>
#include <stdlib.h>

static int simclr_mpi_init(int *provided) {
	int inited = 0;
	MPI_Initialized(&inited);
	if (inited) {
		MPI_Query_thread(provided);
		return MPI_SUCCESS;
	}
	int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, provided);
	if (rc != MPI_SUCCESS) return rc;
	// Errors come back as codes (wrapped with context in Go) instead of
	// aborting inside the library.
	return MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}
static int simclr_rank(int *r) { return MPI_Comm_rank(MPI_COMM_WORLD, r); }
static int simclr_size(int *s) { return MPI_Comm_size(MPI_COMM_WORLD, s); }
static int simclr_reduce_f32(float *buf, int n, int rank) {
	if (rank == 0) return MPI_Reduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, 0, MPI_COMM_WORLD);
	return MPI_Reduce(buf, NULL, n, MPI_FLOAT, MPI_SUM, 0, MPI_COMM_WORLD);
}
static int simclr_reduce_f64(double *buf, int n, int rank) {
	if (rank == 0) return MPI_Reduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
	return MPI_Reduce(buf, NULL, n, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
}
static int simclr_bcast_f32(float *buf, int n, int root) { return MPI_Bcast(buf, n, MPI_FLOAT, root, MPI_COMM_WORLD); }
static int simclr_bcast_f64(double *buf, int n, int root) { return MPI_Bcast(buf, n, MPI_DOUBLE, root, MPI_COMM_WORLD); }
static int simclr_allgather_f32(float *send, int n, float *recv) {
	return MPI_Allgather(send, n, MPI_FLOAT, recv, n, MPI_FLOAT, MPI_COMM_WORLD);
}
static int simclr_allgather_f64(double *send, int n, double *recv) {
	return MPI_Allgather(send, n, MPI_DOUBLE, recv, n, MPI_DOUBLE, MPI_COMM_WORLD);
}
static int simclr_allgatherv_f32(float *send, int n, float *recv, int *counts, int *displs) {
	return MPI_Allgatherv(send, n, MPI_FLOAT, recv, counts, displs, MPI_FLOAT, MPI_COMM_WORLD);
}
static int simclr_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }
static void simclr_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }
static int simclr_finalize(void) { return MPI_Finalize(); }
static void simclr_error_string(int code, char *buf, int *len) { MPI_Error_string(code, buf, len); }
*/
import "C"

import (
	"fmt"
	"math"
	"sync"
	"time"
	"unsafe"
)

// MPIBuilt says whether this binary can talk MPI.
const MPIBuilt = true

// mpiComm is MPI_COMM_WORLD. Calls are serialised by mu (the library is
// initialised with MPI_THREAD_SERIALIZED since goroutines move between OS
// threads).
type mpiComm struct {
	mu      sync.Mutex
	rank    int
	size    int
	timeout time.Duration
	closed  bool
}

func mpiError(op string, rc C.int) error {
	if rc == C.MPI_SUCCESS {
		return nil
	}
	buf := make([]byte, C.MPI_MAX_ERROR_STRING)
	var n C.int
	C.simclr_error_string(rc, (*C.char)(unsafe.Pointer(&buf[0])), &n)
	return fmt.Errorf("MPI %s failed: %s (code %d); a rank probably died: see the launcher's messages above", op, string(buf[:n]), int(rc))
}

func openMPI(timeout time.Duration) (Comm, error) {
	var provided C.int
	if rc := C.simclr_mpi_init(&provided); rc != C.MPI_SUCCESS {
		return nil, fmt.Errorf("MPI_Init_thread returned %d: is this process started by mpirun/srun from the same Open MPI (%s)?", int(rc), Install)
	}
	if provided < C.MPI_THREAD_SERIALIZED {
		C.simclr_abort(1)
		return nil, fmt.Errorf("the MPI library provides thread level %d, simclr needs MPI_THREAD_SERIALIZED (%d): use Open MPI (%s)", int(provided), int(C.MPI_THREAD_SERIALIZED), Install)
	}
	var r, s C.int
	if err := mpiError("Comm_rank", C.simclr_rank(&r)); err != nil {
		return nil, err
	}
	if err := mpiError("Comm_size", C.simclr_size(&s)); err != nil {
		return nil, err
	}
	return &mpiComm{rank: int(r), size: int(s), timeout: timeout}, nil
}

func (c *mpiComm) Rank() int    { return c.rank }
func (c *mpiComm) Size() int    { return c.size }
func (c *mpiComm) Kind() string { return "mpi" }

// do runs one MPI call under the lock and the watchdog.
func (c *mpiComm) do(op string, fn func() C.int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("MPI %s after Close", op)
	}
	return watch(c.rank, c.timeout, "MPI "+op, func() error { return mpiError(op, fn()) })
}

// chunks calls fn on pieces of at most MaxInt32 elements (MPI counts are int).
func chunks(n int, fn func(off, cnt int) error) error {
	const maxCount = math.MaxInt32
	for off := 0; off < n; off += maxCount {
		if err := fn(off, min(maxCount, n-off)); err != nil {
			return err
		}
	}
	return nil
}

// AllReduce32 is MPI_Reduce to rank 0 followed by MPI_Bcast: unlike
// MPI_Allreduce, whose algorithms may combine in a different order on
// different ranks, every rank gets the same bits.
func (c *mpiComm) AllReduce32(buf []float32) error {
	return chunks(len(buf), func(off, n int) error {
		p := (*C.float)(unsafe.Pointer(&buf[off]))
		if err := c.do("reduce(float32)", func() C.int { return C.simclr_reduce_f32(p, C.int(n), C.int(c.rank)) }); err != nil {
			return err
		}
		return c.do("bcast(float32)", func() C.int { return C.simclr_bcast_f32(p, C.int(n), 0) })
	})
}

func (c *mpiComm) AllReduce64(buf []float64) error {
	return chunks(len(buf), func(off, n int) error {
		p := (*C.double)(unsafe.Pointer(&buf[off]))
		if err := c.do("reduce(float64)", func() C.int { return C.simclr_reduce_f64(p, C.int(n), C.int(c.rank)) }); err != nil {
			return err
		}
		return c.do("bcast(float64)", func() C.int { return C.simclr_bcast_f64(p, C.int(n), 0) })
	})
}

func (c *mpiComm) Broadcast32(buf []float32, root int) error {
	if root < 0 || root >= c.size {
		return fmt.Errorf("broadcast: root %d outside [0, %d)", root, c.size)
	}
	return chunks(len(buf), func(off, n int) error {
		p := (*C.float)(unsafe.Pointer(&buf[off]))
		return c.do("bcast(float32)", func() C.int { return C.simclr_bcast_f32(p, C.int(n), C.int(root)) })
	})
}

func (c *mpiComm) Broadcast64(buf []float64, root int) error {
	if root < 0 || root >= c.size {
		return fmt.Errorf("broadcast: root %d outside [0, %d)", root, c.size)
	}
	return chunks(len(buf), func(off, n int) error {
		p := (*C.double)(unsafe.Pointer(&buf[off]))
		return c.do("bcast(float64)", func() C.int { return C.simclr_bcast_f64(p, C.int(n), C.int(root)) })
	})
}

func (c *mpiComm) checkGather(ns, nr int) error {
	if nr != ns*c.size {
		return fmt.Errorf("all-gather: recv has %d values, want %d x %d ranks", nr, ns, c.size)
	}
	if nr > math.MaxInt32 {
		return fmt.Errorf("all-gather of %d values is more than MPI's int count allows", nr)
	}
	return nil
}

func (c *mpiComm) AllGather32(send, recv []float32) error {
	if err := c.checkGather(len(send), len(recv)); err != nil || len(send) == 0 {
		return err
	}
	return c.do("allgather(float32)", func() C.int {
		return C.simclr_allgather_f32((*C.float)(unsafe.Pointer(&send[0])), C.int(len(send)), (*C.float)(unsafe.Pointer(&recv[0])))
	})
}

func (c *mpiComm) AllGather64(send, recv []float64) error {
	if err := c.checkGather(len(send), len(recv)); err != nil || len(send) == 0 {
		return err
	}
	return c.do("allgather(float64)", func() C.int {
		return C.simclr_allgather_f64((*C.double)(unsafe.Pointer(&send[0])), C.int(len(send)), (*C.double)(unsafe.Pointer(&recv[0])))
	})
}

func (c *mpiComm) AllGatherV32(send, recv []float32, counts []int) error {
	if err := CheckCounts(c, len(send), len(recv), counts); err != nil {
		return err
	}
	if len(recv) > math.MaxInt32 {
		return fmt.Errorf("all-gather-v of %d values is more than MPI's int count allows", len(recv))
	}
	if len(recv) == 0 {
		return nil
	}
	cc := make([]C.int, 2*c.size) // counts, then displacements
	off := 0
	for r, n := range counts {
		cc[r], cc[c.size+r] = C.int(n), C.int(off)
		off += n
	}
	var sp *C.float
	var dummy [1]float32
	if len(send) > 0 {
		sp = (*C.float)(unsafe.Pointer(&send[0]))
	} else {
		sp = (*C.float)(unsafe.Pointer(&dummy[0]))
	}
	return c.do("allgatherv(float32)", func() C.int {
		return C.simclr_allgatherv_f32(sp, C.int(len(send)), (*C.float)(unsafe.Pointer(&recv[0])), &cc[0], &cc[c.size])
	})
}

func (c *mpiComm) Barrier() error {
	return c.do("barrier", func() C.int { return C.simclr_barrier() })
}

// Abort calls MPI_Abort: the launcher kills every rank. It does not take
// the lock, so it also works while another goroutine waits in a collective.
func (c *mpiComm) Abort(code int) { C.simclr_abort(C.int(code)) }

func (c *mpiComm) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	return mpiError("Finalize", C.simclr_finalize())
}
