package cli

import (
	"github.com/spf13/cobra"

	"simclr/internal/config"
)

// dedicatedFlag is a flag that sets one configuration key; it beats
// --set, the environment and the file.
type dedicatedFlag struct {
	name, key, usage string
	kind             string // "string", "int", "float"
}

var dedicatedFlags = []dedicatedFlag{
	{"data-path", "data.path", "data set directory (data.path)", "string"},
	{"data-format", "data.format", "data set format (data.format)", "string"},
	{"epochs", "train.epochs", "pretraining epochs (train.epochs)", "int"},
	{"batch-size", "train.batch_size", "images per batch (train.batch_size)", "int"},
	{"lr", "optim.lr", "base learning rate (optim.lr)", "float"},
	{"device", "device", "cpu, auto, cuda or cuda:N (device)", "string"},
	{"seed", "seed", "random seed (seed)", "int"},
	{"precision", "train.precision", "number format of the convolutions and linear layers: auto, fp32, tf32 or bf16 (train.precision)", "string"},
}

// addConfigFlags registers the dedicated configuration flags on cmd.
func addConfigFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	for _, d := range dedicatedFlags {
		switch d.kind {
		case "int":
			f.Int64(d.name, 0, d.usage)
		case "float":
			f.Float64(d.name, 0, d.usage)
		default:
			f.String(d.name, "", d.usage)
		}
	}
}

// loadConfig resolves the configuration of cmd from the built-in defaults,
// --config, the environment, --set and the dedicated flags that were given.
func (a *app) loadConfig(cmd *cobra.Command) (*config.Config, error) {
	src := config.Sources{File: a.configFile, Sets: a.sets, Env: a.env,
		Flags: map[string]string{}, FlagNames: map[string]string{}}
	for _, d := range dedicatedFlags {
		fl := cmd.Flags().Lookup(d.name)
		if fl == nil || !fl.Changed {
			continue
		}
		src.Flags[d.key] = fl.Value.String()
		src.FlagNames[d.key] = "--" + d.name
	}
	return config.Load(src)
}
