package embedmap

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"simclr/internal/atomicfile"
)

// Image geometry: a square map, and one legend column beside it per
// legendRows classes. At gonum's 96 dpi the map is 672 pixels square and a
// legend column 168 pixels wide.
const (
	mapSide      = 7 * vg.Inch
	legendColumn = 1.75 * vg.Inch
	legendRows   = 30
	maxNameRunes = 20 // longer class names are shortened in the legend
)

// Unlabelled is the label of an embedding without a class.
const Unlabelled = -1

// Options describe the map beyond its points.
type Options struct {
	// Classes names the labels (Classes[i] for label i); without a name a
	// label shows as its number.
	Classes []string
	// Subtitle is a second title line, e.g. the data set and the layer.
	Subtitle string
}

// Write fits a PCA to the n = len(labels) embeddings in vecs (row after
// row, dimension dim), and writes the map of their first two components as
// a PNG at path, atomically. Points are coloured by label, with a legend
// when any point has one (Unlabelled points are grey, and alone they get
// one colour and no legend).
func Write(path string, vecs []float32, dim int, labels []int64, opt Options) error {
	if dim < 2 {
		return fmt.Errorf("embedding map %s: %d-dimensional embeddings; a 2-D map needs at least 2 dimensions", path, dim)
	}
	n := len(labels)
	pca, err := FitPCA(vecs, n, dim, 2)
	if err != nil {
		return fmt.Errorf("embedding map %s: %w", path, err)
	}
	img, err := Render(pca.Project(vecs), labels, pca, opt)
	if err != nil {
		return fmt.Errorf("embedding map %s: %w", path, err)
	}
	f, err := atomicfile.Create(path)
	if err != nil {
		return fmt.Errorf("embedding map: %w", err)
	}
	defer f.Abort()
	if err := writePNG(f, img); err != nil {
		return fmt.Errorf("embedding map %s: encode PNG: %w", path, err)
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("embedding map: %w", err)
	}
	return nil
}

func writePNG(w io.Writer, img *vgimg.Canvas) error {
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

// Render draws the map of the 2-D points xy (PC1, PC2 of pca) with one
// label per point.
func Render(xy [][]float64, labels []int64, pca *PCA, opt Options) (*vgimg.Canvas, error) {
	n := len(xy)
	if len(labels) != n {
		return nil, fmt.Errorf("%d labels for %d points", len(labels), n)
	}
	if n == 0 {
		return nil, fmt.Errorf("no points to draw")
	}
	classes := presentLabels(labels)
	hasUnlabelled := len(classes) == 0 || classes[0] == Unlabelled
	if hasUnlabelled && len(classes) > 0 {
		classes = classes[1:]
	}
	pal := newPalette(max(len(opt.Classes), int(slices.Max(append([]int64{0}, classes...)))+1))
	styleOf := func(label int64) draw.GlyphStyle {
		s := draw.GlyphStyle{Shape: draw.CircleGlyph{}, Radius: glyphRadius(n)}
		switch {
		case label >= 0:
			s.Color = pal.color(int(label))
		case len(classes) == 0:
			s.Color = pal.color(0) // unlabelled data: one colour
		default:
			s.Color = unlabelledGrey
		}
		return s
	}

	p := plot.New()
	p.Title.Text = fmt.Sprintf("PCA of %d embeddings", n)
	if opt.Subtitle != "" {
		p.Title.Text += "\n" + opt.Subtitle
	}
	p.X.Label.Text = fmt.Sprintf("PC1 (%.1f%% of variance)", 100*pca.ExplainedRatio(0))
	p.Y.Label.Text = fmt.Sprintf("PC2 (%.1f%% of variance)", 100*pca.ExplainedRatio(1))
	p.Add(plotter.NewGrid())

	// Points in a fixed shuffled order, unlabelled ones first, so no class
	// is drawn entirely on top of the others.
	order := rand.New(rand.NewPCG(1, 2)).Perm(n)
	slices.SortStableFunc(order, func(a, b int) int {
		return boolInt(labels[a] >= 0) - boolInt(labels[b] >= 0)
	})
	pts := make(plotter.XYs, n)
	for k, i := range order {
		pts[k] = plotter.XY{X: xy[i][0], Y: xy[i][1]}
	}
	sc, err := plotter.NewScatter(pts)
	if err != nil {
		return nil, err
	}
	sc.GlyphStyleFunc = func(k int) draw.GlyphStyle { return styleOf(labels[order[k]]) }
	p.Add(sc)
	equalScale(p, pts)

	var entries []legendEntry
	if len(classes) > 0 {
		if hasUnlabelled {
			entries = append(entries, legendEntry{"unlabelled", styleOf(Unlabelled)})
		}
		for _, c := range classes {
			entries = append(entries, legendEntry{className(opt.Classes, c), styleOf(c)})
		}
	}
	cols := (len(entries) + legendRows - 1) / legendRows
	img := vgimg.New(mapSide+vg.Length(cols)*legendColumn, mapSide)
	dc := draw.New(img)
	p.Draw(draw.Crop(dc, 0, -vg.Length(cols)*legendColumn, 0, -vg.Points(4))) // a margin above the title
	for col := range cols {
		l := plot.NewLegend()
		l.Top, l.Left = true, true
		l.ThumbnailWidth = vg.Points(10)
		l.YOffs = -vg.Points(30) // level with the top of the data area, below the title
		for _, e := range entries[col*legendRows : min(len(entries), (col+1)*legendRows)] {
			l.Add(e.name, glyphThumb(e.style))
		}
		x0 := mapSide + vg.Length(col)*legendColumn
		l.Draw(draw.Crop(dc, x0, -(vg.Length(cols-col-1) * legendColumn), 0, 0))
	}
	return img, nil
}

type legendEntry struct {
	name  string
	style draw.GlyphStyle
}

// glyphThumb draws a legend entry's marker.
type glyphThumb draw.GlyphStyle

func (g glyphThumb) Thumbnail(c *draw.Canvas) {
	s := draw.GlyphStyle(g)
	s.Radius = vg.Points(3.5)
	c.DrawGlyph(s, c.Center())
}

// presentLabels is the sorted set of labels in labels.
func presentLabels(labels []int64) []int64 {
	seen := map[int64]bool{}
	var out []int64
	for _, l := range labels {
		if l < 0 {
			l = Unlabelled
		}
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

// className is the legend text of label c.
func className(names []string, c int64) string {
	if c < 0 || int(c) >= len(names) || names[c] == "" {
		return strconv.FormatInt(c, 10)
	}
	r := []rune(names[c])
	if len(r) > maxNameRunes {
		return string(r[:maxNameRunes-1]) + "…"
	}
	return names[c]
}

// glyphRadius shrinks the points as their number grows.
func glyphRadius(n int) vg.Length {
	switch {
	case n <= 1000:
		return vg.Points(2.5)
	case n <= 10000:
		return vg.Points(1.5)
	}
	return vg.Points(1)
}

// equalScale makes one unit the same length on both axes (the data area
// is close to square), so the spread along PC1 and PC2 compares truly.
func equalScale(p *plot.Plot, pts plotter.XYs) {
	xmin, xmax, ymin, ymax := plotter.XYRange(pts)
	span := math.Max(xmax-xmin, ymax-ymin)
	if span == 0 {
		span = 1
	}
	span *= 1.05
	cx, cy := (xmin+xmax)/2, (ymin+ymax)/2
	p.X.Min, p.X.Max = cx-span/2, cx+span/2
	p.Y.Min, p.Y.Max = cy-span/2, cy+span/2
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// unlabelledGrey marks unlabelled points among labelled ones.
var unlabelledGrey = color.NRGBA{R: 0xbb, G: 0xbb, B: 0xbb, A: 0xff}

// tab10 is matplotlib's default categorical palette.
var tab10 = []color.NRGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0xd6, 0x27, 0x28, 0xff},
	{0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x7f, 0x7f, 0x7f, 0xff},
	{0xbc, 0xbd, 0x22, 0xff}, {0x17, 0xbe, 0xcf, 0xff},
}

// palette gives each of n labels a colour: tab10 for up to ten, else hues
// spread by the golden ratio with alternating saturation and brightness.
type palette struct{ n int }

func newPalette(n int) palette { return palette{n: n} }

// color is the colour of label i.
func (p palette) color(i int) color.NRGBA {
	if p.n <= len(tab10) {
		return tab10[i%len(tab10)]
	}
	h := math.Mod(float64(i)*0.618033988749895, 1)
	s := 0.55 + 0.4*float64(i%2)
	v := 0.95 - 0.3*float64((i/2)%2)
	return hsv(h, s, v)
}

// hsv converts a hue in [0, 1), saturation and value to a colour.
func hsv(h, s, v float64) color.NRGBA {
	h6 := h * 6
	c := v * s
	x := c * (1 - math.Abs(math.Mod(h6, 2)-1))
	var r, g, b float64
	switch int(h6) % 6 {
	case 0:
		r, g = c, x
	case 1:
		r, g = x, c
	case 2:
		g, b = c, x
	case 3:
		g, b = x, c
	case 4:
		r, b = x, c
	default:
		r, b = c, x
	}
	m := v - c
	to8 := func(f float64) uint8 { return uint8(math.Round(255 * (f + m))) }
	return color.NRGBA{R: to8(r), G: to8(g), B: to8(b), A: 0xff}
}
