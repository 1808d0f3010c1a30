package augment

import (
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"sync"
)

// Pipeline produces SimCLR augmented views: RandomResizedCrop to Size×Size,
// horizontal flip, colour jitter in a random order, random grayscale,
// Gaussian blur, solarize, then per-channel normalisation, written as CHW
// float32. It matches the method set of data.Transform and is safe for
// concurrent use.
type Pipeline struct {
	cfg          Config
	mean, invStd []float32
	kernelSize   int
	// effective jitter ranges: strength times the configured amounts
	brightness, contrast, saturation, hue float64
	pool                                  sync.Pool
}

// workspace is the per-call scratch of Pipeline and Eval.
type workspace struct {
	xa, ya axisWeights
	scratch
	kernel []float32
}

// New validates cfg and returns a pipeline for it.
func New(cfg Config) (*Pipeline, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("augment config: %w", err)
	}
	cfg.Mean = append([]float64(nil), cfg.Mean...)
	cfg.Std = append([]float64(nil), cfg.Std...)
	p := &Pipeline{
		cfg:        cfg,
		brightness: cfg.Strength * cfg.Brightness,
		contrast:   cfg.Strength * cfg.Contrast,
		saturation: cfg.Strength * cfg.Saturation,
		hue:        cfg.Strength * cfg.Hue,
		kernelSize: blurKernelSize(cfg.Size, cfg.BlurKernelFrac),
	}
	p.mean, p.invStd = normStats(cfg.Mean, cfg.Std)
	p.pool.New = func() any { return new(workspace) }
	return p, nil
}

// Config returns a copy of the configuration the pipeline was built from.
func (p *Pipeline) Config() Config {
	c := p.cfg
	c.Mean = append([]float64(nil), c.Mean...)
	c.Std = append([]float64(nil), c.Std...)
	return c
}

// OutputShape returns the shape of one view: (Channels, Size, Size).
func (p *Pipeline) OutputShape() (c, h, w int) {
	return p.cfg.Channels, p.cfg.Size, p.cfg.Size
}

// Apply writes one augmented view of img to dst, which must hold exactly
// c*h*w values (see OutputShape). Every random choice comes from rng, in a
// fixed order: crop (2 draws per attempt, 2 more for the position), flip,
// jitter gate then order and factors, grayscale, blur gate then sigma,
// solarize.
func (p *Pipeline) Apply(img image.Image, rng *rand.Rand, dst []float32) error {
	if p == nil {
		return errors.New("augment: Apply on a nil *Pipeline; build one with augment.New")
	}
	if rng == nil {
		return errors.New("augment: Apply needs a non-nil *rand.Rand")
	}
	if err := checkArgs(img, dst, p.cfg.Channels, p.cfg.Size); err != nil {
		return err
	}
	cfg := &p.cfg
	size, ch := cfg.Size, cfg.Channels
	n := size * size
	b := img.Bounds()

	cx, cy, cw, chh := randomResizedCrop(b.Dx(), b.Dy(), cfg.CropScale, cfg.CropRatio, rng)
	flip := rng.Float64() < cfg.FlipP

	ws := p.pool.Get().(*workspace)
	defer p.pool.Put(ws)
	ws.xa.build(b.Min.X+cx, cw, size, 0, size, flip)
	ws.ya.build(b.Min.Y+cy, chh, size, 0, size, false)
	resample(img, &ws.xa, &ws.ya, ch, dst, &ws.scratch)

	if rng.Float64() < cfg.JitterP {
		p.colorJitter(dst, n, rng)
	}
	if rng.Float64() < cfg.GrayP && ch == 3 {
		toGray(dst, n)
	}
	if rng.Float64() < cfg.BlurP {
		sigma := uniform(rng, cfg.BlurSigma[0], cfg.BlurSigma[1])
		ws.kernel = grow(ws.kernel, p.kernelSize)
		gaussianKernel(ws.kernel, sigma)
		gaussianBlur(dst, ch, size, size, trimKernel(ws.kernel), &ws.scratch)
	}
	if rng.Float64() < cfg.SolarizeP {
		solarize(dst, float32(cfg.SolarizeThreshold))
	}
	normalize(dst, ch, n, p.mean, p.invStd)
	return nil
}

// colorJitter draws a random order of the four operations, then the
// brightness, contrast, saturation and hue factors (in that order), and
// applies them in the drawn order. Saturation and hue need three channels
// and are skipped for one.
func (p *Pipeline) colorJitter(planes []float32, n int, rng *rand.Rand) {
	order := [4]int{0, 1, 2, 3}
	for i := 3; i > 0; i-- {
		j := rng.IntN(i + 1)
		order[i], order[j] = order[j], order[i]
	}
	bf := float32(uniform(rng, max(0, 1-p.brightness), 1+p.brightness))
	cf := float32(uniform(rng, max(0, 1-p.contrast), 1+p.contrast))
	sf := float32(uniform(rng, max(0, 1-p.saturation), 1+p.saturation))
	hf := float32(uniform(rng, -p.hue, p.hue))
	ch := p.cfg.Channels
	for _, op := range order {
		switch op {
		case 0:
			if bf != 1 {
				adjustBrightness(planes[:ch*n], bf)
			}
		case 1:
			if cf != 1 {
				adjustContrast(planes, ch, n, cf)
			}
		case 2:
			if ch == 3 && sf != 1 {
				adjustSaturation(planes, n, sf)
			}
		case 3:
			if ch == 3 && hf != 0 {
				adjustHue(planes, n, hf)
			}
		}
	}
}

// uniform draws from U[lo,hi).
func uniform(rng *rand.Rand, lo, hi float64) float64 {
	return lo + (hi-lo)*rng.Float64()
}

// randomResizedCrop picks the crop box (x, y, w, h), relative to the image
// origin, of torchvision's RandomResizedCrop: up to 10 attempts at an area
// fraction U(scale) and a log-uniform aspect ratio, accepted when the
// rounded box fits; otherwise a centre crop with the aspect ratio clamped to
// the range.
func randomResizedCrop(width, height int, scale, ratio [2]float64, rng *rand.Rand) (x, y, w, h int) {
	area := float64(width) * float64(height)
	logLo, logHi := math.Log(ratio[0]), math.Log(ratio[1])
	for range 10 {
		target := area * uniform(rng, scale[0], scale[1])
		aspect := math.Exp(uniform(rng, logLo, logHi))
		w := int(math.RoundToEven(math.Sqrt(target * aspect)))
		h := int(math.RoundToEven(math.Sqrt(target / aspect)))
		if w > 0 && w <= width && h > 0 && h <= height {
			y := rng.IntN(height - h + 1)
			x := rng.IntN(width - w + 1)
			return x, y, w, h
		}
	}
	w, h = width, height
	inRatio := float64(width) / float64(height)
	switch {
	case inRatio < ratio[0]:
		h = int(math.RoundToEven(float64(w) / ratio[0]))
	case inRatio > ratio[1]:
		w = int(math.RoundToEven(float64(h) * ratio[1]))
	}
	w, h = min(max(w, 1), width), min(max(h, 1), height)
	return (width - w) / 2, (height - h) / 2, w, h
}

// checkArgs validates the image and destination buffer shared by Pipeline
// and Eval.
func checkArgs(img image.Image, dst []float32, channels, size int) error {
	if img == nil {
		return errors.New("augment: image is nil; pass a decoded image")
	}
	if want := channels * size * size; len(dst) != want {
		return fmt.Errorf("augment: dst holds %d values, want %d (%d channels x %d x %d); size it from OutputShape",
			len(dst), want, channels, size, size)
	}
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 {
		return fmt.Errorf("augment: image is empty (bounds %v); the file may be truncated or corrupt", b)
	}
	if !pixelsCoverBounds(img) {
		return fmt.Errorf("augment: %T pixel buffer is smaller than its bounds %v; the image is corrupt", img, b)
	}
	return nil
}

// pixelsCoverBounds reports whether the pixel buffer of a fast-path image
// type holds every pixel inside its bounds, so that reading it cannot panic.
// Other image types are read through At and are trusted.
func pixelsCoverBounds(img image.Image) bool {
	b := img.Bounds()
	last := image.Pt(b.Max.X-1, b.Max.Y-1)
	switch m := img.(type) {
	case *image.NRGBA:
		return m.Stride >= 4*b.Dx() && m.PixOffset(b.Min.X, b.Min.Y) >= 0 && m.PixOffset(last.X, last.Y)+4 <= len(m.Pix)
	case *image.RGBA:
		return m.Stride >= 4*b.Dx() && m.PixOffset(b.Min.X, b.Min.Y) >= 0 && m.PixOffset(last.X, last.Y)+4 <= len(m.Pix)
	case *image.Gray:
		return m.Stride >= b.Dx() && m.PixOffset(b.Min.X, b.Min.Y) >= 0 && m.PixOffset(last.X, last.Y)+1 <= len(m.Pix)
	case *image.YCbCr:
		return m.YOffset(b.Min.X, b.Min.Y) >= 0 && m.COffset(b.Min.X, b.Min.Y) >= 0 &&
			m.YOffset(last.X, last.Y) < len(m.Y) &&
			m.COffset(last.X, last.Y) < min(len(m.Cb), len(m.Cr))
	}
	return true
}

// normStats converts mean/std to float32 mean and reciprocal std.
func normStats(mean, std []float64) ([]float32, []float32) {
	m := make([]float32, len(mean))
	inv := make([]float32, len(std))
	for i := range mean {
		m[i] = float32(mean[i])
		inv[i] = float32(1 / std[i])
	}
	return m, inv
}

// normalize clamps each plane to [0,1] and maps it to (x-mean)*invStd.
func normalize(planes []float32, channels, n int, mean, invStd []float32) {
	for c := range channels {
		m, s := mean[c], invStd[c]
		plane := planes[c*n:][:n]
		for i, v := range plane {
			plane[i] = (clamp01(v) - m) * s
		}
	}
}
