package cli

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"

	"github.com/spf13/cobra"

	"github.com/disintegration/gift"
	"simclr/internal/augment"

	"simclr/internal/atomicfile"
	"simclr/internal/config"
	"simclr/internal/data"
)

// previewPad is the gap in pixels around and between the cells of a preview.
const previewPad = 2

// previewMinSide is the smallest side a cell is shown at: small images are
// enlarged by an integer factor (nearest neighbour, so pixels stay sharp).
const previewMinSide = 96

// previewScale is the integer enlargement of cells of side s.
func previewScale(s int) int {
	return max(1, (previewMinSide+s-1)/s)
}

// previewSize returns the size of a preview grid of n rows of three cells
// of side s: the original and its two views.
func previewSize(n, s int) (w, h int) {
	return 3*s + 4*previewPad, n*s + (n+1)*previewPad
}

func (a *app) newPreviewCommand() *cobra.Command {
	var out string
	var n int
	cmd := &cobra.Command{
		Use:   "preview",
		Short: "Write a PNG grid of images and their two augmented views",
		Long: `preview shows what the network will see. For each of the first --n images of
data.split it draws one row: the image centre-cropped and resized to
data.image_size, then the two augmented views that pretraining draws for it
in epoch 0 (the same random streams as the loader, so the same seed gives
the same views). The PNG is written atomically to --out.`,
		Example: `  simclr preview --out preview.png
  simclr preview --config configs/stl10.yaml --out stl.png --n 16
  simclr preview --out strong.png --set augment.strength=1.0 --set augment.blur_p=0.5`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usagef("--out is required: the PNG file to write")
			}
			if n < 1 {
				return usagef("--n %d: must be at least 1", n)
			}
			if err := checkOutputDir("--out", out); err != nil {
				return err
			}
			cfg, err := a.loadConfig(cmd)
			if err != nil {
				return err
			}
			grid, rows, err := renderPreview(cfg, n, a.warnWriter())
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := png.Encode(&buf, grid); err != nil {
				return fmt.Errorf("encode preview: %w", err)
			}
			if err := atomicfile.WriteFile(out, buf.Bytes()); err != nil {
				return fmt.Errorf("write preview %s: %w", out, err)
			}
			a.info("wrote %s: %d images with 2 augmented views each", out, rows)
			return nil
		},
	}
	addConfigFlags(cmd)
	cmd.Flags().StringVar(&out, "out", "", "PNG `FILE` to write")
	cmd.Flags().IntVar(&n, "n", 8, "number of images (rows)")
	return cmd
}

// renderPreview draws the preview grid of the first n images of data.split
// (fewer when the data set is smaller) and returns it with its row count.
func renderPreview(cfg *config.Config, n int, warn io.Writer) (*image.RGBA, int, error) {
	spec := cfg.DataSpec()
	spec.Warn = warn
	ds, err := data.Open(spec)
	if err != nil {
		return nil, 0, fmt.Errorf("open data (data.format %s, data.path %q): %w", spec.Format, spec.Path, err)
	}
	defer data.Close(ds)
	channels := ds.Channels()
	if err := cfg.ValidateChannels(channels); err != nil {
		return nil, 0, fmt.Errorf("data set %s: %w", ds.Name(), err)
	}
	pipe, err := augment.New(cfg.AugmentConfig(channels))
	if err != nil {
		return nil, 0, fmt.Errorf("augmentation settings (augment.*): %w", err)
	}
	mean, std := cfg.Normalization(channels)
	eval, err := augment.NewEval(cfg.Data.ImageSize, channels, mean, std)
	if err != nil {
		return nil, 0, fmt.Errorf("preview preprocessing: %w", err)
	}
	n = min(n, ds.Len())
	if n == 0 {
		return nil, 0, fmt.Errorf("data set %s has no images", ds.Name())
	}
	s := cfg.Data.ImageSize
	d := s * previewScale(s) // displayed side
	enlarge := gift.New(gift.Resize(d, d, gift.NearestNeighborResampling))
	w, h := previewSize(n, d)
	grid := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(grid, grid.Bounds(), image.NewUniform(color.RGBA{R: 40, G: 40, B: 40, A: 255}), image.Point{}, draw.Src)
	buf := make([]float32, channels*s*s)
	for i := range n {
		img, err := ds.Image(i)
		if err != nil {
			return nil, 0, fmt.Errorf("data set %s, image %s: %w", ds.Name(), ds.ID(i), err)
		}
		y := previewPad + i*(d+previewPad)
		for col := range 3 {
			var err error
			if col == 0 {
				err = eval.Apply(img, nil, buf)
			} else {
				err = pipe.Apply(img, data.ViewRNG(cfg.Seed, 0, i, col-1), buf)
			}
			if err != nil {
				return nil, 0, fmt.Errorf("data set %s, image %s: %w", ds.Name(), ds.ID(i), err)
			}
			x := previewPad + col*(d+previewPad)
			enlarge.Draw(grid.SubImage(image.Rect(x, y, x+d, y+d)).(*image.RGBA), augment.ToImage(buf, channels, s, s, mean, std))
		}
	}
	return grid, n, nil
}
