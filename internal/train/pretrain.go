package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"simclr/internal/augment"
	"simclr/internal/backend"
	"simclr/internal/config"
	"simclr/internal/data"
	"simclr/internal/model"
	"simclr/internal/optim"
	"simclr/internal/runlog"
	"simclr/internal/safetensors"
	"simclr/internal/tensor"
)

// File names inside a run directory.
const (
	CheckpointFile = "checkpoint.safetensors"
	EncoderFile    = "encoder.safetensors"
	MetricsFile    = "metrics.csv"
	LossPlotFile   = "loss.png"
	ConfigFile     = "config.yaml"
	checkpointKind = "simclr-checkpoint-v1"
)

// ErrInterrupted is returned when pretraining stopped early on a signal (or
// StopAfterSteps) after writing a checkpoint that --resume continues from.
var ErrInterrupted = errors.New("pretraining interrupted")

// PretrainJob is everything one pretraining run needs.
type PretrainJob struct {
	Config  *config.Config // resolved configuration
	Backend backend.Backend
	Data    data.Dataset // the pretraining split
	// KNNTrain and KNNTest are labelled splits for the optional kNN monitor
	// (eval.knn_every > 0); both nil disables it.
	KNNTrain, KNNTest data.Dataset
	Out               string // run directory
	Resume            bool   // continue from Out/checkpoint.safetensors
	Log               io.Writer
	Progress          *runlog.Progress
	// StopAfterSteps > 0 stops after that many optimizer steps, writes a
	// checkpoint and returns ErrInterrupted, exactly as a signal would.
	StopAfterSteps int
	// Dist, when set, makes this process one rank of a data-parallel job
	// (distributed.go).
	Dist *Distributed
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

// ModelConfig turns the configuration into the model's.
func ModelConfig(c *config.Config, channels int) model.Config {
	return model.Config{
		Arch:       c.Model.Arch,
		Stem:       c.Model.Stem,
		Width:      c.Model.Width,
		InChannels: channels,
		HeadLayers: c.Model.HeadLayers,
		HeadHidden: c.Model.HeadHidden,
		HeadOut:    c.Model.HeadOut,
		HeadBN:     c.Model.HeadBN,
	}
}

// NewOptimizer builds the configured optimizer over params.
func NewOptimizer(b backend.Backend, c *config.Config, params []*model.Param) (optim.Optimizer, error) {
	o := c.Optim
	switch o.Name {
	case "sgd":
		return optim.NewSGD(b, params, optim.SGDOptions{Momentum: float32(o.Momentum), WeightDecay: float32(o.WeightDecay), Nesterov: o.Nesterov, ExcludeBiasBN: o.ExcludeBiasBN})
	case "lars":
		return optim.NewLARS(b, params, optim.LARSOptions{Momentum: float32(o.Momentum), WeightDecay: float32(o.WeightDecay), TrustCoef: float32(o.TrustCoef), ExcludeBiasBN: o.ExcludeBiasBN})
	case "adamw":
		return optim.NewAdamW(b, params, optim.AdamWOptions{Beta1: float32(o.Beta1), Beta2: float32(o.Beta2), Eps: float32(o.Eps), WeightDecay: float32(o.WeightDecay), ExcludeBiasBN: o.ExcludeBiasBN})
	}
	return nil, fmt.Errorf("optim.name %q is not one of lars, sgd, adamw", o.Name)
}

// Run trains until the configured number of epochs, ctx is cancelled
// (then it finishes the current step, checkpoints and returns
// ErrInterrupted), or the loss stops being finite.
func (j *PretrainJob) Run(ctx context.Context) (*PretrainResult, error) {
	if j.Dist != nil && !j.Dist.running {
		return j.runDistributed(ctx)
	}
	cfg, b := j.Config, j.Backend
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

	channels := j.Data.Channels()
	acfg := cfg.AugmentConfig(channels)
	pipe, err := augment.New(acfg)
	if err != nil {
		return nil, fmt.Errorf("augmentations: %w", err)
	}
	loader, err := data.NewLoader(j.Data, pipe, data.LoaderOptions{
		BatchSize: cfg.Train.BatchSize, Views: 2, DropLast: cfg.Data.DropLast, Shuffle: true,
		Seed: cfg.Seed, Workers: cfg.Data.Workers, Shard: j.rank(), Shards: j.ranks(),
	})
	if err != nil {
		return nil, fmt.Errorf("data loader: %w", err)
	}
	stepsPerEpoch := loader.BatchesPerEpoch()
	if stepsPerEpoch == 0 {
		return nil, fmt.Errorf("data set %s has %d images, fewer than one batch of %d: lower train.batch_size or set data.drop_last: false", j.Data.Name(), j.Data.Len(), cfg.Train.BatchSize)
	}
	totalSteps := stepsPerEpoch * cfg.Train.Epochs

	mcfg := ModelConfig(cfg, channels)
	net, err := model.NewSimCLR(b, mcfg, cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("build model: %w", err)
	}
	opt, err := NewOptimizer(b, cfg, net.Params())
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
	if step, err = j.distStart(net, opt, step); err != nil {
		return nil, err
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

	meta := model.EncoderMeta{
		Arch: mcfg.Arch, Stem: mcfg.Stem, Width: mcfg.Width, InChannels: channels,
		ImageSize: cfg.Data.ImageSize, Mean: acfg.Mean, Std: acfg.Std,
	}
	if y, err := cfg.YAML(); err == nil {
		meta.Config = string(y)
	}
	save := func(step int) error {
		if !j.isRoot() {
			return nil // rank 0 writes the run directory
		}
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

	c, ch, w := pipe.OutputShape()
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
			if batch.GlobalN < max(2, j.ranks()) {
				continue // NT-Xent needs at least one negative pair (and every rank an image)
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
			loss, err := j.trainStep(net, x, tau, batch)
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
			epochPairs += batch.GlobalN
			pairsPerS := float64(epochPairs) / time.Since(epochStart).Seconds()
			lastLoss = float64(loss)
			pending = &runlog.Row{Epoch: epoch + 1, Step: step, Loss: float64(loss), LR: lr, PairsPerS: pairsPerS, Seconds: secs, KNNTop1: math.NaN()}
			if j.Progress != nil {
				j.Progress.Update(batch.Index+1, float64(loss), lr, pairsPerS)
			}
			interrupted, err := j.agree(ctx.Err() != nil || (j.StopAfterSteps > 0 && step >= j.StopAfterSteps))
			if err != nil {
				return nil, fmt.Errorf("step %d: %w", step, err)
			}
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
		if k := cfg.Eval.KNNEvery; k > 0 && (epoch+1)%k == 0 && j.KNNTrain != nil && j.KNNTest != nil {
			acc, err := KNNAccuracy(b, net.Encoder, j.KNNTrain, j.KNNTest, cfg, meta)
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

func (j *PretrainJob) saveCheckpoint(path string, net *model.SimCLR, opt optim.Optimizer, step, stepsPerEpoch int, meta model.EncoderMeta) error {
	b := j.Backend
	tensors, err := model.StateTensors(b, net.StateDict(), ModelPrefix)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	ot, err := optimizerTensors(b, opt)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	tensors = append(tensors, ot...)
	md := map[string]string{
		"format":          checkpointKind,
		"step":            strconv.Itoa(step),
		"epoch":           strconv.Itoa(step / stepsPerEpoch),
		"steps_per_epoch": strconv.Itoa(stepsPerEpoch),
		"optim_steps":     strconv.Itoa(opt.Steps()),
		"seed":            strconv.FormatInt(j.Config.Seed, 10),
		"arch":            meta.Arch,
		"stem":            meta.Stem,
		"width":           strconv.Itoa(meta.Width),
		"in_channels":     strconv.Itoa(meta.InChannels),
		"config":          meta.Config,
	}
	if err := safetensors.Write(path, &safetensors.File{Tensors: tensors, Metadata: md}); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	return nil
}

// restore loads a checkpoint written by saveCheckpoint and returns its step.
func (j *PretrainJob) restore(path string, net *model.SimCLR, opt optim.Optimizer) (int, error) {
	f, err := safetensors.Read(path)
	if err != nil {
		return 0, fmt.Errorf("resume: %w (is %s a simclr run directory?)", err, j.Out)
	}
	if f.Metadata["format"] != checkpointKind {
		return 0, fmt.Errorf("resume: %s is not a simclr training checkpoint (format %q, want %q)", path, f.Metadata["format"], checkpointKind)
	}
	step, err := strconv.Atoi(f.Metadata["step"])
	if err != nil || step < 0 {
		return 0, fmt.Errorf("resume: %s has a bad step %q", path, f.Metadata["step"])
	}
	optSteps, err := strconv.Atoi(f.Metadata["optim_steps"])
	if err != nil {
		return 0, fmt.Errorf("resume: %s has a bad optim_steps %q", path, f.Metadata["optim_steps"])
	}
	if err := net.LoadStateDict(f, ModelPrefix); err != nil {
		return 0, fmt.Errorf("resume %s: %w", path, err)
	}
	get := func(name string) ([]float32, bool) {
		t, ok := f.Get(name)
		if !ok || t.DType != "F32" {
			return nil, false
		}
		return t.F32, true
	}
	if err := opt.LoadState(get, optSteps); err != nil {
		return 0, fmt.Errorf("resume %s: optimizer state: %w (was it trained with another optim.name?)", path, err)
	}
	return step, nil
}
