package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) newDevicesCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "devices",
		Short: "List the GPUs this build can use",
		Long: `devices lists the CUDA GPUs (index, name, compute capability, memory) that a
CUDA build of simclr sees. A CPU build says so and exits non-zero.`,
		Example: `  simclr devices`,
		Args:    noArgs,
		RunE: func(*cobra.Command, []string) error {
			gpus, err := listGPUs()
			if err != nil {
				return err
			}
			if len(gpus) == 0 {
				return fmt.Errorf("no CUDA device found")
			}
			for _, g := range gpus {
				fmt.Fprintln(a.stdout, g)
			}
			return nil
		},
	}
}
