package data

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"strconv"
)

// Synthetic data set defaults and limits.
const (
	DefaultSyntheticSize      = 2048
	DefaultSyntheticImageSize = 32
	minSyntheticSide          = 8
	maxSyntheticSide          = 1024
	syntheticNoise            = 0.04 // standard deviation of the pixel noise, in [0,1] units
	minLumaContrast           = 0.3  // foreground/background luminance gap
)

// SyntheticClasses are the class names of the synthetic data set, in label
// order. Shapes (circle, square, triangle, cross, ring) have a random
// position, size and, for the angular ones, rotation; textures (stripes,
// checkerboard, dots) fill the image with a random period and phase.
var SyntheticClasses = []string{"circle", "square", "triangle", "cross",
	"horizontal-stripes", "vertical-stripes", "checkerboard", "ring",
	"diagonal-stripes", "dots"}

const (
	synCircle = iota
	synSquare
	synTriangle
	synCross
	synHStripes
	synVStripes
	synChecker
	synRing
	synDiagonal
	synDots
	synClasses
)

// syntheticDataset generates each image on the fly from (seed, split, index).
type syntheticDataset struct {
	name   string
	stream uint64
	n      int
	side   int
}

func openSynthetic(spec Spec, split string) (Dataset, error) {
	if err := checkSplit(FormatSynthetic, split, "train", "test"); err != nil {
		return nil, err
	}
	n := spec.SyntheticSize
	if n == 0 {
		n = DefaultSyntheticSize
	}
	if n < 0 {
		return nil, fmt.Errorf("synthetic data set: size %d (data.synthetic_size) must be positive", n)
	}
	side := spec.SyntheticImageSize
	if side == 0 {
		side = DefaultSyntheticImageSize
	}
	if side < minSyntheticSide || side > maxSyntheticSide {
		return nil, fmt.Errorf("synthetic data set: image size %d (data.image_size) must be in %d..%d", side, minSyntheticSide, maxSyntheticSide)
	}
	splitID := uint64(1)
	if split == "test" {
		splitID = 2
		n /= 4
		if n == 0 {
			return nil, fmt.Errorf("synthetic data set: the test split has size/4 = 0 images; set data.synthetic_size to at least 4")
		}
	}
	return &syntheticDataset{
		name:   FormatSynthetic + "/" + split,
		stream: mix(tagSplit, uint64(spec.Seed), splitID),
		n:      n,
		side:   side,
	}, nil
}

func (d *syntheticDataset) Name() string           { return d.name }
func (d *syntheticDataset) Len() int               { return d.n }
func (d *syntheticDataset) Classes() []string      { return append([]string(nil), SyntheticClasses...) }
func (d *syntheticDataset) Channels() int          { return 3 }
func (d *syntheticDataset) NativeSize() (w, h int) { return d.side, d.side }

func (d *syntheticDataset) ID(i int) string {
	if i < 0 || i >= d.n {
		return ""
	}
	return strconv.Itoa(i)
}

// Label is a permutation of the ten classes within each block of ten
// consecutive indices, so every prefix of the data set is balanced to
// within one image per class.
func (d *syntheticDataset) Label(i int) int {
	if i < 0 || i >= d.n {
		return Unlabelled
	}
	block := uint64(i / synClasses)
	rng := rand.New(rand.NewPCG(mix(tagLabel, d.stream, block), mix(tagLabel+1, d.stream, block)))
	return rng.Perm(synClasses)[i%synClasses]
}

// synthShape holds the random parameters of one image.
type synthShape struct {
	class     int
	cx, cy, r float64 // centre and radius of shapes
	cos, sin  float64 // rotation of square, triangle, cross
	width     float64 // arm half-width of the cross, inner radius of the ring
	period    float64 // texture period
	px, py    float64 // texture phase
	diagSign  float64 // diagonal stripe direction, +1 or -1
	tri       [3][2]float64
	fg, bg    [3]float64
}

func (d *syntheticDataset) Image(i int) (image.Image, error) {
	if i < 0 || i >= d.n {
		return nil, indexError(d.name, i, d.n)
	}
	rng := rand.New(rand.NewPCG(mix(tagImage, d.stream, uint64(i)), mix(tagImage+1, d.stream, uint64(i))))
	s := float64(d.side)
	sh := synthShape{class: d.Label(i)}
	for {
		for c := range 3 {
			sh.fg[c], sh.bg[c] = rng.Float64(), rng.Float64()
		}
		if math.Abs(luma(sh.fg)-luma(sh.bg)) >= minLumaContrast {
			break
		}
	}
	sh.r = s * (0.2 + 0.14*rng.Float64())
	sh.cx = s/2 + (rng.Float64()-0.5)*(s-2*sh.r)*0.8
	sh.cy = s/2 + (rng.Float64()-0.5)*(s-2*sh.r)*0.8
	angle := (rng.Float64() - 0.5) * math.Pi / 3
	sh.cos, sh.sin = math.Cos(angle), math.Sin(angle)
	sh.period = s * (0.12 + 0.1*rng.Float64())
	sh.px, sh.py = rng.Float64()*sh.period, rng.Float64()*sh.period
	sh.diagSign = 1
	if rng.IntN(2) == 1 {
		sh.diagSign = -1
	}
	switch sh.class {
	case synCross:
		sh.width = sh.r * (0.28 + 0.1*rng.Float64())
	case synRing:
		sh.width = sh.r * (0.5 + 0.15*rng.Float64())
	case synDots:
		sh.period *= 1.5
	case synTriangle:
		for k := range 3 {
			a := angle - math.Pi/2 + 2*math.Pi*float64(k)/3
			sh.tri[k] = [2]float64{sh.cx + sh.r*1.1*math.Cos(a), sh.cy + sh.r*1.1*math.Sin(a)}
		}
	}

	img := image.NewRGBA(image.Rect(0, 0, d.side, d.side))
	for y := range d.side {
		for x := range d.side {
			cov := 0.0
			for _, oy := range [2]float64{0.25, 0.75} {
				for _, ox := range [2]float64{0.25, 0.75} {
					if sh.inside(float64(x)+ox, float64(y)+oy) {
						cov += 0.25
					}
				}
			}
			p := img.Pix[y*img.Stride+4*x:]
			for c := range 3 {
				v := sh.bg[c] + (sh.fg[c]-sh.bg[c])*cov + rng.NormFloat64()*syntheticNoise
				p[c] = uint8(math.Round(255 * min(1, max(0, v))))
			}
			p[3] = 0xff
		}
	}
	return img, nil
}

// luma is the Rec. 601 luminance of an RGB colour in [0,1].
func luma(c [3]float64) float64 { return 0.299*c[0] + 0.587*c[1] + 0.114*c[2] }

// frac returns x - floor(x), in [0,1).
func frac(x float64) float64 { return x - math.Floor(x) }

// inside reports whether the point (x, y) is foreground.
func (sh *synthShape) inside(x, y float64) bool {
	dx, dy := x-sh.cx, y-sh.cy
	u, v := sh.cos*dx+sh.sin*dy, -sh.sin*dx+sh.cos*dy // rotated into the shape's frame
	switch sh.class {
	case synCircle:
		return dx*dx+dy*dy <= sh.r*sh.r
	case synSquare:
		h := sh.r * 0.85
		return math.Abs(u) <= h && math.Abs(v) <= h
	case synTriangle:
		return inTriangle(x, y, sh.tri)
	case synCross:
		au, av := math.Abs(u), math.Abs(v)
		return (au <= sh.width && av <= sh.r) || (av <= sh.width && au <= sh.r)
	case synRing:
		d2 := dx*dx + dy*dy
		return d2 <= sh.r*sh.r && d2 >= sh.width*sh.width
	case synHStripes:
		return frac((y+sh.py)/sh.period) < 0.5
	case synVStripes:
		return frac((x+sh.px)/sh.period) < 0.5
	case synChecker:
		cell := sh.period / 2
		return (int(math.Floor((x+sh.px)/cell))+int(math.Floor((y+sh.py)/cell)))%2 == 0
	case synDiagonal:
		return frac((x+sh.diagSign*y+sh.px)/(sh.period*math.Sqrt2)) < 0.5
	case synDots:
		fx, fy := frac((x+sh.px)/sh.period)-0.5, frac((y+sh.py)/sh.period)-0.5
		return fx*fx+fy*fy <= 0.3*0.3
	}
	return false
}

// inTriangle reports whether (x, y) lies inside the triangle t.
func inTriangle(x, y float64, t [3][2]float64) bool {
	var pos, neg bool
	for k := range 3 {
		a, b := t[k], t[(k+1)%3]
		c := (b[0]-a[0])*(y-a[1]) - (b[1]-a[1])*(x-a[0])
		pos = pos || c > 0
		neg = neg || c < 0
	}
	return !(pos && neg)
}
