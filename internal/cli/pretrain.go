package cli

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"simclr/internal/runlog"
	"simclr/internal/train"
)

func (a *app) newPretrainCommand() *cobra.Command {
	var dryRun bool
	var out, resume string
	cmd := &cobra.Command{
		Use:   "pretrain",
		Short: "Pretrain an encoder with SimCLR on unlabelled images",
		Long: `pretrain trains a ResNet encoder and projection head with the NT-Xent loss on
two augmented views of every image of data.split (SimCLR). The run directory
(--out, a new runs/pretrain-<time> by default) receives the resolved
configuration (config.yaml), metrics.csv, loss.png, the encoder
(encoder.safetensors, torchvision names) and the full training state
(checkpoint.safetensors), both written atomically every
train.checkpoint_every epochs and at the end.

Ctrl-C (SIGINT/SIGTERM) finishes the current step, writes a checkpoint and
tells how to continue: --resume DIR picks the run up where it stopped (with
DIR/config.yaml unless --config is given). A NaN or Inf loss stops the run
and keeps the last good checkpoint.

With no arguments it trains the built-in default (configs/default.yaml: a
small ResNet on the synthetic data set, a couple of minutes on two cores).
With --dry-run it only resolves the configuration, opens the data set and
prints the model, the data set with the augmentations and normalisation the
run applies, the batches per epoch and the resolved configuration.`,
		Example: `  simclr pretrain
  simclr pretrain --config configs/fashion-mnist.yaml --epochs 10 --out runs/fmnist
  simclr pretrain --resume runs/fmnist
  simclr pretrain --data-format cifar10 --data-path data/cifar-10-batches-bin --batch-size 256
  simclr pretrain --dry-run --set data.limit=1024 --set augment.blur_p=0.5`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if resume != "" {
				if out != "" && out != resume {
					return usagef("--resume %s and --out %s disagree: --resume continues the run in its own directory", resume, out)
				}
				out = resume
				if err := checkInputFile("--resume", filepath.Join(resume, train.CheckpointFile)); err != nil {
					return err
				}
				if a.configFile == "" {
					a.configFile = filepath.Join(resume, train.ConfigFile)
				}
			}
			cfg, err := a.loadConfig(cmd)
			if err != nil {
				return err
			}
			plan, err := train.NewPretrainPlan(cfg, a.warnWriter())
			if err != nil {
				return err
			}
			defer plan.Close()
			if dryRun {
				return plan.Describe(a.stdout)
			}
			if out == "" {
				out = filepath.Join("runs", "pretrain-"+time.Now().Format("20060102-150405"))
			}
			distJob, distDone, err := a.openDist(cfg)
			if err != nil {
				return err
			}
			defer func() { err = distDone(err) }()
			b, err := openBackend(rankDevice(cfg.Device, distJob), a.debugSync)
			if err != nil {
				return err
			}
			defer b.Close()
			closeDev, err := a.attachDeviceComm(cfg, b, distJob)
			if err != nil {
				return err
			}
			defer closeDev()
			job := &train.PretrainJob{Dist: distJob,
				Plan: plan, Backend: b, Out: out, Resume: resume != "",
				Log: a.infoWriter(), Progress: runlog.NewProgress(a.stderr, a.quiet),
			}
			ds := plan.Train.Dataset
			a.info("pretraining on %s (%d images) with %s, device %s; run directory %s", ds.Name(), ds.Len(), cfg.Model.Arch, b.Name(), out)
			res, err := job.Run(a.ctx)
			if errors.Is(err, train.ErrInterrupted) {
				return sameOnAllRanks{fmt.Errorf("interrupted after step %d; the checkpoint in %s is up to date.\nContinue with: simclr pretrain --resume %s", res.Steps, out, out)}
			}
			if err != nil {
				return err
			}
			enc := res.Encoder
			fmt.Fprintf(a.stdout, "pretrained %d epochs (%d steps) in %.1fs, final loss %.4f\nrun directory: %s\n", res.Epochs, res.Steps, res.Seconds, res.FinalLoss, out)
			fmt.Fprintf(a.stdout, "next:\n  simclr linear-eval --config %s --checkpoint %s\n  simclr linear-eval --config %s --random-init   # the untrained baseline\n  simclr export-embeddings --config %s --checkpoint %s --out %s\n",
				filepath.Join(out, train.ConfigFile), enc,
				filepath.Join(out, train.ConfigFile),
				filepath.Join(out, train.ConfigFile), enc, filepath.Join(out, "embeddings.npy"))
			return nil
		},
	}
	addConfigFlags(cmd)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check the setup and print it; do not train")
	cmd.Flags().StringVar(&out, "out", "", "run `DIR` (default: a new runs/pretrain-<time>)")
	cmd.Flags().StringVar(&resume, "resume", "", "continue the run in `DIR` from its checkpoint.safetensors")
	return cmd
}

// infoWriter is where progress-like information goes (stderr unless --quiet).
func (a *app) infoWriter() io.Writer {
	if a.quiet {
		return io.Discard
	}
	return a.stderr
}
