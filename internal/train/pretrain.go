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
	loader, err := p.Train.NewLoader()
	if err != nil {
		return err
	}
	p.StepsPerEpoch = loader.BatchesPerEpoch()
	if p.StepsPerEpoch == 0 {
		return fmt.Errorf("data set %s has %d images, fewer than one batch of %d: lower train.batch_size or set data.drop_last: false", ds.Name(), ds.Len(), cfg.Train.BatchSize)
	}
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
	cfg, b := j.Plan.Config, j.Backend
	log := j.Log
	if log == nil {
		log = io.Discard
	}
	start := time.Now()
	if err := os.MkdirAll(j.Out, 0o755); err != nil {
		return nil, fmt.Errorf("create run directory %s: %w (choose another --out)", j.Out, err)
	}
	ckptPath := filepath.Join(j.Out, CheckpointFile)
	if !j.Resume {
		if _, err := os.Stat(ckptPath); err == nil {
			return nil, fmt.Errorf("%s already holds a run (%s): continue it with --resume %s, or pick a new --out", j.Out, CheckpointFile, j.Out)
		}
	}
	if err := cfg.WriteFile(filepath.Join(j.Out, ConfigFile)); err != nil {
		return nil, fmt.Errorf("write resolved config into %s: %w", j.Out, err)
	}

	loader, err := j.Plan.Train.NewLoader()
	if err != nil {
		return nil, err
	}
	stepsPerEpoch := j.Plan.StepsPerEpoch
	totalSteps := stepsPerEpoch * cfg.Train.Epochs

	net, err := model.NewSimCLR(b, j.Plan.Model, cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("build model: %w", err)
	}
	opt, err := cfg.NewOptimizer(b, net.Params())
	if err != nil {
		return nil, err
	}
	baseLR, err := optim.ScaleLR(cfg.Optim.LR, cfg.Train.BatchSize, cfg.Optim.LRScaling)
	if err != nil {
		return nil, err
	}
	sched := optim.Schedule{BaseLR: baseLR, WarmupSteps: cfg.Optim.WarmupEpochs * stepsPerEpoch, TotalSteps: totalSteps}

	step := 0
	if j.Resume {
		step, err = j.restore(ckptPath, net, opt)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "resuming %s at step %d of %d (epoch %d)\n", j.Out, step, totalSteps, step/stepsPerEpoch+1)
	}
	keep := -1
	if j.Resume {
		keep = step
	}
	metrics, err := runlog.OpenMetrics(filepath.Join(j.Out, MetricsFile), keep)
	if err != nil {
		return nil, err
	}
	defer metrics.Close()

	meta := j.Plan.Meta
	save := func(step int) error {
		if err := j.saveCheckpoint(ckptPath, net, opt, step, stepsPerEpoch, meta); err != nil {
			return err
		}
		if err := model.SaveEncoder(filepath.Join(j.Out, EncoderFile), net.Encoder, meta); err != nil {
			return fmt.Errorf("save encoder: %w", err)
		}
		if rows := metrics.Rows(); len(rows) > 0 {
			if err := runlog.PlotLoss(rows, filepath.Join(j.Out, LossPlotFile)); err != nil {
				return err
			}
		}
		return nil
	}

	c, ch, w := j.Plan.Train.Transform.OutputShape()
	imgLen := c * ch * w
	var x *tensor.Tensor
	var host []float32
	lastLoss := math.NaN()
	tau := float32(cfg.Loss.Temperature)
	// The loader gets its own context: a signal must let the current step
	// finish rather than cut the batch stream under it.
	loadCtx, cancelLoad := context.WithCancel(context.Background())
	defer cancelLoad()

	for epoch := step / stepsPerEpoch; epoch < cfg.Train.Epochs; epoch++ {
		skip := step - epoch*stepsPerEpoch
		if j.Progress != nil {
			j.Progress.StartEpoch(epoch+1, cfg.Train.Epochs, stepsPerEpoch)
		}
		epochStart := time.Now()
		var epochLoss float64
		var epochSteps, epochPairs int
		var pending *runlog.Row
		for batch, err := range loader.Epoch(loadCtx, epoch) {
			if err != nil {
				return nil, fmt.Errorf("epoch %d: %w", epoch+1, err)
			}
			if batch.Index < skip {
				continue
			}
			if pending != nil {
				if err := metrics.Append(*pending); err != nil {
					return nil, err
				}
				pending = nil
			}
			n := batch.N
			if n < 2 {
				continue // NT-Xent needs at least one negative pair
			}
			t0 := time.Now()
			if x == nil || x.Dim(0) != 2*n {
				if x != nil {
					b.Free(x)
				}
				if x, err = b.New(2*n, c, ch, w); err != nil {
					return nil, fmt.Errorf("allocate batch: %w", err)
				}
				host = make([]float32, 2*n*imgLen)
			}
			copy(host, batch.Views[0][:n*imgLen])
			copy(host[n*imgLen:], batch.Views[1][:n*imgLen])
			if err := b.Upload(x, host); err != nil {
				return nil, fmt.Errorf("upload batch: %w", err)
			}
			loss, err := net.Step(x, tau)
			if err != nil {
				return nil, fmt.Errorf("step %d: %w", step+1, err)
			}
			if math.IsNaN(float64(loss)) || math.IsInf(float64(loss), 0) {
				return nil, fmt.Errorf("step %d (epoch %d): the loss is %v; stopping. Likely causes: a learning rate too high for this batch size (optim.lr=%g, scaled %g) or a temperature too low (loss.temperature=%g). The last good checkpoint in %s is kept",
					step+1, epoch+1, loss, cfg.Optim.LR, baseLR, cfg.Loss.Temperature, j.Out)
			}
			lr := sched.LR(step)
			if err := opt.Step(float32(lr)); err != nil {
				return nil, fmt.Errorf("step %d: optimizer: %w", step+1, err)
			}
			step++
			secs := time.Since(t0).Seconds()
			epochLoss += float64(loss)
			epochSteps++
			epochPairs += n
			pairsPerS := float64(epochPairs) / time.Since(epochStart).Seconds()
			lastLoss = float64(loss)
			pending = &runlog.Row{Epoch: epoch + 1, Step: step, Loss: float64(loss), LR: lr, PairsPerS: pairsPerS, Seconds: secs, KNNTop1: math.NaN()}
			if j.Progress != nil {
				j.Progress.Update(batch.Index+1, float64(loss), lr, pairsPerS)
			}
			interrupted := ctx.Err() != nil || (j.StopAfterSteps > 0 && step >= j.StopAfterSteps)
			if interrupted && step < totalSteps {
				if err := metrics.Append(*pending); err != nil {
					return nil, err
				}
				if err := save(step); err != nil {
					return nil, err
				}
				return &PretrainResult{Steps: step, Epochs: epoch, FinalLoss: lastLoss, Seconds: time.Since(start).Seconds(), Dir: j.Out, Encoder: filepath.Join(j.Out, EncoderFile)}, ErrInterrupted
			}
		}
		if j.Progress != nil && epochSteps > 0 {
			j.Progress.FinishEpoch(epochLoss/float64(epochSteps), time.Since(epochStart).Seconds())
		}
		if k := cfg.Eval.KNNEvery; k > 0 && (epoch+1)%k == 0 && j.Plan.KNNTrain != nil && j.Plan.KNNTest != nil {
			// Background, not ctx: a signal during the monitor lets it finish,
			// like a step, and the next step stops the run.
			acc, err := knnAccuracy(context.Background(), b, net.Encoder, j.Plan.KNNTrain, j.Plan.KNNTest, cfg)
			if err != nil {
				return nil, fmt.Errorf("kNN monitor after epoch %d: %w", epoch+1, err)
			}
			fmt.Fprintf(log, "epoch %d: kNN top-1 %.2f%%\n", epoch+1, acc)
			if pending != nil {
				pending.KNNTop1 = acc
			}
		}
		if pending != nil {
			if err := metrics.Append(*pending); err != nil {
				return nil, err
			}
		}
		last := epoch+1 == cfg.Train.Epochs
		if last || (cfg.Train.CheckpointEvery > 0 && (epoch+1)%cfg.Train.CheckpointEvery == 0) {
			if err := save(step); err != nil {
				return nil, err
			}
		}
	}
	return &PretrainResult{Steps: step, Epochs: cfg.Train.Epochs, FinalLoss: lastLoss, Seconds: time.Since(start).Seconds(), Dir: j.Out, Encoder: filepath.Join(j.Out, EncoderFile)}, nil
}
