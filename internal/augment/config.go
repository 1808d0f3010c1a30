package augment

import (
	"errors"
	"fmt"
	"math"
)

// Config describes one SimCLR augmentation pipeline. DefaultConfig gives the
// paper's ImageNet settings; Validate reports every field that is out of range.
type Config struct {
	Size     int // output side in pixels (square)
	Channels int // 1 or 3 output channels (1: gray inputs stay gray; colour ops that need 3 channels are skipped)

	CropScale [2]float64 // RandomResizedCrop scale range, default {0.08, 1}
	CropRatio [2]float64 // aspect-ratio range, default {3/4, 4/3}
	FlipP     float64    // horizontal flip probability, default 0.5
	JitterP   float64    // colour-jitter probability, default 0.8
	Strength  float64    // colour-jitter strength s: the effective brightness/contrast/saturation/hue are s*those below

	Brightness, Contrast, Saturation, Hue float64 // defaults 0.8, 0.8, 0.8, 0.2 (SimCLR's)

	GrayP          float64    // random grayscale probability, default 0.2
	BlurP          float64    // Gaussian blur probability (0.5 for ImageNet, 0 for CIFAR)
	BlurSigma      [2]float64 // default {0.1, 2.0}
	BlurKernelFrac float64    // kernel side ≈ this fraction of Size, made odd; default 0.1

	SolarizeP         float64 // default 0
	SolarizeThreshold float64 // in [0,1], default 0.5

	Mean, Std []float64 // per-channel normalisation (len == Channels)
}

// ImageNet channel statistics used by DefaultConfig for 3-channel views.
var (
	ImageNetMean = []float64{0.485, 0.456, 0.406}
	ImageNetStd  = []float64{0.229, 0.224, 0.225}
)

// DefaultConfig returns SimCLR's ImageNet augmentation settings for square
// views of side size with the given number of channels: crop scale
// [0.08,1], ratio [3/4,4/3], flip 0.5, colour jitter 0.8 with strength 1 and
// (0.8,0.8,0.8,0.2), grayscale 0.2, blur 0.5 with sigma [0.1,2] and a kernel
// of about a tenth of size, no solarize. Mean/std are ImageNet's for three
// channels and 0.5/0.5 otherwise. For CIFAR-sized inputs set BlurP to 0.
func DefaultConfig(size, channels int) Config {
	c := Config{
		Size:              size,
		Channels:          channels,
		CropScale:         [2]float64{0.08, 1},
		CropRatio:         [2]float64{3.0 / 4.0, 4.0 / 3.0},
		FlipP:             0.5,
		JitterP:           0.8,
		Strength:          1,
		Brightness:        0.8,
		Contrast:          0.8,
		Saturation:        0.8,
		Hue:               0.2,
		GrayP:             0.2,
		BlurP:             0.5,
		BlurSigma:         [2]float64{0.1, 2.0},
		BlurKernelFrac:    0.1,
		SolarizeP:         0,
		SolarizeThreshold: 0.5,
	}
	if channels == 3 {
		c.Mean = append([]float64(nil), ImageNetMean...)
		c.Std = append([]float64(nil), ImageNetStd...)
	} else if channels > 0 {
		c.Mean = make([]float64, channels)
		c.Std = make([]float64, channels)
		for i := range c.Mean {
			c.Mean[i], c.Std[i] = 0.5, 0.5
		}
	}
	return c
}

// maxSize bounds Config.Size so that scratch buffers stay reasonable.
const maxSize = 8192

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// probErr checks a probability field.
func probErr(name string, p float64) error {
	if !(p >= 0 && p <= 1) {
		return fmt.Errorf("%s must be a probability within [0,1], got %v", name, p)
	}
	return nil
}

// nonNegErr checks a finite, non-negative field.
func nonNegErr(name string, v float64) error {
	if !(v >= 0) || !finite(v) {
		return fmt.Errorf("%s must be a finite number >= 0, got %v", name, v)
	}
	return nil
}

// Validate checks every field and returns all problems joined into one
// error, each naming the field (as spelled in config files) and the
// accepted range. A nil result means New accepts the config.
func (c Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if c.Size < 1 || c.Size > maxSize {
		add(fmt.Errorf("size must be within [1,%d] pixels, got %d", maxSize, c.Size))
	}
	if c.Channels != 1 && c.Channels != 3 {
		add(fmt.Errorf("channels must be 1 (grayscale) or 3 (RGB), got %d", c.Channels))
	}
	if s := c.CropScale; !(s[0] > 0 && s[0] <= s[1] && s[1] <= 1) {
		add(fmt.Errorf("crop_scale must be within (0,1] with min <= max, got %v (SimCLR uses [0.08 1])", s))
	}
	if r := c.CropRatio; !(r[0] > 0 && r[0] <= r[1] && finite(r[1])) {
		add(fmt.Errorf("crop_ratio must be finite and positive with min <= max, got %v (SimCLR uses [0.75 1.3333])", r))
	}
	add(probErr("flip_p", c.FlipP))
	add(probErr("jitter_p", c.JitterP))
	add(nonNegErr("strength", c.Strength))
	add(nonNegErr("brightness", c.Brightness))
	add(nonNegErr("contrast", c.Contrast))
	add(nonNegErr("saturation", c.Saturation))
	if !(c.Hue >= 0 && c.Hue <= 0.5) {
		add(fmt.Errorf("hue must be within [0,0.5], got %v", c.Hue))
	} else if h := c.Strength * c.Hue; !(h <= 0.5) {
		add(fmt.Errorf("hue must satisfy strength*hue <= 0.5, got %v*%v = %v; lower strength or hue", c.Strength, c.Hue, h))
	}
	add(probErr("gray_p", c.GrayP))
	add(probErr("blur_p", c.BlurP))
	if c.BlurP > 0 {
		if s := c.BlurSigma; !(s[0] > 0 && s[0] <= s[1] && finite(s[1])) {
			add(fmt.Errorf("blur_sigma must be finite and positive with min <= max when blur_p > 0, got %v (SimCLR uses [0.1 2])", s))
		}
		if f := c.BlurKernelFrac; !(f > 0 && f <= 1) {
			add(fmt.Errorf("blur_kernel_frac must be within (0,1] when blur_p > 0, got %v (SimCLR uses 0.1)", f))
		}
	}
	add(probErr("solarize_p", c.SolarizeP))
	if t := c.SolarizeThreshold; !(t >= 0 && t <= 1) {
		add(fmt.Errorf("solarize_threshold must be within [0,1], got %v", t))
	}
	add(normErr(c.Channels, c.Mean, c.Std))
	return errors.Join(errs...)
}

// normErr checks per-channel normalisation statistics.
func normErr(channels int, mean, std []float64) error {
	var errs []error
	if len(mean) != channels {
		errs = append(errs, fmt.Errorf("mean must have one value per channel (%d), got %d values", channels, len(mean)))
	}
	if len(std) != channels {
		errs = append(errs, fmt.Errorf("std must have one value per channel (%d), got %d values", channels, len(std)))
	}
	for i, m := range mean {
		if !finite(m) {
			errs = append(errs, fmt.Errorf("mean[%d] must be finite, got %v", i, m))
		}
	}
	for i, s := range std {
		if !(s > 0) || !finite(s) {
			errs = append(errs, fmt.Errorf("std[%d] must be finite and > 0, got %v", i, s))
		}
	}
	return errors.Join(errs...)
}

// blurKernelSize is the odd Gaussian kernel side for an output of the given
// size: floor(frac*size), bumped to the next odd number, at least 3
// (224 -> 23, 96 -> 9, 32 -> 3).
func blurKernelSize(size int, frac float64) int {
	k := int(frac * float64(size))
	if k%2 == 0 {
		k++
	}
	if k < 3 {
		k = 3
	}
	return k
}
