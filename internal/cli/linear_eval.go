package cli

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"simclr/internal/model"
	"simclr/internal/train"
)

func (a *app) newLinearEvalCommand() *cobra.Command {
	var dryRun, randomInit, knn bool
	var checkpoint, out string
	cmd := &cobra.Command{
		Use:   "linear-eval",
		Short: "Train and test a linear classifier on frozen pretrained features",
		Long: `linear-eval measures a pretrained encoder the standard way: it loads the
encoder from --checkpoint (encoder.safetensors of a pretrain run), checks it
fits the data (channels, data.image_size), extracts the features of
data.split and data.eval_split once with batch norm in eval mode, trains a
linear classifier on the first (eval.probe_* settings) and reports top-1 and
top-5 accuracy, per-class accuracy and the confusion matrix on the second.
The report is also written to --out (eval.json beside the checkpoint by
default).

--random-init evaluates an untrained encoder of the configured architecture
with the same probe: the baseline every self-supervised result must be read
against. --knn adds the weighted kNN accuracy (eval.knn_k, eval.knn_temperature).

With --dry-run it only resolves the configuration, opens both splits, builds
the loaders and prints them with the resolved configuration.`,
		Example: `  simclr linear-eval --checkpoint runs/pretrain-20260101-120000/encoder.safetensors
  simclr linear-eval --config runs/fmnist/config.yaml --checkpoint runs/fmnist/encoder.safetensors --knn
  simclr linear-eval --config configs/fashion-mnist.yaml --random-init
  simclr linear-eval --dry-run --set data.eval_split=test`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if checkpoint == "" && !dryRun && !randomInit {
				return usagef("--checkpoint is required (the encoder.safetensors of a pretrain run), or --random-init for the untrained baseline")
			}
			if checkpoint != "" && randomInit {
				return usagef("--checkpoint and --random-init exclude each other")
			}
			if checkpoint != "" {
				if err := checkInputFile("--checkpoint", checkpoint); err != nil {
					return err
				}
			}
			switch {
			case out != "":
				if err := checkOutputDir("--out", out); err != nil {
					return err
				}
			case checkpoint != "":
				out = filepath.Join(filepath.Dir(checkpoint), "eval.json")
			default:
				out = filepath.Join("runs", "random-init-"+time.Now().Format("20060102-150405"), "eval.json")
			}
			s, err := a.prepare(cmd, ModeLinearEval)
			if err != nil {
				return err
			}
			defer s.Close()
			if dryRun {
				return s.Describe(a.stdout)
			}
			b, err := openBackend(s.Config.Device, a.debugSync)
			if err != nil {
				return err
			}
			defer b.Close()
			channels := s.Train.Dataset.Channels()
			var enc *model.ResNet
			var meta model.EncoderMeta
			if randomInit {
				mc := train.ModelConfig(s.Config, channels)
				if enc, err = model.NewResNet(b, mc, s.Config.Seed); err != nil {
					return err
				}
				meta = model.EncoderMeta{Arch: mc.Arch, Stem: mc.Stem, Width: mc.Width, InChannels: channels, ImageSize: s.Config.Data.ImageSize, Mean: s.Train.Mean, Std: s.Train.Std}
			} else {
				if enc, meta, err = model.LoadEncoder(checkpoint, b); err != nil {
					return fmt.Errorf("load --checkpoint: %w", err)
				}
				if err := train.CheckEncoderFits(meta, s.Train.Dataset, s.Config.Data.ImageSize, checkpoint); err != nil {
					return err
				}
			}
			job := &train.LinearEvalJob{
				Config: s.Config, Backend: b, Train: s.Train.Dataset, Test: s.Eval.Dataset,
				Encoder: enc, Meta: meta, Checkpoint: checkpoint, RandomInit: randomInit, KNN: knn,
				Out: out, Log: a.infoWriter(),
			}
			rep, err := job.Run(a.ctx)
			if err != nil {
				return err
			}
			rep.Print(a.stdout)
			fmt.Fprintf(a.stdout, "report: %s\n", out)
			return nil
		},
	}
	addConfigFlags(cmd)
	f := cmd.Flags()
	f.BoolVar(&dryRun, "dry-run", false, "check the setup and print it; do not train")
	f.StringVar(&checkpoint, "checkpoint", "", "encoder `FILE` (encoder.safetensors) written by pretrain")
	f.BoolVar(&randomInit, "random-init", false, "evaluate an untrained encoder of the configured architecture (the baseline)")
	f.BoolVar(&knn, "knn", false, "also report the weighted kNN accuracy")
	f.StringVar(&out, "out", "", "report `FILE` (default: eval.json beside the checkpoint)")
	return cmd
}
