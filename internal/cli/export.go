package cli

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"simclr/internal/train"
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
	var checkpoint, out, format, layer, mapOut string
	cmd := &cobra.Command{
		Use:   "export-embeddings",
		Short: "Write the embeddings of every image of a data set to a file",
		Long: `export-embeddings runs the encoder from --checkpoint (encoder.safetensors of
a pretrain run) over data.split in order, with linear-eval's preprocessing
(resize/centre-crop to the checkpoint's image size, its mean/std, no
augmentation), and streams one row per image to --out: the backbone features
(--layer backbone, the representation for downstream tasks) or the
projection head's output (--layer projection; the head is read from the
checkpoint.safetensors beside the encoder).

--format npy writes NAME.npy (float32 [images, dims], data-set order),
NAME.labels.npy (int64, -1 where unlabelled) and NAME.ids.txt (file names for
folders, indices otherwise). --format csv writes
filenames,embedding_0,...,embedding_{D-1},labels rows. The format defaults to
the extension of --out. Files appear only when complete; the resolved
configuration is written beside them as NAME.config.yaml.

--map FILE.png also draws a 2-D map of the embeddings: their first two
principal components (PCA), one point per image coloured by class, with a
legend. It holds every embedding in memory (images x dims x 4 bytes).

With --dry-run it only resolves the configuration, reads the checkpoint's
metadata, opens the data and prints the output, the encoder, the data with
the transform and normalisation the export applies, and the resolved
configuration.`,
		Example: `  simclr export-embeddings --checkpoint runs/pretrain-20260101-120000/encoder.safetensors --out emb.npy
  simclr export-embeddings --config runs/fmnist/config.yaml --checkpoint runs/fmnist/encoder.safetensors --out test.csv --set data.split=test
  simclr export-embeddings --checkpoint runs/fmnist/encoder.safetensors --out z.npy --layer projection
  simclr export-embeddings --checkpoint runs/fmnist/encoder.safetensors --out emb.npy --map emb.png`,
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
				return usagef("--checkpoint is required: the encoder.safetensors of a pretrain run")
			}
			if checkpoint != "" {
				if err := checkInputFile("--checkpoint", checkpoint); err != nil {
					return err
				}
			}
			if err := checkOutputDir("--out", out); err != nil {
				return err
			}
			if mapOut != "" {
				if !strings.EqualFold(filepath.Ext(mapOut), ".png") {
					return usagef("--map %q: the map is a PNG image; give a name ending in .png", mapOut)
				}
				if err := checkOutputDir("--map", mapOut); err != nil {
					return err
				}
			}
			cfg, err := a.loadConfig(cmd)
			if err != nil {
				return err
			}
			plan, err := train.NewExportPlan(cfg, train.ExportOptions{Checkpoint: checkpoint, Layer: layer, Format: fmtName, Out: out, Map: mapOut}, a.warnWriter())
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
			res, err := (&train.ExportJob{Plan: plan, Backend: b, Log: a.infoWriter()}).Run(a.ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "wrote %d %s embeddings of dimension %d (%s layer) to %s\n", res.Images, fmtName, res.Dim, layer, out)
			if mapOut != "" {
				fmt.Fprintf(a.stdout, "wrote their PCA map to %s\n", mapOut)
			}
			return nil
		},
	}
	addConfigFlags(cmd)
	f := cmd.Flags()
	f.BoolVar(&dryRun, "dry-run", false, "check the setup and print it; do not export")
	f.StringVar(&checkpoint, "checkpoint", "", "encoder `FILE` (encoder.safetensors) written by pretrain")
	f.StringVar(&out, "out", "", "embeddings `FILE` to write (NAME.npy or NAME.csv; written atomically)")
	f.StringVar(&format, "format", "", "file format: npy or csv (default: from the --out extension, else npy)")
	f.StringVar(&layer, "layer", "backbone", "which output to export: backbone or projection")
	f.StringVar(&mapOut, "map", "", "also draw a 2-D PCA map of the embeddings, coloured by class, to `FILE.png`")
	return cmd
}
