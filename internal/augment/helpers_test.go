package augment

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"testing"
)

// randomNRGBA returns a w×h image with pseudo-random opaque pixels.
func randomNRGBA(w, h int, seed uint64) *image.NRGBA {
	rng := rand.New(rand.NewPCG(seed, 7))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] =
			uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255
	}
	return img
}

// solidNRGBA returns a w×h image filled with c.
func solidNRGBA(w, h int, c color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return img
}

// plainConfig is a config whose random ops are all disabled: the crop is the
// whole (square) image, no flip, jitter, grayscale, blur or solarize, and
// normalisation is the identity, so the view is the image scaled to [0,1].
func plainConfig(size, channels int) Config {
	c := DefaultConfig(size, channels)
	c.CropScale = [2]float64{1, 1}
	c.CropRatio = [2]float64{1, 1}
	c.FlipP, c.JitterP, c.GrayP, c.BlurP, c.SolarizeP = 0, 0, 0, 0, 0
	for i := range c.Mean {
		c.Mean[i], c.Std[i] = 0, 1
	}
	return c
}

func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// mustNew builds a pipeline or fails the test.
func mustNew(t testing.TB, cfg Config) *Pipeline {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// view runs p on img with the given seed and returns the output.
func view(t testing.TB, p *Pipeline, img image.Image, seed uint64) []float32 {
	t.Helper()
	c, h, w := p.OutputShape()
	dst := make([]float32, c*h*w)
	if err := p.Apply(img, newRNG(seed), dst); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return dst
}

// maxAbsDiff returns the largest |a[i]-b[i]|; +Inf when lengths differ.
func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var m float64
	for i := range a {
		m = max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}

// transform mirrors data.Transform's method set; both transforms must
// satisfy it.
type transform interface {
	Apply(img image.Image, rng *rand.Rand, dst []float32) error
	OutputShape() (c, h, w int)
}

var (
	_ transform = (*Pipeline)(nil)
	_ transform = (*Eval)(nil)
)
