package augment

import (
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"sync"
)

// Eval is the deterministic preprocessing for linear evaluation and
// embedding export: resize the shorter side to Size (antialiased bilinear,
// the longer side scaled to floor(Size*long/short)), centre-crop Size×Size,
// scale to [0,1] and normalise. Images already Size×Size are only
// normalised. It has the method set of Pipeline and is safe for concurrent
// use.
type Eval struct {
	size, channels int
	mean, invStd   []float32
	pool           sync.Pool
}

// NewEval returns the evaluation transform for square views of side size
// with channels (1 or 3) channels and per-channel mean/std.
func NewEval(size, channels int, mean, std []float64) (*Eval, error) {
	var errs []error
	if size < 1 || size > maxSize {
		errs = append(errs, fmt.Errorf("size must be within [1,%d] pixels, got %d", maxSize, size))
	}
	if channels != 1 && channels != 3 {
		errs = append(errs, fmt.Errorf("channels must be 1 (grayscale) or 3 (RGB), got %d", channels))
	}
	errs = append(errs, normErr(channels, mean, std))
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("augment eval config: %w", err)
	}
	e := &Eval{size: size, channels: channels}
	e.mean, e.invStd = normStats(mean, std)
	e.pool.New = func() any { return new(workspace) }
	return e, nil
}

// OutputShape returns the shape of one view: (channels, size, size).
func (e *Eval) OutputShape() (c, h, w int) { return e.channels, e.size, e.size }

// Apply writes the preprocessed view of img to dst (c*h*w values). rng is
// not used and may be nil.
func (e *Eval) Apply(img image.Image, _ *rand.Rand, dst []float32) error {
	if e == nil {
		return errors.New("augment: Apply on a nil *Eval; build one with augment.NewEval")
	}
	if err := checkArgs(img, dst, e.channels, e.size); err != nil {
		return err
	}
	b := img.Bounds()
	w, h := int64(b.Dx()), int64(b.Dy())
	s := int64(e.size)
	newW, newH := s, s
	switch {
	case w == s && h == s:
	case w <= h:
		newH = s * h / w
	default:
		newW = s * w / h
	}
	// Centre crop offsets round half to even, as Python's round does.
	top := int(math.RoundToEven(float64(newH-s) / 2))
	left := int(math.RoundToEven(float64(newW-s) / 2))

	ws := e.pool.Get().(*workspace)
	defer e.pool.Put(ws)
	ws.xa.build(b.Min.X, int(w), int(newW), left, e.size, false)
	ws.ya.build(b.Min.Y, int(h), int(newH), top, e.size, false)
	resample(img, &ws.xa, &ws.ya, e.channels, dst, &ws.scratch)
	normalize(dst, e.channels, e.size*e.size, e.mean, e.invStd)
	return nil
}
