package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

func (a *app) newPretrainCommand() *cobra.Command {
	var dryRun bool
	var out string
	cmd := &cobra.Command{
		Use:   "pretrain",
		Short: "Pretrain an encoder with SimCLR on unlabelled images",
		Long: `pretrain trains a ResNet encoder and projection head with the NT-Xent loss on
two augmented views of every image of data.split (SimCLR). The run directory
(--out) receives the resolved configuration (config.yaml) and checkpoints.

With --dry-run it only resolves the configuration, opens the data set, builds
the loader and prints the data set, the batches per epoch and the resolved
configuration.`,
		Example: `  simclr pretrain --dry-run
  simclr pretrain --config configs/fashion-mnist.yaml --epochs 10 --out runs/fmnist
  simclr pretrain --data-format cifar10 --data-path data/cifar-10-batches-bin --batch-size 256
  simclr pretrain --set data.limit=1024 --set augment.blur_p=0.5`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usagef("--out must name the run directory")
			}
			s, err := a.prepare(cmd, ModePretrain)
			if err != nil {
				return err
			}
			defer s.Close()
			if dryRun {
				return s.Describe(a.stdout)
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return fmt.Errorf("create run directory (--out): %w", err)
			}
			if err := s.Config.WriteFile(filepath.Join(out, "config.yaml")); err != nil {
				return err
			}
			if err := a.runInputPipeline(s); err != nil {
				return err
			}
			return errEngineMissing
		},
	}
	addConfigFlags(cmd)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check the setup and print it; do not train")
	cmd.Flags().StringVar(&out, "out", filepath.Join("runs", "pretrain"), "run `DIR` for config.yaml and checkpoints")
	return cmd
}
