package cli

import (
	"github.com/spf13/cobra"
)

func (a *app) newLinearEvalCommand() *cobra.Command {
	var dryRun bool
	var checkpoint string
	cmd := &cobra.Command{
		Use:   "linear-eval",
		Short: "Train and test a linear classifier on frozen pretrained features",
		Long: `linear-eval measures a pretrained encoder the standard way: it freezes the
encoder from --checkpoint, trains a linear classifier on its features of
data.split (eval.probe_* settings) and reports the accuracy on
data.eval_split. Images are centre-cropped to data.image_size, or augmented
when eval.probe_augment is true.

With --dry-run it only resolves the configuration, opens both splits, builds
the loaders and prints them with the resolved configuration; --checkpoint
is then optional.`,
		Example: `  simclr linear-eval --checkpoint runs/pretrain/checkpoint.safetensors
  simclr linear-eval --config configs/cifar10.yaml --checkpoint runs/c10/last.safetensors --set eval.probe_epochs=90
  simclr linear-eval --dry-run --set data.eval_split=test`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if checkpoint == "" && !dryRun {
				return usagef("--checkpoint is required: the pretrained model to evaluate")
			}
			if checkpoint != "" {
				if err := checkInputFile("--checkpoint", checkpoint); err != nil {
					return err
				}
			}
			s, err := a.prepare(cmd, ModeLinearEval)
			if err != nil {
				return err
			}
			defer s.Close()
			if dryRun {
				return s.Describe(a.stdout)
			}
			if err := a.runInputPipeline(s); err != nil {
				return err
			}
			return errEngineMissing
		},
	}
	addConfigFlags(cmd)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check the setup and print it; do not train")
	cmd.Flags().StringVar(&checkpoint, "checkpoint", "", "pretrained model `FILE` written by pretrain")
	return cmd
}
