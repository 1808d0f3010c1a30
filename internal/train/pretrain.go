package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"simclr/internal/backend"
	"simclr/internal/config"
	"simclr/internal/data"
	"simclr/internal/model"
	"simclr/internal/optim"
	"simclr/internal/runlog"
	"simclr/internal/tensor"
)

// File names inside a run directory.
const (
	CheckpointFile = "checkpoint.safetensors"
	EncoderFile    = "encoder.safetensors"
	MetricsFile    = "metrics.csv"
	LossPlotFile   = "loss.png"
	ConfigFile     = "config.yaml"
)

// ErrInterrupted is returned when pretraining stopped early on a signal (or
// StopAfterSteps) after writing a checkpoint that --resume continues from.
var ErrInterrupted = errors.New("pretraining interrupted")

// PretrainPlan is what a pretraining run reads and builds, decided before
// a device is opened: --dry-run prints it, PretrainJob.Run uses it.
type PretrainPlan struct {
	Config *config.Config // resolved configuration
	// Train is data.split seen through SimCLR's augmentations: two views
	// per image, shuffled, batches of train.batch_size.
	Train *Input
	// KNNTrain and KNNTest are the kNN monitor's centre crops of data.split
	// and data.eval_split (eval.knn_every > 0); nil otherwise.
	KNNTrain, KNNTest *Input
	Model             model.Config      // encoder and projection head
	Meta              model.EncoderMeta // what encoder.safetensors records
	StepsPerEpoch     int
	Precision         Precision // train.precision, applied to the backend by Run
}

// NewPretrainPlan opens the data that cfg names and builds the parts of a
// pretraining run. Warnings (skipped images) go to warn. Close it when done.
func NewPretrainPlan(cfg *config.Config, warn io.Writer) (*PretrainPlan, error) {
	p := &PretrainPlan{Config: cfg}
	if err := p.build(warn); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *PretrainPlan) build(warn io.Writer) error {
	cfg := p.Config
	var err error
	if p.Precision, err = newPrecision(cfg); err != nil {
		return err
	}
	spec := cfg.DataSpec()
	ds, err := openData(cfg, "train", spec, warn)
	if err != nil {
		return err
	}
	channels := ds.Channels()
	acfg := cfg.AugmentConfig(channels)
	p.Train, err = augmentedInput("train", spec, ds, acfg, data.LoaderOptions{
		BatchSize: cfg.Train.BatchSize, Views: 2, DropLast: cfg.Data.DropLast, Shuffle: true,
		Seed: cfg.Seed, Workers: cfg.Data.Workers,
	})
	if err != nil {
		data.Close(ds)
		return err
	}
	if cfg.Data.DropLast && ds.Len() < cfg.Train.BatchSize {
		return fmt.Errorf("data set %s has %d images, fewer than one batch of %d (train.batch_size from %s): lower train.batch_size or set data.drop_last: false",
			ds.Name(), ds.Len(), cfg.Train.BatchSize, cfg.Origin("train.batch_size"))
	}
	loader, err := p.Train.NewLoader()
	if err != nil {
		return err
	}
	p.StepsPerEpoch = loader.BatchesPerEpoch()
	p.Model = cfg.ModelConfig(channels)
	p.Meta = model.EncoderMeta{
		Arch: p.Model.Arch, Stem: p.Model.Stem, Width: p.Model.Width, InChannels: channels,
		ImageSize: cfg.Data.ImageSize, Mean: acfg.Mean, Std: acfg.Std,
	}
	if y, err := cfg.YAML(); err == nil {
		p.Meta.Config = string(y)
	}
	if k := cfg.Eval.KNNEvery; k > 0 {
		if len(ds.Classes()) == 0 {
			return fmt.Errorf("eval.knn_every=%d (from %s) needs labels, but %s is unlabelled: set eval.knn_every: 0", k, cfg.Origin("eval.knn_every"), ds.Name())
		}
		opts := inOrder(cfg, cfg.Eval.ProbeBatchSize)
		if p.KNNTrain, err = centreCropInput("kNN train", spec, ds, p.Meta.ImageSize, p.Meta.Mean, p.Meta.Std, opts); err != nil {
			return err
		}
		testSpec := cfg.EvalDataSpec()
		test, err := openData(cfg, "kNN test", testSpec, warn)
		if err != nil {
			return fmt.Errorf("kNN monitor (eval.knn_every): %w", err)
		}
		if p.KNNTest, err = centreCropInput("kNN test", testSpec, test, p.Meta.ImageSize, p.Meta.Mean, p.Meta.Std, opts); err != nil {
			data.Close(test)
			return err
		}
	}
	return nil
}

// Describe writes what the run will read, how, and the configuration.
func (p *PretrainPlan) Describe(w io.Writer) error {
	fmt.Fprintf(w, "model: %s, %s stem, width %d, %d channels, head %d layers to %d; %d steps per epoch, %d epochs\n",
		p.Model.Arch, p.Model.Stem, p.Model.Width, p.Model.InChannels, p.Model.HeadLayers, p.Model.HeadOut, p.StepsPerEpoch, p.Config.Train.Epochs)
	describePrecision(w, p.Precision)
	line, err := describeLoss(p.Config.Loss.Fused, p.Config.Loss.Temperature, 2*p.Config.Train.BatchSize, p.Model.HeadOut)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, line)
	return describeInputs(w, p.Config, p.Train, p.KNNTrain, p.KNNTest)
}

// Close releases the data sets' open files.
func (p *PretrainPlan) Close() error {
	return closeAll(p.Train, p.KNNTrain, p.KNNTest)
}

// PretrainJob is one pretraining run: the plan and where it runs and writes.
type PretrainJob struct {
	Plan     *PretrainPlan
	Backend  backend.Backend
	Out      string // run directory
	Resume   bool   // continue from Out/checkpoint.safetensors
	Log      io.Writer
	Progress *runlog.Progress
	// StopAfterSteps > 0 stops after that many optimizer steps, writes a
	// checkpoint and returns ErrInterrupted, exactly as a signal would.
	StopAfterSteps int
	// Dist, when set, makes this process one rank of a data-parallel job
	// (distributed.go).
	Dist *Distributed

	// precision is the matmul precision Run set on Backend (recorded in
	// the checkpoints).
	precision backend.Precision
}

// PretrainResult summarises a finished (or interrupted) run.
type PretrainResult struct {
	Steps     int
	Epochs    int
	FinalLoss float64
	Seconds   float64
	Encoder   string
	Dir       string
}

// Run trains until the configured number of epochs, ctx is cancelled
// (then it finishes the current step, checkpoints and returns
// ErrInterrupted), or the loss stops being finite.
func (j *PretrainJob) Run(ctx context.Context) (*PretrainResult, error) {
	if j.Dist != nil && !j.Dist.running {
		return j.runDistributed(ctx)
	}
	r, err := j.setup()
	if err != nil {
		return nil, err
	}
	defer r.close()
	// The loader gets its own context: a signal must let the current step
	// finish rather than cut the batch stream under it.
	loadCtx, cancelLoad := context.WithCancel(context.Background())
	defer cancelLoad()
	for epoch := r.step / r.stepsPerEpoch; epoch < r.cfg.Train.Epochs; epoch++ {
		interrupted, err := r.epoch(ctx, loadCtx, epoch)
		if err != nil {
			return nil, err
		}
		if interrupted {
			return r.result(epoch), ErrInterrupted
		}
	}
	return r.result(r.cfg.Train.Epochs), nil
}

// pretrainRun is one pretraining run in progress: what setup built and
// where the run stands.
type pretrainRun struct {
	job      *PretrainJob
	cfg      *config.Config
	b        backend.Backend
	log      io.Writer
	start    time.Time
	ckptPath string

	loader                    *data.Loader
	stepsPerEpoch, totalSteps int
	net                       *model.SimCLR
	opt                       optim.Optimizer
	baseLR                    float64
	sched                     optim.Schedule
	metrics                   *runlog.Metrics

	step     int     // optimizer steps taken
	lastLoss float64 // loss of the last step read back
	// losses holds the losses of the steps since the last read on the
	// device (train.log_every).
	losses *lossLog
	// pending is the last metrics row, held back so that endEpoch can add
	// the kNN accuracy to the epoch's last row.
	pending *runlog.Row

	// The device batch of 2N views (view 1 rows 0..N-1, view 2 rows
	// N..2N-1) and its host staging buffer, reused across steps.
	x       *tensor.Tensor
	host    []float32
	c, h, w int
}

// setup prepares the run directory and builds the loader, model,
// optimizer, schedule and metrics log from the plan; with Resume it
// restores the checkpoint's model, optimizer and step.
func (j *PretrainJob) setup() (*pretrainRun, error) {
	cfg, b := j.Plan.Config, j.Backend
	r := &pretrainRun{job: j, cfg: cfg, b: b, log: j.Log, start: time.Now(), lastLoss: math.NaN()}
	if r.log == nil {
		r.log = io.Discard
	}
	var err error
	if j.precision, err = j.Plan.Precision.Apply(b, r.log); err != nil {
		return nil, err
	}
	fmt.Fprintf(r.log, "matmul precision %s (train.precision %s)\n", j.precision, j.Plan.Precision.Setting)
	if err := os.MkdirAll(j.Out, 0o755); err != nil {
		return nil, fmt.Errorf("create run directory %s: %w (choose another --out)", j.Out, err)
	}
	r.ckptPath = filepath.Join(j.Out, CheckpointFile)
	if !j.Resume {
		if _, err := os.Stat(r.ckptPath); err == nil {
			return nil, fmt.Errorf("%s already holds a run (%s): continue it with --resume %s, or pick a new --out", j.Out, CheckpointFile, j.Out)
		}
	}
	if err := cfg.WriteFile(filepath.Join(j.Out, ConfigFile)); err != nil {
		return nil, fmt.Errorf("write resolved config into %s: %w", j.Out, err)
	}
	if r.loader, err = j.Plan.Train.NewShardLoader(j.rank(), j.ranks()); err != nil {
		return nil, err
	}
	r.stepsPerEpoch = j.Plan.StepsPerEpoch
	r.totalSteps = r.stepsPerEpoch * cfg.Train.Epochs
	r.c, r.h, r.w = j.Plan.Train.Transform.OutputShape()

	if r.net, err = model.NewSimCLR(b, j.Plan.Model, cfg.Seed); err != nil {
		return nil, fmt.Errorf("build model: %w", err)
	}
	if err := r.net.SetLossFused(cfg.Loss.Fused); err != nil {
		return nil, fmt.Errorf("build model: %w", err)
	}
	r.net.Encoder.SetRecompute(cfg.Train.Recompute)
	if r.opt, err = cfg.NewOptimizer(b, r.net.Params()); err != nil {
		return nil, err
	}
	if r.baseLR, err = optim.ScaleLR(cfg.Optim.LR, cfg.Train.BatchSize, cfg.Optim.LRScaling); err != nil {
		return nil, err
	}
	r.sched = optim.Schedule{BaseLR: r.baseLR, WarmupSteps: cfg.Optim.WarmupEpochs * r.stepsPerEpoch, TotalSteps: r.totalSteps}

	keep := -1
	if j.Resume {
		if r.step, err = j.restore(r.ckptPath, r.net, r.opt); err != nil {
			return nil, err
		}
		fmt.Fprintf(r.log, "resuming %s at step %d of %d (epoch %d)\n", j.Out, r.step, r.totalSteps, r.step/r.stepsPerEpoch+1)
	}
	if r.step, err = j.distStart(r.net, r.opt, r.step); err != nil {
		return nil, err
	}
	if j.Resume {
		keep = r.step
	}
	if r.metrics, err = runlog.OpenMetrics(filepath.Join(j.Out, MetricsFile), keep); err != nil {
		return nil, err
	}
	if r.losses, err = newLossLog(b, cfg.Train.LogEvery); err != nil {
		r.metrics.Close()
		return nil, err
	}
	if d := j.Dist; d != nil && d.LocalNegatives {
		// Each rank's loss is the mean over its own rows; the job's is the
		// mean over the ranks, as the per-step all-reduce gave before.
		size := float64(d.Comm.Size())
		r.losses.reduce = func(v []float64) error {
			for i := range v {
				v[i] /= size
			}
			if err := d.Comm.AllReduce64(v); err != nil {
				return err
			}
			for i := range v {
				v[i] = float64(float32(v[i]))
			}
			return nil
		}
	}
	return r, nil
}

// close releases the metrics log, the loss buffer and the device batch.
func (r *pretrainRun) close() {
	r.metrics.Close()
	r.losses.close()
	if r.x != nil {
		r.b.Free(r.x)
	}
}

// epoch runs the steps of one epoch (skipping those a resumed run has
// already taken), then its end (endEpoch). It reports whether the run was
// interrupted, in which case the checkpoint is already written. The
// losses are read back once per train.log_every steps, at the epoch's end
// and before an interrupt's checkpoint; each read makes one metrics row.
func (r *pretrainRun) epoch(ctx, loadCtx context.Context, epoch int) (interrupted bool, err error) {
	j, cfg := r.job, r.cfg
	skip := r.step - epoch*r.stepsPerEpoch
	if j.Progress != nil {
		j.Progress.StartEpoch(epoch+1, cfg.Train.Epochs, r.stepsPerEpoch)
	}
	ep := epochStats{start: time.Now()}
	for batch, err := range r.loader.Epoch(loadCtx, epoch) {
		if err != nil {
			return false, fmt.Errorf("epoch %d: %w", epoch+1, err)
		}
		if batch.Index < skip {
			continue
		}
		if batch.GlobalN < max(2, j.ranks()) {
			continue // NT-Xent needs at least one negative pair (and every rank an image)
		}
		r.losses.begin(time.Now())
		read, err := r.trainStep(batch, epoch)
		if err != nil {
			return false, err
		}
		ep.pairs += batch.GlobalN
		if err := r.logRead(read, &ep); err != nil {
			return false, err
		}
		stop, err := j.agree(ctx.Err() != nil || (j.StopAfterSteps > 0 && r.step >= j.StopAfterSteps))
		if err != nil {
			return false, fmt.Errorf("step %d: %w", r.step, err)
		}
		if stop && r.step < r.totalSteps {
			if err := r.flushLosses(&ep); err != nil {
				return false, err
			}
			if err := r.appendPending(); err != nil {
				return false, err
			}
			return true, r.save()
		}
	}
	if err := r.flushLosses(&ep); err != nil {
		return false, err
	}
	if j.Progress != nil && ep.steps > 0 {
		j.Progress.FinishEpoch(ep.loss/float64(ep.steps), time.Since(ep.start).Seconds())
	}
	pending := r.pending
	r.pending = nil
	return false, r.endEpoch(epoch, pending)
}

// epochStats accumulates an epoch's read-back losses and pairs.
type epochStats struct {
	start time.Time
	loss  float64 // sum of the losses read back
	steps int     // steps read back
	pairs int     // pairs of the steps taken
}

// flushLosses reads back the steps still pending (the end of an interval
// cut short by the epoch's end or a stop) and logs them.
func (r *pretrainRun) flushLosses(ep *epochStats) error {
	read, err := r.readLosses()
	if err != nil {
		return err
	}
	return r.logRead(read, ep)
}

// logRead turns one read-back interval into a metrics row (held back as
// pending; the previous pending row is written) and a progress update:
// the interval's mean loss, its last step and learning rate, the mean
// seconds per step. nil does nothing.
func (r *pretrainRun) logRead(read *lossRead, ep *epochStats) error {
	if read == nil {
		return nil
	}
	if err := r.appendPending(); err != nil {
		return err
	}
	var sum float64
	for _, l := range read.losses {
		sum += l
	}
	n := len(read.losses)
	last := read.steps[n-1]
	ep.loss += sum
	ep.steps += n
	r.lastLoss = read.losses[n-1]
	secs := time.Since(read.start).Seconds() / float64(n)
	pairsPerS := float64(ep.pairs) / time.Since(ep.start).Seconds()
	mean := sum / float64(n)
	r.pending = &runlog.Row{Epoch: last.epoch + 1, Step: last.step, Loss: mean, LR: last.lr, PairsPerS: pairsPerS, Seconds: secs, KNNTop1: math.NaN()}
	if p := r.job.Progress; p != nil {
		p.Update(last.batch, mean, last.lr, pairsPerS)
	}
	return nil
}

// appendPending writes the held-back metrics row, if any.
func (r *pretrainRun) appendPending() error {
	if r.pending == nil {
		return nil
	}
	row := *r.pending
	r.pending = nil
	return r.metrics.Append(row)
}

// trainStep is one optimizer step on a batch of N images: the 2N views go
// to the device as one batch, the forward and backward passes fill every
// gradient and leave the NT-Xent loss in the step's slot of the loss log,
// and the optimizer steps with the schedule's learning rate, its
// non-finite check deferred into the loss log's status record
// (optim StepDeferred): no host read. When the logging interval ends at
// this step its losses and that record are read back (read, one host
// read): a non-finite loss or a failed check stops the run there, with an
// error that names the first such step. A failed check skips the update
// of its step and of every later one, so the weights stay those before
// the failing step, and no checkpoint is written (save follows a read).
func (r *pretrainRun) trainStep(batch *data.Batch, epoch int) (read *lossRead, err error) {
	b, n := r.b, batch.N
	imgLen := r.c * r.h * r.w
	if r.x == nil || r.x.Dim(0) != 2*n {
		if r.x != nil {
			b.Free(r.x)
		}
		if r.x, err = b.New(2*n, r.c, r.h, r.w); err != nil {
			r.x = nil
			return nil, fmt.Errorf("allocate batch: %w", err)
		}
		r.host = make([]float32, 2*n*imgLen)
	}
	copy(r.host, batch.Views[0][:n*imgLen])
	copy(r.host[n*imgLen:], batch.Views[1][:n*imgLen])
	if err := b.Upload(r.x, r.host); err != nil {
		return nil, fmt.Errorf("upload batch: %w", err)
	}
	lr := r.sched.LR(r.step)
	this := loggedStep{step: r.step + 1, epoch: epoch, batch: batch.Index + 1, lr: lr}
	if err := r.job.netStep(r.net, r.x, float32(r.cfg.Loss.Temperature), batch, r.losses.slot()); err != nil {
		return nil, r.failed(fmt.Errorf("step %d: %w", this.step, err), &this)
	}
	r.losses.wrote(this)
	if err := r.opt.StepDeferred(float32(lr), r.losses.check(this.step)); err != nil {
		return nil, r.failed(fmt.Errorf("step %d: optimizer: %w", this.step, err), nil)
	}
	r.step++
	if r.losses.due(this.step) {
		if read, err = r.readLosses(); err != nil {
			return nil, err
		}
	}
	return read, nil
}

// endEpoch runs the kNN monitor when due (its accuracy goes into the
// epoch's last metrics row, pending), writes that row, and checkpoints
// every train.checkpoint_every epochs and after the last.
func (r *pretrainRun) endEpoch(epoch int, pending *runlog.Row) error {
	cfg, plan := r.cfg, r.job.Plan
	if k := cfg.Eval.KNNEvery; k > 0 && (epoch+1)%k == 0 && plan.KNNTrain != nil && plan.KNNTest != nil {
		// Background, not the run's context: a signal during the monitor
		// lets it finish, like a step, and the next step stops the run.
		acc, err := knnAccuracy(context.Background(), r.b, r.net.Encoder, plan.KNNTrain, plan.KNNTest, cfg)
		if err != nil {
			return fmt.Errorf("kNN monitor after epoch %d: %w", epoch+1, err)
		}
		fmt.Fprintf(r.log, "epoch %d: kNN top-1 %.2f%%\n", epoch+1, acc)
		if pending != nil {
			pending.KNNTop1 = acc
		}
	}
	if pending != nil {
		if err := r.metrics.Append(*pending); err != nil {
			return err
		}
	}
	last := epoch+1 == cfg.Train.Epochs
	if last || (cfg.Train.CheckpointEvery > 0 && (epoch+1)%cfg.Train.CheckpointEvery == 0) {
		return r.save()
	}
	return nil
}

// save writes the training checkpoint, the encoder and the loss plot.
func (r *pretrainRun) save() error {
	j := r.job
	if n := len(r.losses.steps); n > 0 {
		// Every save follows a read: the optimizer's check of the steps
		// since then is on the device, unread.
		return fmt.Errorf("internal error: checkpoint at step %d with the losses and checks of %d steps unread", r.step, n)
	}
	if !j.isRoot() {
		return nil // rank 0 writes the run directory
	}
	meta := j.Plan.Meta
	meta.Precision = j.precision.String()
	if err := j.saveCheckpoint(r.ckptPath, r.net, r.opt, r.step, r.stepsPerEpoch, meta); err != nil {
		return err
	}
	if err := model.SaveEncoder(filepath.Join(j.Out, EncoderFile), r.net.Encoder, meta); err != nil {
		return fmt.Errorf("save encoder: %w", err)
	}
	if rows := r.metrics.Rows(); len(rows) > 0 {
		if err := runlog.PlotLoss(rows, filepath.Join(j.Out, LossPlotFile)); err != nil {
			return err
		}
	}
	return nil
}

// result summarises the run after the given number of completed epochs.
func (r *pretrainRun) result(epochs int) *PretrainResult {
	return &PretrainResult{Steps: r.step, Epochs: epochs, FinalLoss: r.lastLoss, Seconds: time.Since(r.start).Seconds(),
		Dir: r.job.Out, Encoder: filepath.Join(r.job.Out, EncoderFile)}
}

// describeLoss says which NT-Xent path loss.fused picks for 2N = rows
// projections of size dim on the cpu and on a GPU, and the bytes of the
// loss's buffers on each path (model.LossBytes).
func describeLoss(mode string, tau float64, rows, dim int) (string, error) {
	onCPU, err := model.FusedLossFor(mode, "cpu", rows)
	if err != nil {
		return "", err
	}
	onGPU, err := model.FusedLossFor(mode, "cuda", rows)
	if err != nil {
		return "", err
	}
	path := map[bool]string{true: "fused", false: "materialised"}
	return fmt.Sprintf("loss: NT-Xent over 2N = %d rows of %d, tau %g; loss.fused %s: %s on the cpu, %s on a GPU; loss buffers %s fused, %s materialised",
		rows, dim, tau, mode, path[onCPU], path[onGPU], mib(model.LossBytes(rows, dim, true)), mib(model.LossBytes(rows, dim, false))), nil
}

// mib formats a byte count in MiB (GiB from 1 GiB up).
func mib(b int64) string {
	if b >= 1<<30 {
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	}
	return fmt.Sprintf("%.2f MiB", float64(b)/(1<<20))
}
