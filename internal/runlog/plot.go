package runlog

import (
	"fmt"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"simclr/internal/atomicfile"
)

// Plot sizes: the loss panel, and the kNN panel below it when the kNN
// monitor ran.
const (
	plotWidth  = 8 * vg.Inch
	lossHeight = 4.5 * vg.Inch
	knnHeight  = 3 * vg.Inch
	panelGap   = 0.15 * vg.Inch // between the panels
)

// PlotLoss draws the training loss against the step (and the per-epoch mean
// loss) into a PNG at path. When rows carry kNN monitor accuracies
// (KNNTop1 not NaN) a second panel below shows the kNN top-1 accuracy in
// percent per epoch. The file is written atomically.
func PlotLoss(rows []Row, path string) error {
	if len(rows) == 0 {
		return fmt.Errorf("plot loss %s: no metrics rows yet", path)
	}
	loss, err := lossPanel(rows)
	if err != nil {
		return fmt.Errorf("plot loss %s: %w", path, err)
	}
	knn, err := knnPanel(rows)
	if err != nil {
		return fmt.Errorf("plot loss %s: %w", path, err)
	}

	height := lossHeight
	if knn != nil {
		height += knnHeight
	}
	img := vgimg.New(plotWidth, height)
	dc := draw.Crop(draw.New(img), 0, 0, 0, -vg.Points(4)) // a margin above the title
	if knn == nil {
		loss.Draw(dc)
	} else {
		// Two panels, the loss at its usual height on top, their data
		// areas starting at the same x.
		top := draw.Crop(dc, 0, 0, knnHeight, 0)
		bottom := draw.Crop(dc, 0, 0, 0, -lossHeight-panelGap)
		lx, kx := loss.DataCanvas(top).Min.X, knn.DataCanvas(bottom).Min.X
		left := max(lx, kx)
		loss.Draw(draw.Crop(top, left-lx, 0, 0, 0))
		knn.Draw(draw.Crop(bottom, left-kx, 0, 0, 0))
	}

	f, err := atomicfile.Create(path)
	if err != nil {
		return fmt.Errorf("plot loss: %w", err)
	}
	defer f.Abort()
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		return fmt.Errorf("plot loss %s: encode PNG: %w", path, err)
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("plot loss: %w", err)
	}
	return nil
}

// lossPanel is the loss per step with the per-epoch means.
func lossPanel(rows []Row) (*plot.Plot, error) {
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
		return nil, err
	}
	line.Width = vg.Points(1)
	p.Add(line)
	p.Legend.Add("loss per step", line)

	means := make(plotter.XYs, 0, len(epochs))
	for _, e := range epochs {
		a := byEpoch[e]
		means = append(means, plotter.XY{X: float64(a.last), Y: a.sum / float64(a.n)})
	}
	sc, err := plotter.NewScatter(means)
	if err != nil {
		return nil, err
	}
	p.Add(sc)
	p.Legend.Add("epoch mean", sc)
	p.Legend.Top = true // the loss falls, so the top right is usually empty
	return p, nil
}

// knnPanel is the kNN monitor's top-1 accuracy (percent) per epoch, each
// point labelled with its value; nil when no row has one.
func knnPanel(rows []Row) (*plot.Plot, error) {
	var pts plotter.XYs
	var labels []string
	for _, r := range rows {
		if math.IsNaN(r.KNNTop1) {
			continue
		}
		pts = append(pts, plotter.XY{X: float64(r.Epoch), Y: r.KNNTop1})
		labels = append(labels, strconv.FormatFloat(r.KNNTop1, 'f', 1, 64)+"%")
	}
	if len(pts) == 0 {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = "kNN monitor: top-1 accuracy on the eval split"
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = "kNN top-1 (%)"
	p.X.Tick.Marker = integerTicks{}
	p.Add(plotter.NewGrid())
	line, points, err := plotter.NewLinePoints(pts)
	if err != nil {
		return nil, err
	}
	line.Width = vg.Points(1)
	line.Color = plotter.DefaultLineStyle.Color
	points.Shape = draw.CircleGlyph{}
	p.Add(line, points)
	lab, err := plotter.NewLabels(plotter.XYLabels{XYs: pts, Labels: labels})
	if err != nil {
		return nil, err
	}
	for i := range lab.TextStyle {
		lab.TextStyle[i].YAlign = draw.YBottom
		lab.TextStyle[i].XAlign = draw.XCenter
	}
	lab.Offset = vg.Point{Y: vg.Points(4)}
	p.Add(lab)
	// Room above the highest point for its label.
	lo, hi := pts[0].Y, pts[0].Y
	for _, q := range pts {
		lo, hi = min(lo, q.Y), max(hi, q.Y)
	}
	pad := max((hi-lo)*0.15, 2)
	p.Y.Min, p.Y.Max = max(lo-pad, 0), min(hi+pad, 100)
	p.X.Min, p.X.Max = pts[0].X-0.5, pts[len(pts)-1].X+0.5
	return p, nil
}

// integerTicks marks whole numbers only (epochs), at most about ten of
// them.
type integerTicks struct{}

func (integerTicks) Ticks(lo, hi float64) []plot.Tick {
	first, last := math.Ceil(lo), math.Floor(hi)
	if last < first {
		return nil
	}
	step := math.Max(1, math.Ceil((last-first+1)/10))
	var ticks []plot.Tick
	for v := first; v <= last; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.Itoa(int(v))})
	}
	return ticks
}
