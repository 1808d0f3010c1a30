package train

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"simclr/internal/data"
	"simclr/internal/dist"
	"simclr/internal/model"
	"simclr/internal/optim"
	"simclr/internal/tensor"
)

// Distributed makes a PretrainJob one rank of a data-parallel job
// (docs/distributed.md). train.batch_size is the global batch: every rank
// takes its contiguous shard of each global batch (the same images and
// views one process would use), the projections are all-gathered so that
// every rank computes the NT-Xent loss over all 2N global views, each rank
// back-propagates its own rows, and the weight gradients are summed over
// the ranks before every rank applies the same optimizer step. Rank 0
// alone writes the run directory and runs the kNN monitor.
type Distributed struct {
	Comm dist.Comm
	// SyncBN computes batch-norm statistics over the global batch
	// (model.sync_bn).
	SyncBN bool
	// LocalNegatives skips the all-gather: each rank's loss sees only its
	// own views as negatives and the gradients are averaged over the ranks
	// (what a plain data-parallel wrapper would do). Not SimCLR's
	// semantics; the equivalence test's control.
	LocalNegatives bool
	// Device, when set, carries the tensors' collectives on the device
	// (NCCL on CUDA ranks): the projections' all-gather, the gradient
	// all-reduce and sync BN's per-channel sums. Comm still carries the
	// control messages (configuration check, start-up broadcast, the
	// agreement on stopping). Not used with LocalNegatives.
	Device model.DeviceComm
	// Overlap all-reduces the gradients in buckets while the backward pass
	// continues (host collectives, gathered negatives; overlap.go). The
	// results are bit-identical to one all-reduce after the backward.
	Overlap bool

	running bool
	buckets *gradBuckets
	root    bool
	grads   []float32
}

// rank and ranks of the job (0 of 1 without Dist).
func (j *PretrainJob) rank() int {
	if j.Dist == nil {
		return 0
	}
	return j.Dist.Comm.Rank()
}

func (j *PretrainJob) ranks() int {
	if j.Dist == nil {
		return 1
	}
	return j.Dist.Comm.Size()
}

// isRoot says whether this process writes the run directory.
func (j *PretrainJob) isRoot() bool { return j.rank() == 0 }

// runDistributed checks that the ranks agree, then runs Run as one rank:
// the other ranks get a private scratch directory (removed at the end),
// no log, no progress and no kNN monitor, and receive rank 0's state at
// the start.
func (j *PretrainJob) runDistributed(ctx context.Context) (*PretrainResult, error) {
	d := j.Dist
	c := d.Comm
	y, err := j.Plan.Config.YAML()
	if err != nil {
		return nil, fmt.Errorf("distributed training: %w", err)
	}
	if err := dist.CheckSame(c, "resolved configuration", y, "start every rank with the same --config, --set flags and SIMCLR_* variables (compare with `simclr config`)"); err != nil {
		return nil, fmt.Errorf("distributed training: %w", err)
	}
	if B := j.Plan.Config.Train.BatchSize; B < 2*c.Size() {
		return nil, fmt.Errorf("distributed training: train.batch_size %d is the global batch, split over %d ranks; it must be at least %d (two images per rank)", B, c.Size(), 2*c.Size())
	}
	run := *j
	rd := *d
	rd.running, rd.root = true, c.Rank() == 0
	run.Dist = &rd
	if !rd.root {
		tmp, err := os.MkdirTemp("", fmt.Sprintf("simclr-rank%d-", c.Rank()))
		if err != nil {
			return nil, fmt.Errorf("rank %d: scratch directory: %w", c.Rank(), err)
		}
		defer os.RemoveAll(tmp)
		run.Out, run.Resume = tmp, false
		run.Log, run.Progress = io.Discard, nil
		plan := *j.Plan
		plan.KNNTrain, plan.KNNTest = nil, nil
		run.Plan = &plan
	} else if B := j.Plan.Config.Train.BatchSize; B%c.Size() != 0 && j.Log != nil {
		fmt.Fprintf(j.Log, "distributed: the global batch of %d splits unevenly over %d ranks (%v images per rank)\n", B, c.Size(), dist.ShardCounts(B, c.Size()))
	}
	res, err := run.Run(ctx)
	if res != nil {
		res.Dir, res.Encoder = j.Out, filepath.Join(j.Out, EncoderFile)
	}
	return res, err
}

// distStart, after the model and optimizer exist (and rank 0 has restored
// its checkpoint), turns on sync BN and copies rank 0's step, weights,
// batch-norm statistics and optimizer state to every rank, so a checkpoint
// written by any number of ranks resumes on any other.
func (j *PretrainJob) distStart(net *model.SimCLR, opt optim.Optimizer, step int) (int, error) {
	d := j.Dist
	if d == nil {
		return step, nil
	}
	c, b := d.Comm, j.Backend
	if d.overlapping() {
		d.buckets = &gradBuckets{b: b, comm: c}
	}
	if d.SyncBN {
		switch {
		case d.Device != nil:
			net.SetSyncBN(d.Device)
		case d.buckets != nil:
			net.SetSyncBN(d.buckets) // in the buckets' order
		default:
			net.SetSyncBN(c)
		}
	}
	scalars := []float64{float64(step), float64(opt.Steps())}
	var ints []*int64
	for _, e := range net.StateDict() {
		if e.I64 != nil {
			ints = append(ints, e.I64)
			scalars = append(scalars, float64(*e.I64))
		}
	}
	if err := c.Broadcast64(scalars, 0); err != nil {
		return 0, fmt.Errorf("distributed start: broadcast step: %w", err)
	}
	for i, p := range ints {
		*p = int64(scalars[2+i])
	}
	bcast := func(name string, t *tensor.Tensor) ([]float32, error) {
		v := make([]float32, t.Numel())
		if err := b.Download(v, t); err != nil {
			return nil, fmt.Errorf("distributed start: %s: %w", name, err)
		}
		if err := c.Broadcast32(v, 0); err != nil {
			return nil, fmt.Errorf("distributed start: broadcast %s: %w", name, err)
		}
		if err := b.Upload(t, v); err != nil {
			return nil, fmt.Errorf("distributed start: %s: %w", name, err)
		}
		return v, nil
	}
	for _, e := range net.StateDict() {
		if e.F32 != nil {
			if _, err := bcast(e.Name, e.F32); err != nil {
				return 0, err
			}
		}
	}
	state := map[string][]float32{}
	for _, nt := range opt.State() {
		v, err := bcast(nt.Name, nt.T)
		if err != nil {
			return 0, err
		}
		state[nt.Name] = v
	}
	if !d.root {
		get := func(name string) ([]float32, bool) { v, ok := state[name]; return v, ok }
		if err := opt.LoadState(get, int(scalars[1])); err != nil {
			return 0, fmt.Errorf("distributed start: optimizer state from rank 0: %w", err)
		}
	}
	return int(scalars[0]), nil
}

// netStep runs the forward and backward pass of one batch and leaves the
// loss in out on the device (no host read); distributed, it is
// StepGatheredInto on this rank's shard followed by the gradient
// all-reduce, and every rank holds the same global loss (with
// LocalNegatives its own, which the loss log averages over the ranks at
// each read).
func (j *PretrainJob) netStep(net *model.SimCLR, x *tensor.Tensor, tau float32, batch *data.Batch, out model.LossSlot) error {
	d := j.Dist
	if d == nil {
		return net.StepInto(x, tau, out)
	}
	c := d.Comm
	if d.LocalNegatives {
		if err := net.StepInto(x, tau, out); err != nil {
			return err
		}
		return j.allReduceGrads(net)
	}
	counts := dist.ShardCounts(batch.GlobalN, c.Size())
	if d.Device != nil {
		if err := net.StepGatheredDeviceInto(x, tau, d.Device, counts, out); err != nil {
			return err
		}
		return model.AllReduceGradsDevice(net.Params(), d.Device)
	}
	if g := d.buckets; g != nil {
		net.SetGradReady(g.ready)
		err := net.StepGatheredInto(x, tau, c, counts, out)
		net.SetGradReady(nil)
		if werr := g.wait(); err == nil && werr != nil {
			return werr
		}
		if err != nil {
			return err
		}
		return g.check(len(net.Params()))
	}
	if err := net.StepGatheredInto(x, tau, c, counts, out); err != nil {
		return err
	}
	return j.allReduceGrads(net)
}

// allReduceGrads sums every parameter gradient over the ranks (averages it
// with LocalNegatives, whose per-rank losses are means over the rank's own
// rows).
func (j *PretrainJob) allReduceGrads(net *model.SimCLR) error {
	scale := float32(1)
	if j.Dist.LocalNegatives {
		scale = 1 / float32(j.Dist.Comm.Size())
	}
	return model.AllReduceGrads(j.Backend, net.Params(), j.Dist.Comm, scale, &j.Dist.grads)
}

// agree makes every rank take the same decision: true when any rank says
// true (an interrupt reaching one rank stops all of them at the same step).
func (j *PretrainJob) agree(v bool) (bool, error) {
	if j.Dist == nil {
		return v, nil
	}
	f := []float64{0}
	if v {
		f[0] = 1
	}
	if err := j.Dist.Comm.AllReduce64(f); err != nil {
		return false, fmt.Errorf("agree on stopping: %w", err)
	}
	return f[0] > 0, nil
}

// overlapping says whether the gradient all-reduce overlaps the backward.
func (d *Distributed) overlapping() bool {
	return d.Overlap && d.Device == nil && !d.LocalNegatives
}
