//go:build cuda

package dist

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// NCCL's ABI, declared here so that building needs no nccl.h: the library
// is loaded at run time (libnccl.so.2) and a machine without it gets an
// error, not a link failure.
typedef struct { char internal[128]; } simclr_nccl_id;
typedef int (*simclr_get_id_fn)(simclr_nccl_id *);
typedef int (*simclr_init_rank_fn)(void **, int, simclr_nccl_id, int);
typedef int (*simclr_allreduce_fn)(const void *, void *, size_t, int, int, void *, void *);
typedef int (*simclr_allgather_fn)(const void *, void *, size_t, int, void *, void *);
typedef int (*simclr_bcast_fn)(const void *, void *, size_t, int, int, void *, void *);
typedef int (*simclr_comm_fn)(void *);
typedef const char *(*simclr_errstr_fn)(int);
typedef int (*simclr_version_fn)(int *);

static void *nccl_lib;
static simclr_get_id_fn p_get_id;
static simclr_init_rank_fn p_init_rank;
static simclr_allreduce_fn p_allreduce;
static simclr_allgather_fn p_allgather;
static simclr_bcast_fn p_bcast;
static simclr_comm_fn p_destroy, p_abort;
static simclr_errstr_fn p_errstr;
static simclr_version_fn p_version;

// simclr_nccl_load returns NULL on success, else what failed.
static const char *simclr_nccl_load(void) {
	if (nccl_lib) return NULL;
	void *h = dlopen("libnccl.so.2", RTLD_NOW | RTLD_GLOBAL);
	if (!h) return dlerror();
#define SYM(var, type, name) var = (type)dlsym(h, name); if (!var) return "symbol " name " missing in libnccl.so.2";
	SYM(p_get_id, simclr_get_id_fn, "ncclGetUniqueId")
	SYM(p_init_rank, simclr_init_rank_fn, "ncclCommInitRank")
	SYM(p_allreduce, simclr_allreduce_fn, "ncclAllReduce")
	SYM(p_allgather, simclr_allgather_fn, "ncclAllGather")
	SYM(p_bcast, simclr_bcast_fn, "ncclBroadcast")
	SYM(p_destroy, simclr_comm_fn, "ncclCommDestroy")
	SYM(p_abort, simclr_comm_fn, "ncclCommAbort")
	SYM(p_errstr, simclr_errstr_fn, "ncclGetErrorString")
	SYM(p_version, simclr_version_fn, "ncclGetVersion")
#undef SYM
	nccl_lib = h;
	return NULL;
}
static int simclr_nccl_version(int *v) { return p_version(v); }
static int simclr_nccl_get_id(void *out) { return p_get_id((simclr_nccl_id *)out); }
static int simclr_nccl_init(void **comm, int n, const void *id, int rank) {
	simclr_nccl_id v;
	memcpy(&v, id, sizeof v);
	return p_init_rank(comm, n, v, rank);
}
static int simclr_nccl_allreduce(uintptr_t send, uintptr_t recv, size_t count, int dtype, void *comm, uintptr_t stream) {
	return p_allreduce((const void *)send, (void *)recv, count, dtype, 0, comm, (void *)stream); // 0 = ncclSum
}
static int simclr_nccl_allgather(uintptr_t send, uintptr_t recv, size_t count, int dtype, void *comm, uintptr_t stream) {
	return p_allgather((const void *)send, (void *)recv, count, dtype, comm, (void *)stream);
}
static int simclr_nccl_bcast(uintptr_t send, uintptr_t recv, size_t count, int dtype, int root, void *comm, uintptr_t stream) {
	return p_bcast((const void *)send, (void *)recv, count, dtype, root, comm, (void *)stream);
}
static int simclr_nccl_destroy(void *comm) { return p_destroy(comm); }
static int simclr_nccl_abort(void *comm) { return p_abort(comm); }
static const char *simclr_nccl_errstr(int rc) { return p_errstr(rc); }
*/
import "C"

import (
	"fmt"
	"math"
	"time"
	"unsafe"
)

// NCCL data types (ncclDataType_t).
const (
	NCCLFloat32 = 7
	NCCLFloat64 = 8
)

// ncclIDBytes is sizeof(ncclUniqueId).
const ncclIDBytes = 128

// NCCL is a communicator over CUDA device buffers, one GPU per rank. The
// library is loaded at run time; the calling goroutine must have the CUDA
// context of the rank's device current (the cuda backend's), as NCCL
// enqueues its kernels on the given stream of that device.
type NCCL struct {
	comm       unsafe.Pointer
	rank, size int
	Version    int // e.g. 22304 for 2.23.4
}

// NCCLInstall names what to install when libnccl.so.2 is missing.
const NCCLInstall = "install NCCL (libnccl2 from NVIDIA's CUDA repository, or apt-get install libnccl2 on Debian non-free) so that libnccl.so.2 is on the loader path"

func loadNCCL() (int, error) {
	if msg := C.simclr_nccl_load(); msg != nil {
		return 0, fmt.Errorf("NCCL for GPU collectives could not be loaded (%s): %s", C.GoString(msg), NCCLInstall)
	}
	var v C.int
	C.simclr_nccl_version(&v)
	return int(v), nil
}

func ncclError(op string, rc C.int) error {
	if rc == 0 {
		return nil
	}
	return fmt.Errorf("NCCL %s failed: %s (code %d)", op, C.GoString(C.simclr_nccl_errstr(rc)), int(rc))
}

// OpenNCCL creates the NCCL communicator of the job boot describes: rank 0
// makes the unique ID and boot broadcasts it (the MPI communicator when the
// job runs under mpirun).
func OpenNCCL(boot Comm) (*NCCL, error) {
	v, err := loadNCCL()
	if err != nil {
		return nil, err
	}
	id := make([]float32, ncclIDBytes/4) // the ID's bytes, carried as float32 bit patterns
	if boot.Rank() == 0 {
		if err := ncclError("GetUniqueId", C.simclr_nccl_get_id(unsafe.Pointer(&id[0]))); err != nil {
			return nil, err
		}
	}
	if err := boot.Broadcast32(id, 0); err != nil {
		return nil, fmt.Errorf("NCCL: broadcast the unique ID: %w", err)
	}
	return initNCCL(unsafe.Pointer(&id[0]), boot.Rank(), boot.Size(), v)
}

// OpenNCCLTCP creates the NCCL communicator of a torchrun-style launch:
// the unique ID goes from rank 0 to the others over the TCP rendezvous of
// MASTER_ADDR, MASTER_PORT, RANK and WORLD_SIZE.
func OpenNCCLTCP(timeout time.Duration) (*NCCL, error) {
	r, err := RendezvousFromEnv()
	if err != nil {
		return nil, err
	}
	v, err := loadNCCL()
	if err != nil {
		return nil, err
	}
	id := make([]byte, ncclIDBytes)
	if r.Rank == 0 {
		if err := ncclError("GetUniqueId", C.simclr_nccl_get_id(unsafe.Pointer(&id[0]))); err != nil {
			return nil, err
		}
	}
	got, err := r.Share(id, timeout)
	if err != nil {
		return nil, err
	}
	if len(got) != ncclIDBytes {
		return nil, fmt.Errorf("NCCL: the rendezvous delivered %d bytes, want a %d-byte unique ID", len(got), ncclIDBytes)
	}
	return initNCCL(unsafe.Pointer(&got[0]), r.Rank, r.Size, v)
}

func initNCCL(id unsafe.Pointer, rank, size, version int) (*NCCL, error) {
	cid := C.malloc(ncclIDBytes)
	defer C.free(cid)
	C.memcpy(cid, id, ncclIDBytes)
	var comm unsafe.Pointer
	if err := ncclError("CommInitRank", C.simclr_nccl_init(&comm, C.int(size), cid, C.int(rank))); err != nil {
		return nil, fmt.Errorf("%w (rank %d of %d: one GPU per rank, every rank must reach the others)", err, rank, size)
	}
	return &NCCL{comm: comm, rank: rank, size: size, Version: version}, nil
}

func (n *NCCL) Rank() int { return n.rank }
func (n *NCCL) Size() int { return n.size }

func checkCount(count int) error {
	if count < 0 || uint64(count) > math.MaxInt64/8 {
		return fmt.Errorf("NCCL: bad element count %d", count)
	}
	return nil
}

// AllReduceSum sums count elements of dtype from send into recv (device
// pointers; they may be equal) across the ranks, enqueued on stream.
func (n *NCCL) AllReduceSum(send, recv uintptr, count, dtype int, stream uintptr) error {
	if err := checkCount(count); err != nil {
		return err
	}
	return ncclError("AllReduce", C.simclr_nccl_allreduce(C.uintptr_t(send), C.uintptr_t(recv), C.size_t(count), C.int(dtype), n.comm, C.uintptr_t(stream)))
}

// AllGather concatenates every rank's count elements of send in rank order
// into recv (count*Size() elements), enqueued on stream.
func (n *NCCL) AllGather(send, recv uintptr, count, dtype int, stream uintptr) error {
	if err := checkCount(count); err != nil {
		return err
	}
	return ncclError("AllGather", C.simclr_nccl_allgather(C.uintptr_t(send), C.uintptr_t(recv), C.size_t(count), C.int(dtype), n.comm, C.uintptr_t(stream)))
}

// Broadcast copies root's send into every rank's recv, enqueued on stream.
func (n *NCCL) Broadcast(send, recv uintptr, count, dtype, root int, stream uintptr) error {
	if err := checkCount(count); err != nil {
		return err
	}
	if root < 0 || root >= n.size {
		return fmt.Errorf("NCCL broadcast: root %d outside [0, %d)", root, n.size)
	}
	return ncclError("Broadcast", C.simclr_nccl_bcast(C.uintptr_t(send), C.uintptr_t(recv), C.size_t(count), C.int(dtype), C.int(root), n.comm, C.uintptr_t(stream)))
}

// Abort tears the communicator down without waiting for the other ranks
// (after a rank failed), unblocking kernels stuck in a collective.
func (n *NCCL) Abort() error {
	if n.comm == nil {
		return nil
	}
	err := ncclError("CommAbort", C.simclr_nccl_abort(n.comm))
	n.comm = nil
	return err
}

// Close destroys the communicator.
func (n *NCCL) Close() error {
	if n.comm == nil {
		return nil
	}
	err := ncclError("CommDestroy", C.simclr_nccl_destroy(n.comm))
	n.comm = nil
	return err
}

// NCCLVersion loads libnccl.so.2 and returns its version (e.g. 22304), or
// an error naming what to install.
func NCCLVersion() (int, error) { return loadNCCL() }
