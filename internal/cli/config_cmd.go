package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"simclr/internal/config"
)

func (a *app) newConfigCommand() *cobra.Command {
	var keys bool
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print the fully resolved configuration as YAML",
		Long: `config resolves the configuration exactly as the training commands do -
built-in defaults, then --config FILE, SIMCLR_* environment variables, --set
key=value and the dedicated flags - validates it and prints every key as YAML.
Values that do not come from the defaults carry a comment naming their source.
The output can be saved and passed back with --config.

With --keys it lists every key with its environment variable instead.`,
		Example: `  simclr config
  simclr config --config configs/cifar10.yaml --set train.batch_size=256 > run.yaml
  SIMCLR_DATA_LIMIT=512 simclr config --epochs 3
  simclr config --keys`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keys {
				w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "KEY\tENVIRONMENT VARIABLE")
				for _, k := range config.Keys() {
					fmt.Fprintf(w, "%s\t%s\n", k, config.EnvVar(k))
				}
				return w.Flush()
			}
			cfg, err := a.loadConfig(cmd)
			if err != nil {
				return err
			}
			out, err := cfg.YAML()
			if err != nil {
				return err
			}
			_, err = a.stdout.Write(out)
			return err
		},
	}
	addConfigFlags(cmd)
	cmd.Flags().BoolVar(&keys, "keys", false, "list every configuration key and its environment variable")
	return cmd
}
