// Package dist is the communication layer of data-parallel training: a
// communicator over the processes of one job (its rank and world size) with
// the collectives the trainer needs on host float32/float64 buffers:
// all-reduce (sum), all-gather (equal or per-rank counts), broadcast and
// barrier.
//
// Implementations:
//   - single: one process, no dependency; every collective is a copy.
//   - mpi: Open MPI through cgo, compiled in with the build tag mpi
//     (make build-mpi); started by mpirun/srun, which set the rank in
//     OMPI_COMM_WORLD_RANK, PMIX_RANK or PMI_RANK.
//   - tcp: pure Go, every collective through rank 0 over TCP, for the
//     default binary: ranks meet at MASTER_ADDR:MASTER_PORT and take RANK and
//     WORLD_SIZE (or the rank and size of an MPI launcher used only to start
//     the processes).
//   - local (NewLocal): ranks as goroutines of one process, for tests.
//   - nccl (build tag cuda): NCCL loaded at run time (libnccl.so.2) for
//     device buffers, its unique ID exchanged over another communicator or a
//     TCP rendezvous (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE).
//
// Every collective of a multi-process communicator runs under a watchdog:
// when it waits longer than the configured timeout (another rank died or
// hangs) the process prints which collective stalled and exits non-zero, so
// the launcher stops the whole job instead of leaving it hanging.
package dist

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"strconv"
	"time"
)

// Comm is a communicator over the ranks of one job. Collectives must be
// called by every rank in the same order with matching sizes. Sums are
// computed so that every rank receives the same bits.
type Comm interface {
	// Rank is this process's rank in [0, Size()).
	Rank() int
	// Size is the number of processes.
	Size() int
	// Kind names the implementation: "single", "mpi", "tcp", "local".
	Kind() string
	// AllReduce32 replaces buf on every rank with the element-wise sum over
	// the ranks.
	AllReduce32(buf []float32) error
	// AllReduce64 is AllReduce32 for float64.
	AllReduce64(buf []float64) error
	// AllGather32 concatenates every rank's send (equal lengths) in rank
	// order into recv (len(send)*Size()).
	AllGather32(send, recv []float32) error
	// AllGather64 is AllGather32 for float64.
	AllGather64(send, recv []float64) error
	// AllGatherV32 concatenates in rank order sends of per-rank lengths
	// counts (len Size(); counts[Rank()] == len(send)) into recv
	// (sum of counts).
	AllGatherV32(send, recv []float32, counts []int) error
	// Broadcast32 copies root's buf into every rank's buf.
	Broadcast32(buf []float32, root int) error
	// Broadcast64 is Broadcast32 for float64.
	Broadcast64(buf []float64, root int) error
	// Barrier returns when every rank has entered it.
	Barrier() error
	// Abort stops every process of the job with code (best effort; used
	// after an error on one rank so the others do not wait for it).
	Abort(code int)
	// Close ends the communicator (MPI_Finalize); it must be called by
	// every rank.
	Close() error
}

// Install is the package list named in errors when Open MPI is missing.
const Install = "apt-get install openmpi-bin libopenmpi-dev"

// ErrNoMPI is wrapped by Open when this binary was built without MPI.
var ErrNoMPI = errors.New("this simclr binary was built without MPI support: build it with `make build-mpi` (cgo and Open MPI: " + Install + "), or keep this binary and use the pure-Go communicator: --set dist.backend=tcp with mpirun -x MASTER_ADDR=<rank 0 host> -x MASTER_PORT=<free port>")

// DefaultTimeout is how long a collective may wait before the watchdog
// stops the process.
const DefaultTimeout = 10 * time.Minute

// Launch is how the process was started, read from the environment.
type Launch struct {
	Launcher string // "mpi", "tcp" or "" (a single process)
	Rank     int    // -1 when the launcher sets none
	Size     int    // 0 when the launcher sets none
	Var      string // the variable that revealed the launcher
}

// FromEnv reads the launcher's variables: Open MPI (OMPI_COMM_WORLD_RANK,
// OMPI_COMM_WORLD_SIZE), PMIx (PMIX_RANK; srun --mpi=pmix), PMI (PMI_RANK,
// PMI_SIZE), and torchrun-style RANK/WORLD_SIZE with MASTER_ADDR.
func FromEnv() Launch {
	get := func(names ...string) (int, string) {
		for _, n := range names {
			if v, ok := os.LookupEnv(n); ok {
				if i, err := strconv.Atoi(v); err == nil {
					return i, n
				}
			}
		}
		return -1, ""
	}
	if r, v := get("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"); v != "" {
		s, _ := get("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS")
		return Launch{Launcher: "mpi", Rank: r, Size: max(s, 0), Var: v}
	}
	if os.Getenv("MASTER_ADDR") != "" {
		r, _ := get("RANK")
		s, _ := get("WORLD_SIZE")
		return Launch{Launcher: "tcp", Rank: r, Size: max(s, 0), Var: "MASTER_ADDR"}
	}
	return Launch{Rank: 0, Size: 1}
}

// Open returns the communicator asked for: "single", "mpi", "tcp", or
// "auto" (MPI when the process was started by an MPI launcher, tcp when
// MASTER_ADDR and WORLD_SIZE > 1 are set, else single). "nccl" returns
// auto's: the host communicator beside the NCCL one, which the caller
// opens on its device. timeout
// (<= 0: DefaultTimeout) bounds every collective. An MPI request in a binary
// without MPI, or with a broken Open MPI, is an error naming the fix.
func Open(kind string, timeout time.Duration) (Comm, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	env := FromEnv()
	switch kind {
	case "", "auto":
		switch env.Launcher {
		case "mpi":
			kind = "mpi"
		case "tcp":
			if env.Size <= 1 {
				return Single{}, nil // MASTER_ADDR left over from another tool; one process
			}
			kind = "tcp"
		default:
			return Single{}, nil
		}
	case "single":
		if env.Launcher == "mpi" && env.Size > 1 {
			return nil, fmt.Errorf("dist.backend is single, but %s says this is one of %d ranks: every rank would train alone; set dist.backend: auto (or mpi)", env.Var, env.Size)
		}
		return Single{}, nil
	case "nccl":
		// NCCL carries the tensors' collectives (internal/backend/cuda);
		// the host communicator of the launch carries the control
		// messages and the NCCL unique ID, and may be one process.
		return Open("auto", timeout)
	case "mpi", "tcp":
	default:
		return nil, fmt.Errorf("dist.backend %q is not one of auto, single, mpi, tcp, nccl", kind)
	}
	if kind == "tcp" {
		r, err := tcpRendezvousFromEnv()
		if err != nil {
			return nil, err
		}
		c, err := OpenTCP(r, timeout)
		if err != nil {
			return nil, fmt.Errorf("distributed training (%s): %w", describe(env), err)
		}
		return c, nil
	}
	c, err := openMPI(timeout)
	if err != nil {
		return nil, fmt.Errorf("distributed training (%s): %w", describe(env), err)
	}
	return c, nil
}

func describe(e Launch) string {
	if e.Var == "" {
		return "no launcher variables set"
	}
	return fmt.Sprintf("%s=%d, %d ranks", e.Var, e.Rank, e.Size)
}

// Single is the one-process communicator: rank 0 of 1.
type Single struct{}

func (Single) Rank() int                        { return 0 }
func (Single) Size() int                        { return 1 }
func (Single) Kind() string                     { return "single" }
func (Single) AllReduce32([]float32) error      { return nil }
func (Single) AllReduce64([]float64) error      { return nil }
func (Single) Broadcast32([]float32, int) error { return nil }
func (Single) Broadcast64([]float64, int) error { return nil }
func (Single) Barrier() error                   { return nil }
func (Single) Abort(int)                        {}
func (Single) Close() error                     { return nil }

func (Single) AllGather32(send, recv []float32) error {
	if len(recv) != len(send) {
		return fmt.Errorf("all-gather: recv has %d values, want %d", len(recv), len(send))
	}
	copy(recv, send)
	return nil
}

func (Single) AllGather64(send, recv []float64) error {
	if len(recv) != len(send) {
		return fmt.Errorf("all-gather: recv has %d values, want %d", len(recv), len(send))
	}
	copy(recv, send)
	return nil
}

func (s Single) AllGatherV32(send, recv []float32, counts []int) error {
	if err := CheckCounts(s, len(send), len(recv), counts); err != nil {
		return err
	}
	copy(recv, send)
	return nil
}

// CheckCounts validates the arguments of AllGatherV32.
func CheckCounts(c Comm, nsend, nrecv int, counts []int) error {
	if len(counts) != c.Size() {
		return fmt.Errorf("all-gather-v: %d counts for %d ranks", len(counts), c.Size())
	}
	total := 0
	for _, n := range counts {
		if n < 0 {
			return fmt.Errorf("all-gather-v: negative count in %v", counts)
		}
		total += n
	}
	if counts[c.Rank()] != nsend {
		return fmt.Errorf("all-gather-v: rank %d sends %d values but counts say %d", c.Rank(), nsend, counts[c.Rank()])
	}
	if nrecv != total {
		return fmt.Errorf("all-gather-v: recv has %d values, want %d (sum of %v)", nrecv, total, counts)
	}
	return nil
}

// ShardRange returns the part [lo, hi) of n items that rank takes of size
// ranks: contiguous blocks in rank order, sizes differing by at most one
// (rank r takes r*n/size up to (r+1)*n/size).
func ShardRange(n, rank, size int) (lo, hi int) {
	return rank * n / size, (rank + 1) * n / size
}

// ShardCounts returns every rank's ShardRange length for n items.
func ShardCounts(n, size int) []int {
	out := make([]int, size)
	for r := range out {
		lo, hi := ShardRange(n, r, size)
		out[r] = hi - lo
	}
	return out
}

// CheckSame verifies that every rank holds the same data (e.g. the resolved
// configuration): each rank hashes it, the hashes are all-gathered and
// compared. what names the data in the error; fix says how to correct it.
func CheckSame(c Comm, what string, data []byte, fix string) error {
	if c.Size() == 1 {
		return nil
	}
	h := fnv.New64a()
	h.Write(data)
	sum := h.Sum64()
	// Two exactly representable halves.
	mine := []float64{float64(sum >> 32), float64(sum & 0xffffffff)}
	all := make([]float64, 2*c.Size())
	if err := c.AllGather64(mine, all); err != nil {
		return fmt.Errorf("compare %s across ranks: %w", what, err)
	}
	var differ []int
	for r := 1; r < c.Size(); r++ {
		if all[2*r] != all[0] || all[2*r+1] != all[1] {
			differ = append(differ, r)
		}
	}
	if len(differ) > 0 {
		return fmt.Errorf("the %s of rank(s) %v differs from rank 0's (this is rank %d): %s", what, differ, c.Rank(), fix)
	}
	return nil
}

// watch runs fn and, if it has not returned after timeout, reports the
// stalled collective on stderr and exits the process with status 3, which
// makes mpirun (or srun) stop the other ranks.
func watch(rank int, timeout time.Duration, op string, fn func() error) error {
	t := time.AfterFunc(timeout, func() {
		fmt.Fprintf(os.Stderr, "simclr rank %d: %s waited %v for the other ranks; one of them probably died or hangs. Stopping this rank so the launcher ends the job (the last checkpoint in the run directory stays loadable; raise dist.timeout if steps are legitimately this slow)\n", rank, op, timeout)
		os.Exit(3)
	})
	err := fn()
	t.Stop()
	return err
}
