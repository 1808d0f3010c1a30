package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"simclr/internal/augment"
	"simclr/internal/backend"
	"simclr/internal/data"
	"simclr/internal/model"
	"simclr/internal/optim"
	"simclr/internal/probe"
)

// This file turns the configuration into the settings of the packages that
// do the work: the data set (DataSpec), SimCLR's augmentations
// (AugmentConfig, Normalization), the model (ModelConfig), the optimizer
// (NewOptimizer), the linear probe (ProbeOptions) and the probe's
// augmentation (ProbeAugmentConfig). It is the one place where a key
// becomes a setting.

// DataSpec returns the data-set selection for data.split. The caller sets
// Warn if it wants skip_bad warnings.
func (c *Config) DataSpec() data.Spec {
	return data.Spec{
		Format:             c.Data.Format,
		Path:               c.Data.Path,
		Split:              c.Data.Split,
		Limit:              c.Data.Limit,
		SkipBad:            c.Data.SkipBad,
		Seed:               c.Seed,
		SyntheticSize:      c.Data.SyntheticSize,
		SyntheticImageSize: c.Data.ImageSize,
		CIFAR100Labels:     c.Data.CIFAR100Labels,
	}
}

// EvalDataSpec is DataSpec for data.eval_split, the held-out split of the
// linear evaluation.
func (c *Config) EvalDataSpec() data.Spec {
	s := c.DataSpec()
	s.Split = c.Data.EvalSplit
	return s
}

// FormatChannels returns the number of channels that data.format alone
// determines, and whether it does: CIFAR-10/100, STL-10 and the synthetic
// set are RGB (3), the IDX family (MNIST, Fashion-MNIST) is grayscale (1).
// Image folders are not known until opened; the caller must open the data
// set and ask it.
func (c *Config) FormatChannels() (int, bool) {
	switch c.Data.Format {
	case data.FormatCIFAR10, data.FormatCIFAR100, data.FormatSTL10, data.FormatSynthetic:
		return 3, true
	case data.FormatIDX, data.FormatMNIST, data.FormatFashionMNIST:
		return 1, true
	}
	return 0, false
}

// AugmentConfig returns the augmentation settings for views of side
// data.image_size with the given number of channels. Empty augment.mean and
// augment.std are filled with the data set's usual statistics
// ([NormalizationDefaults]).
func (c *Config) AugmentConfig(channels int) augment.Config {
	a := c.Augment
	mean, std := c.Normalization(channels)
	return augment.Config{
		Size:              c.Data.ImageSize,
		Channels:          channels,
		CropScale:         a.CropScale,
		CropRatio:         a.CropRatio,
		FlipP:             a.FlipP,
		JitterP:           a.JitterP,
		Strength:          a.Strength,
		Brightness:        a.Brightness,
		Contrast:          a.Contrast,
		Saturation:        a.Saturation,
		Hue:               a.Hue,
		GrayP:             a.GrayP,
		BlurP:             a.BlurP,
		BlurSigma:         a.BlurSigma,
		BlurKernelFrac:    a.BlurKernelFrac,
		SolarizeP:         a.SolarizeP,
		SolarizeThreshold: a.SolarizeThreshold,
		Mean:              mean,
		Std:               std,
	}
}

// ModelConfig returns the encoder and projection head settings (model.*)
// for images with the given number of channels.
func (c *Config) ModelConfig(channels int) model.Config {
	m := c.Model
	return model.Config{
		Arch:       m.Arch,
		Stem:       m.Stem,
		Width:      m.Width,
		InChannels: channels,
		HeadLayers: m.HeadLayers,
		HeadHidden: m.HeadHidden,
		HeadOut:    m.HeadOut,
		HeadBN:     m.HeadBN,
	}
}

// NewOptimizer builds the optimizer that optim.* describes over params.
func (c *Config) NewOptimizer(b backend.Backend, params []*model.Param) (optim.Optimizer, error) {
	o := c.Optim
	switch o.Name {
	case "sgd":
		return optim.NewSGD(b, params, optim.SGDOptions{Momentum: float32(o.Momentum), WeightDecay: float32(o.WeightDecay), Nesterov: o.Nesterov, ExcludeBiasBN: o.ExcludeBiasBN})
	case "lars":
		return optim.NewLARS(b, params, optim.LARSOptions{Momentum: float32(o.Momentum), WeightDecay: float32(o.WeightDecay), TrustCoef: float32(o.TrustCoef), ExcludeBiasBN: o.ExcludeBiasBN})
	case "adamw":
		return optim.NewAdamW(b, params, optim.AdamWOptions{Beta1: float32(o.Beta1), Beta2: float32(o.Beta2), Eps: float32(o.Eps), WeightDecay: float32(o.WeightDecay), ExcludeBiasBN: o.ExcludeBiasBN})
	}
	return nil, fmt.Errorf("optim.name %q (from %s) is not one of lars, sgd, adamw: set optim.name to one of them", o.Name, c.Origin("optim.name"))
}

// ProbeOptions returns the linear probe's settings (eval.probe_*) for a
// classifier over the given number of classes: momentum 0.9 and a cosine
// schedule, as in the paper.
func (c *Config) ProbeOptions(classes int) probe.LinearOptions {
	e := c.Eval
	return probe.LinearOptions{
		Classes: classes, Epochs: e.ProbeEpochs, BatchSize: e.ProbeBatchSize,
		LR: float32(e.ProbeLR), WeightDecay: float32(e.ProbeWeightDecay), Momentum: 0.9,
		Optimizer: e.ProbeOptim, Seed: c.Seed, Schedule: "cosine",
	}
}

// ProbeAugmentConfig is the augmentation of eval.probe_augment: the paper's
// probe trains on a random resized crop (scale [0.08, 1], ratio [3/4, 4/3])
// and a horizontal flip (p 0.5) of every image, nothing else, normalised
// with the encoder's mean and std at the encoder's image size. augment.*
// does not apply: those keys describe pretraining's views.
func (c *Config) ProbeAugmentConfig(imageSize, channels int, mean, std []float64) augment.Config {
	return augment.Config{
		Size: imageSize, Channels: channels,
		CropScale: [2]float64{0.08, 1}, CropRatio: [2]float64{3.0 / 4, 4.0 / 3}, FlipP: 0.5,
		BlurSigma: [2]float64{0.1, 2}, BlurKernelFrac: 0.1, SolarizeThreshold: 0.5,
		Mean: slices.Clone(mean), Std: slices.Clone(std),
	}
}

// Normalization returns the per-channel mean and std for the data set:
// augment.mean/std when set, otherwise NormalizationDefaults.
func (c *Config) Normalization(channels int) (mean, std []float64) {
	if len(c.Augment.Mean) > 0 && len(c.Augment.Std) > 0 {
		return slices.Clone(c.Augment.Mean), slices.Clone(c.Augment.Std)
	}
	return NormalizationDefaults(c.Data.Format, c.Data.Path, channels)
}

// Per-data-set channel statistics (of images scaled to [0,1]).
var (
	cifarMean        = []float64{0.4914, 0.4822, 0.4465}
	cifarStd         = []float64{0.2470, 0.2435, 0.2616}
	imageNetMean     = []float64{0.485, 0.456, 0.406}
	imageNetStd      = []float64{0.229, 0.224, 0.225}
	fashionMNISTMean = []float64{0.2860}
	fashionMNISTStd  = []float64{0.3530}
	mnistMean        = []float64{0.1307}
	mnistStd         = []float64{0.3081}
)

// NormalizationDefaults returns the usual mean/std of a data set:
// CIFAR-10/100 their own statistics; STL-10, folders and the synthetic set
// ImageNet's; IDX files Fashion-MNIST's or MNIST's (format alias, or else a
// path naming fashion-mnist / mnist). When the statistics do not match the
// number of channels, 0.5/0.5 per channel (1 channel) or ImageNet's (3).
func NormalizationDefaults(format, path string, channels int) (mean, std []float64) {
	switch format {
	case data.FormatCIFAR10, data.FormatCIFAR100:
		mean, std = cifarMean, cifarStd
	case data.FormatSTL10, data.FormatFolder, data.FormatSynthetic:
		mean, std = imageNetMean, imageNetStd
	case data.FormatFashionMNIST:
		mean, std = fashionMNISTMean, fashionMNISTStd
	case data.FormatMNIST:
		mean, std = mnistMean, mnistStd
	case data.FormatIDX:
		base := strings.ToLower(filepath.Base(filepath.Clean(path)))
		switch {
		case strings.Contains(base, "fashion"):
			mean, std = fashionMNISTMean, fashionMNISTStd
		case strings.Contains(base, "mnist"):
			mean, std = mnistMean, mnistStd
		}
	}
	if len(mean) != channels {
		switch channels {
		case 3:
			mean, std = imageNetMean, imageNetStd
		default:
			mean, std = make([]float64, channels), make([]float64, channels)
			for i := range mean {
				mean[i], std[i] = 0.5, 0.5
			}
			return mean, std
		}
	}
	return slices.Clone(mean), slices.Clone(std)
}

// PrecisionAuto is the default of train.precision: bf16 on a CUDA device,
// fp32 on the CPU.
const PrecisionAuto = "auto"

// MatmulPrecision returns the operand format train.precision gives a
// backend — the named format, or with auto BF16 on a GPU backend (gpu) and
// FP32 on the CPU — and whether it came from auto.
func (c *Config) MatmulPrecision(gpu bool) (p backend.Precision, auto bool, err error) {
	s := c.Train.Precision
	if s == PrecisionAuto || s == "" {
		if gpu {
			return backend.BF16, true, nil
		}
		return backend.FP32, true, nil
	}
	p, err = backend.ParsePrecision(s)
	if err != nil {
		return backend.FP32, false, fmt.Errorf("train.precision %q (from %s) is not one of %s: set train.precision or --precision to one of them",
			s, c.Origin("train.precision"), strings.Join(Precisions, ", "))
	}
	return p, false, nil
}
