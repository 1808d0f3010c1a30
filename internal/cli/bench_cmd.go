package cli

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"simclr/internal/backend"
	"simclr/internal/bench"
	"simclr/internal/config"
	"simclr/internal/data"
	"simclr/internal/dist"
	"simclr/internal/model"
	"simclr/internal/optim"
	"simclr/internal/train"
)

func (a *app) newBenchCommand() *cobra.Command {
	var steps, warmup, channels int
	var asJSON, kernelTimes bool
	var cpuProfile string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Time SimCLR training steps on synthetic input",
		Long: `bench times full training steps — two views through the encoder and head,
NT-Xent, the backward pass and the optimizer update — of the configured model
on a fixed random batch of train.batch_size pairs at data.image_size, after
--warmup untimed steps, and prints pairs/s, ms/step and peak memory. With
--json it prints one JSON object (pairs_per_s, ms_per_step, peak_bytes, ...).
Every speed figure of this project comes from this command.

--kernel-times (CUDA backend only: a CUDA build and --device cuda) also
prints the device time of every kernel over the timed steps, measured with
CUDA events recorded around each launch: kernel, calls, total ms, ms per
step and share of the summed kernel time (the "kernel_times" field with
--json). Recording the events adds to the step times, so take throughput
figures from a run without it.

The channel count is --channels when given, else the one data.format
implies (cifar10, cifar100, stl10, synthetic: 3; idx, mnist, fashion-mnist:
1), so no data needs to be on disk; only an image folder is opened to ask.

--cpuprofile FILE writes a pprof CPU profile of the timed steps alone (model
build and warm-up excluded); read it with go tool pprof BINARY FILE.`,
		Example: `  simclr bench --set model.width=64 --set train.batch_size=64 --steps 5
  simclr bench --config configs/fashion-mnist.yaml --json
  simclr bench --device cuda --set train.batch_size=512 --steps 20
  simclr bench --device cuda --set train.batch_size=512 --steps 5 --kernel-times`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			cfg, err := a.loadConfig(cmd)
			if err != nil {
				return err
			}
			if channels == 0 {
				if channels, err = benchChannels(cfg); err != nil {
					return err
				}
			}
			prec, err := train.NewPrecision(cfg)
			if err != nil {
				return err
			}
			distJob, distDone, err := a.openDist(cfg)
			if err != nil {
				return err
			}
			defer func() { err = distDone(err) }()
			var comm dist.Comm
			if distJob != nil {
				comm = distJob.Comm
			}
			b, err := openBackend(rankDevice(cfg.Device, distJob), a.debugSync)
			if err != nil {
				return err
			}
			defer b.Close()
			if err := checkKernelTimes(b, kernelTimes); err != nil {
				return err
			}
			if _, err := prec.Apply(b, a.infoWriter()); err != nil {
				return err
			}
			mc := cfg.ModelConfig(channels)
			var prof *os.File
			if cpuProfile != "" {
				if prof, err = os.Create(cpuProfile); err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				defer func() {
					if cerr := prof.Close(); cerr != nil && err == nil {
						err = fmt.Errorf("--cpuprofile: %w", cerr)
					}
				}()
			}
			opts := bench.Options{Steps: steps, Warmup: warmup, BatchPairs: cfg.Train.BatchSize, Seed: cfg.Seed, KernelTimes: kernelTimes, Comm: comm, LocalBN: !cfg.Model.SyncBN, Recompute: cfg.Train.Recompute}
			if prof != nil {
				opts.CPUProfile = prof
			}
			res, err := bench.Run(b, mc, cfg.Data.ImageSize, float32(cfg.Loss.Temperature),
				func(params []*model.Param) (optim.Optimizer, error) { return cfg.NewOptimizer(b, params) },
				opts)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				return enc.Encode(res)
			}
			fmt.Fprintf(a.stdout, "%s %s-stem width %d, %dx%dx%d, %d pairs/batch on %s in %s: %.2f pairs/s, %.1f ms/step, peak %.1f MiB (%d steps after %d warm-up)\n",
				res.Arch, res.Stem, res.Width, res.Channels, res.ImageSize, res.ImageSize, res.BatchPairs, res.Backend, res.Precision,
				res.PairsPerS, res.MsPerStep, float64(res.PeakBytes)/(1<<20), res.Steps, res.Warmup)
			if res.Recompute {
				fmt.Fprintln(a.stdout, "activation recomputation on (train.recompute): each block's activations rebuilt in the backward")
			}
			if res.Ranks > 1 {
				fmt.Fprintf(a.stdout, "%d ranks: collectives %.1f ms/step (%.1f%% of the step, waiting for slower ranks included), %d calls and %.2f MiB sent per rank per step\n",
					res.Ranks, res.CommMsPerStep, 100*res.CommShare, res.CommCallsPerStep, float64(res.CommBytesPerStep)/(1<<20))
			}
			if kernelTimes {
				return a.printKernelTimes(res)
			}
			return nil
		},
	}
	addConfigFlags(cmd)
	f := cmd.Flags()
	f.IntVar(&steps, "steps", 10, "timed steps")
	f.IntVar(&warmup, "warmup", 2, "untimed steps first")
	f.IntVar(&channels, "channels", 0, "input channels (default: the configured data set's)")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a pprof CPU profile of the timed steps to this file")
	f.BoolVar(&kernelTimes, "kernel-times", false, "also time every kernel with CUDA events over the timed steps (CUDA backend)")
	return cmd
}

// benchChannels is the input channel count of the benchmarked model: the
// one data.format implies, or for image folders the opened data set's.
func benchChannels(cfg *config.Config) (int, error) {
	if ch, ok := cfg.FormatChannels(); ok {
		return ch, nil
	}
	ds, err := data.Open(cfg.DataSpec())
	if err != nil {
		return 0, fmt.Errorf("bench takes the channel count of a %s data set from its images: %w (or pass --channels 1|3)", cfg.Data.Format, err)
	}
	defer data.Close(ds)
	return ds.Channels(), nil
}

// checkKernelTimes rejects --kernel-times on a backend without kernel
// timing (the CPU backend).
func checkKernelTimes(b backend.Backend, wanted bool) error {
	if _, ok := b.(backend.KernelTimer); wanted && !ok {
		return fmt.Errorf("--kernel-times needs the CUDA backend: a CUDA build of simclr (make build-cuda) run with --device cuda; this run is on the %s backend", b.Name())
	}
	return nil
}

// printKernelTimes prints the kernel time table of a --kernel-times run.
func (a *app) printKernelTimes(res *bench.Result) error {
	fmt.Fprintf(a.stdout, "peak memory: %.1f MiB on the device (the backend's pool, in its size classes), %.1f MiB Go heap\n",
		float64(res.BackendPeakBytes)/(1<<20), float64(res.HeapPeakBytes)/(1<<20))
	fmt.Fprintf(a.stdout, "kernel times over %d timed steps (device events around every launch): %.3f ms of kernels per step, %.1f ms per step in all\n",
		res.Steps, res.KernelMsPerStep, res.MsPerStep)
	return bench.WriteKernelTable(a.stdout, res.KernelTimes)
}
