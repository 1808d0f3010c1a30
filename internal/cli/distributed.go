package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"simclr/internal/backend"
	"simclr/internal/config"
	"simclr/internal/dist"
	"simclr/internal/model"
	"simclr/internal/train"
)

// openDist opens the communicator of dist.backend. In a job of several
// ranks every rank but 0 becomes quiet (it prints only errors). done must
// be called with the command's result: it finalises the communicator, or,
// when this rank failed in a multi-rank job, prints the error and aborts the
// job so the other ranks do not wait for this one.
func (a *app) openDist(cfg *config.Config) (*train.Distributed, func(error) error, error) {
	c, err := dist.Open(cfg.Dist.Backend, time.Duration(cfg.Dist.Timeout)*time.Second)
	if err != nil {
		return nil, nil, err
	}
	if c.Size() == 1 && cfg.Dist.Backend != "nccl" {
		return nil, func(err error) error { return errors.Join(err, c.Close()) }, nil
	}
	if c.Rank() != 0 {
		a.quiet = true
		a.stdout = io.Discard
	}
	a.info("distributed: %d ranks over %s; train.batch_size %d is the global batch (%v images per rank), model.sync_bn %v",
		c.Size(), c.Kind(), cfg.Train.BatchSize, dist.ShardCounts(cfg.Train.BatchSize, c.Size()), cfg.Model.SyncBN)
	done := func(err error) error {
		var same sameOnAllRanks
		if err != nil && c.Size() > 1 && !errors.Is(err, train.ErrInterrupted) && !errors.As(err, &same) {
			fmt.Fprintf(a.stderr, "simclr rank %d of %d: %s\nsimclr rank %d: stopping every rank of the job\n", c.Rank(), c.Size(), indentLines(err.Error()), c.Rank())
			c.Abort(1)
		}
		return errors.Join(err, c.Close())
	}
	return &train.Distributed{Comm: c, SyncBN: cfg.Model.SyncBN, Overlap: cfg.Dist.Overlap}, done, nil
}

// sameOnAllRanks marks an error that every rank returns at the same point
// (an interrupt the ranks agreed on): they all finalise normally instead of
// aborting the job.
type sameOnAllRanks struct{ error }

func (e sameOnAllRanks) Unwrap() error { return e.error }

// rankDevice gives each rank of a multi-rank job its own GPU on a machine
// with several: device "cuda" becomes cuda:<local rank>, the rank's index
// on its machine from the launcher (OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID
// or LOCAL_RANK). Every other device, and one process, is left as is
// (cuda:N pins every rank to GPU N).
func rankDevice(device string, d *train.Distributed) string {
	if d == nil || device != "cuda" {
		return device
	}
	for _, v := range []string{"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "LOCAL_RANK"} {
		if s := os.Getenv(v); s != "" {
			if n, err := strconv.Atoi(s); err == nil && n >= 0 {
				return "cuda:" + strconv.Itoa(n)
			}
		}
	}
	return device
}

// deviceComm is a model.DeviceComm with a lifetime (cuda.DeviceComm).
type deviceComm interface {
	model.DeviceComm
	Kind() string
	Close() error
	Abort() error
}

// attachDeviceComm gives a job's CUDA ranks their collectives on the
// device, once the backend is open: dist.backend nccl insists on NCCL
// (also on one rank, which the GPU check uses), auto picks it when there
// are several ranks, the backend is CUDA and libnccl.so.2 loads. The
// returned function closes the NCCL communicator (before the backend).
func (a *app) attachDeviceComm(cfg *config.Config, b backend.Backend, d *train.Distributed) (func(), error) {
	none := func() {}
	if d == nil {
		return none, nil
	}
	kind := cfg.Dist.Backend
	switch {
	case kind == "nccl":
	case kind == "auto" && d.Comm.Size() > 1 && isCUDA(b):
		if err := ncclLoads(); err != nil {
			a.info("distributed: collectives over %s through host memory (NCCL not used: %v)", d.Comm.Kind(), err)
			return none, nil
		}
	default:
		return none, nil
	}
	if !isCUDA(b) {
		return nil, fmt.Errorf("dist.backend nccl needs a CUDA device on every rank, but this rank runs on %s: use --device cuda with the simclr-cuda binary (make build-cuda), or dist.backend auto/mpi/tcp for CPU ranks", b.Name())
	}
	if d.LocalNegatives {
		return none, nil
	}
	dc, err := openNCCL(b, d.Comm)
	if err != nil {
		return nil, fmt.Errorf("dist.backend %s: %w", kind, err)
	}
	if dc.Size() != d.Comm.Size() || dc.Rank() != d.Comm.Rank() {
		dc.Abort()
		return nil, fmt.Errorf("NCCL communicator is rank %d of %d but the launch says rank %d of %d", dc.Rank(), dc.Size(), d.Comm.Rank(), d.Comm.Size())
	}
	d.Device = dc
	a.info("distributed: tensors' collectives through %s on %s, control messages over %s", dc.Kind(), b.Name(), d.Comm.Kind())
	return func() { dc.Close() }, nil
}
