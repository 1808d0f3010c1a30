package cli

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// Embedding file formats and layers of export-embeddings.
var (
	exportFormats = []string{"npy", "csv"}
	exportLayers  = []string{"backbone", "projection"}
)

// exportFormat picks the file format: the flag when given, else the output
// file's extension, else npy.
func exportFormat(flag, out string) (string, error) {
	f := strings.ToLower(flag)
	if f == "" {
		if strings.EqualFold(filepath.Ext(out), ".csv") {
			return "csv", nil
		}
		return "npy", nil
	}
	for _, ok := range exportFormats {
		if f == ok {
			return f, nil
		}
	}
	return "", usagef("--format %q: use one of %s", flag, strings.Join(exportFormats, ", "))
}

func (a *app) newExportCommand() *cobra.Command {
	var dryRun bool
	var checkpoint, out, format, layer string
	cmd := &cobra.Command{
		Use:   "export-embeddings",
		Short: "Write the embeddings of every image of a data set to a file",
		Long: `export-embeddings runs the encoder from --checkpoint over data.split in order
(one centre-cropped view per image) and writes one row per image to --out:
the backbone features (--layer backbone, the representation used for
downstream tasks) or the projection head's output (--layer projection).
--format npy writes a float32 [images, dims] NumPy array plus labels and ids;
--format csv writes id,label,values... rows. The format defaults to the
extension of --out (.csv gives csv, anything else npy).

With --dry-run it only resolves the configuration, opens the data, builds the
loader and prints them with the resolved configuration.`,
		Example: `  simclr export-embeddings --checkpoint runs/pretrain/checkpoint.safetensors --out emb.npy
  simclr export-embeddings --checkpoint runs/c10/last.safetensors --out test.csv --set data.split=test
  simclr export-embeddings --checkpoint ck.safetensors --out z.npy --layer projection`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usagef("--out is required: the embeddings file to write")
			}
			fmtName, err := exportFormat(format, out)
			if err != nil {
				return err
			}
			if layer != exportLayers[0] && layer != exportLayers[1] {
				return usagef("--layer %q: use one of %s", layer, strings.Join(exportLayers, ", "))
			}
			if checkpoint == "" && !dryRun {
				return usagef("--checkpoint is required: the pretrained model to run")
			}
			if checkpoint != "" {
				if err := checkInputFile("--checkpoint", checkpoint); err != nil {
					return err
				}
			}
			if err := checkOutputDir("--out", out); err != nil {
				return err
			}
			s, err := a.prepare(cmd, ModeExport)
			if err != nil {
				return err
			}
			defer s.Close()
			if dryRun {
				fmt.Fprintf(a.stdout, "output: %s embeddings of the %s layer to %s\n", fmtName, layer, out)
				return s.Describe(a.stdout)
			}
			if err := a.runInputPipeline(s); err != nil {
				return err
			}
			return errEngineMissing
		},
	}
	addConfigFlags(cmd)
	f := cmd.Flags()
	f.BoolVar(&dryRun, "dry-run", false, "check the setup and print it; do not export")
	f.StringVar(&checkpoint, "checkpoint", "", "pretrained model `FILE` written by pretrain")
	f.StringVar(&out, "out", "", "embeddings `FILE` to write (written atomically)")
	f.StringVar(&format, "format", "", "file format: npy or csv (default: from the --out extension, else npy)")
	f.StringVar(&layer, "layer", "backbone", "which output to export: backbone or projection")
	return cmd
}
