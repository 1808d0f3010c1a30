package cli

import (
	"fmt"

	"github.com/spf13/cobra"

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

With --dry-run it only resolves the configuration, reads the checkpoint's
metadata, opens both splits and prints the encoder, the probe, each split
with the transform and normalisation the run applies, and the resolved
configuration.`,
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
			if out != "" {
				if err := checkOutputDir("--out", out); err != nil {
					return err
				}
			}
			cfg, err := a.loadConfig(cmd)
			if err != nil {
				return err
			}
			plan, err := train.NewLinearEvalPlan(cfg, train.LinearEvalOptions{Checkpoint: checkpoint, RandomInit: randomInit, KNN: knn, Out: out}, a.warnWriter())
			if err != nil {
				return err
			}
			defer plan.Close()
			if dryRun {
				return plan.Describe(a.stdout)
			}
			b, err := openBackend(cfg.Device, a.debugSync)
			if err != nil {
				return err
			}
			defer b.Close()
			job := &train.LinearEvalJob{Plan: plan, Backend: b, Log: a.infoWriter()}
			rep, err := job.Run(a.ctx)
			if err != nil {
				return err
			}
			rep.Print(a.stdout)
			fmt.Fprintf(a.stdout, "report: %s\n", plan.Out)
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
