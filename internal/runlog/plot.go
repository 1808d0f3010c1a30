package runlog

import (
	"fmt"
	"io"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"simclr/internal/atomicfile"
)

// PlotLoss draws the training loss against the step (and the per-epoch mean
// loss) into a PNG at path, written to a temporary file and renamed.
func PlotLoss(rows []Row, path string) error {
	if len(rows) == 0 {
		return fmt.Errorf("plot loss %s: no metrics rows yet", path)
	}
	p := plot.New()
	p.Title.Text = "SimCLR pretraining loss (NT-Xent)"
	p.X.Label.Text = "step"
	p.Y.Label.Text = "loss"
	p.Add(plotter.NewGrid())

	pts := make(plotter.XYs, 0, len(rows))
	type acc struct {
		sum  float64
		n    int
		last int
	}
	var epochs []int
	byEpoch := map[int]*acc{}
	for _, r := range rows {
		pts = append(pts, plotter.XY{X: float64(r.Step), Y: r.Loss})
		a := byEpoch[r.Epoch]
		if a == nil {
			a = &acc{}
			byEpoch[r.Epoch] = a
			epochs = append(epochs, r.Epoch)
		}
		a.sum += r.Loss
		a.n++
		a.last = r.Step
	}
	line, err := plotter.NewLine(pts)
	if err != nil {
		return fmt.Errorf("plot loss %s: %w", path, err)
	}
	line.Width = vg.Points(1)
	p.Add(line)
	p.Legend.Add("loss per step", line)

	means := make(plotter.XYs, 0, len(epochs))
	for _, e := range epochs {
		a := byEpoch[e]
		means = append(means, plotter.XY{X: float64(a.last), Y: a.sum / float64(a.n)})
	}
	if len(means) > 0 {
		sc, err := plotter.NewScatter(means)
		if err != nil {
			return fmt.Errorf("plot loss %s: %w", path, err)
		}
		p.Add(sc)
		p.Legend.Add("epoch mean", sc)
	}

	w, err := p.WriterTo(8*vg.Inch, 4.5*vg.Inch, "png")
	if err != nil {
		return fmt.Errorf("plot loss %s: %w", path, err)
	}
	if err := atomicfile.Write(path, func(f io.Writer) error {
		_, err := w.WriteTo(f)
		return err
	}); err != nil {
		return fmt.Errorf("plot loss %s: %w", path, err)
	}
	return nil
}
