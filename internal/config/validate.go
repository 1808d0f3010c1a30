package config

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"simclr/internal/data"
	"simclr/internal/model"
	"simclr/internal/probe"
)

// Allowed names for the enumerated keys.
var (
	Devices         = []string{"cpu", "auto", "cuda", "cuda:N"}
	Arches          = []string{"resnet18", "resnet34", "resnet50"}
	Stems           = []string{"cifar", "imagenet"}
	Optimizers      = []string{"lars", "sgd", "adamw"}
	LRScalings      = []string{"linear", "sqrt", "none"}
	Splits          = []string{"train", "test", "unlabeled", "train+unlabeled"}
	CIFAR100Labels  = []string{"fine", "coarse"}
	ProbeOptimizers = probe.Optimizers
	DistBackends    = []string{"auto", "single", "mpi", "tcp", "nccl"}
	LossFusedModes  = model.LossFusedModes
	// Precisions are the values of train.precision: auto, then the
	// formats of backend.Precisions.
	Precisions = []string{PrecisionAuto, "fp32", "tf32", "bf16"}
)

var cudaDevice = regexp.MustCompile(`^cuda:(0|[1-9][0-9]{0,3})$`)

// checker accumulates range errors, each naming the key, its value, where
// the value came from and the allowed range.
type checker struct {
	c    *Config
	errs []error
}

func (ck *checker) fail(key, problem string) {
	val := "?"
	if k, ok := schemaByKey[key]; ok {
		val = valueText(ck.c.field(k))
	}
	ck.errs = append(ck.errs, &KeyError{Key: key, Origin: ck.c.Origin(key), Value: val, Problem: problem})
}

func (ck *checker) intMin(key string, v, lo int) {
	if v < lo {
		ck.fail(key, fmt.Sprintf("must be >= %d", lo))
	}
}

func (ck *checker) positive(key string, v float64) {
	if !(v > 0) {
		ck.fail(key, "must be > 0")
	}
}

func (ck *checker) nonNegative(key string, v float64) {
	if !(v >= 0) {
		ck.fail(key, "must be >= 0")
	}
}

func (ck *checker) within(key string, v, lo, hi float64) {
	if !(v >= lo && v <= hi) {
		ck.fail(key, fmt.Sprintf("must be within [%g, %g]", lo, hi))
	}
}

func (ck *checker) below(key string, v, lo, hi float64) {
	if !(v >= lo && v < hi) {
		ck.fail(key, fmt.Sprintf("must be within [%g, %g)", lo, hi))
	}
}

func (ck *checker) oneOf(key, v string, allowed []string) {
	if !slices.Contains(allowed, v) {
		ck.fail(key, "must be one of "+strings.Join(allowed, ", "))
	}
}

// Validate checks every value against its allowed range. The returned error
// joins one *KeyError per problem, each naming the key, the value, where it
// came from and what is allowed. Load calls it; call it again after changing
// a Config by hand.
func (c *Config) Validate() error {
	ck := &checker{c: c}

	if c.Device != "cpu" && c.Device != "auto" && c.Device != "cuda" && !cudaDevice.MatchString(c.Device) {
		ck.fail("device", "must be one of "+strings.Join(Devices, ", ")+" (N a GPU index)")
	}

	d := c.Data
	ck.oneOf("data.format", d.Format, data.Formats())
	if d.Format != data.FormatSynthetic && strings.TrimSpace(d.Path) == "" && slices.Contains(data.Formats(), d.Format) {
		ck.fail("data.path", fmt.Sprintf("must name the directory holding the %s files (data.format is %s, from %s); set data.path or --data-path",
			d.Format, d.Format, c.Origin("data.format")))
	}
	ck.oneOf("data.split", d.Split, Splits)
	ck.oneOf("data.eval_split", d.EvalSplit, Splits)
	ck.intMin("data.limit", d.Limit, 0)
	ck.intMin("data.image_size", d.ImageSize, 8)
	if d.ImageSize > 1024 {
		ck.fail("data.image_size", "must be <= 1024")
	}
	ck.intMin("data.workers", d.Workers, 0)
	ck.intMin("data.synthetic_size", d.SyntheticSize, 4)
	ck.oneOf("data.cifar100_labels", d.CIFAR100Labels, CIFAR100Labels)

	a := c.Augment
	if !(a.CropScale[0] > 0 && a.CropScale[0] <= a.CropScale[1] && a.CropScale[1] <= 1) {
		ck.fail("augment.crop_scale", "must be [min, max] with 0 < min <= max <= 1")
	}
	if !(a.CropRatio[0] > 0 && a.CropRatio[0] <= a.CropRatio[1]) {
		ck.fail("augment.crop_ratio", "must be [min, max] with 0 < min <= max")
	}
	for key, p := range map[string]float64{"augment.flip_p": a.FlipP, "augment.jitter_p": a.JitterP,
		"augment.gray_p": a.GrayP, "augment.blur_p": a.BlurP, "augment.solarize_p": a.SolarizeP,
		"augment.solarize_threshold": a.SolarizeThreshold} {
		ck.within(key, p, 0, 1)
	}
	ck.nonNegative("augment.strength", a.Strength)
	ck.nonNegative("augment.brightness", a.Brightness)
	ck.nonNegative("augment.contrast", a.Contrast)
	ck.nonNegative("augment.saturation", a.Saturation)
	ck.within("augment.hue", a.Hue, 0, 0.5)
	if a.Hue <= 0.5 && a.Strength*a.Hue > 0.5 {
		ck.fail("augment.hue", fmt.Sprintf("times augment.strength (%g) must be <= 0.5 (hue shifts beyond half a turn repeat); lower one of them", a.Strength))
	}
	if !(a.BlurSigma[0] > 0 && a.BlurSigma[0] <= a.BlurSigma[1]) {
		ck.fail("augment.blur_sigma", "must be [min, max] with 0 < min <= max")
	}
	if !(a.BlurKernelFrac > 0 && a.BlurKernelFrac <= 1) {
		ck.fail("augment.blur_kernel_frac", "must be within (0, 1]")
	}
	if len(a.Mean) != len(a.Std) {
		ck.fail("augment.std", fmt.Sprintf("must have as many values as augment.mean (%d); leave both empty for the data set's defaults", len(a.Mean)))
	}
	if len(a.Mean) != 0 && len(a.Mean) != 1 && len(a.Mean) != 3 {
		ck.fail("augment.mean", "must be empty (data set default) or hold 1 or 3 values, one per channel")
	}
	for _, s := range a.Std {
		if !(s > 0) {
			ck.fail("augment.std", "every value must be > 0")
			break
		}
	}

	m := c.Model
	ck.oneOf("model.arch", m.Arch, Arches)
	ck.oneOf("model.stem", m.Stem, Stems)
	ck.intMin("model.width", m.Width, 1)
	if m.HeadLayers != 2 && m.HeadLayers != 3 {
		ck.fail("model.head_layers", "must be 2 or 3")
	}
	ck.intMin("model.head_hidden", m.HeadHidden, 0)
	ck.intMin("model.head_out", m.HeadOut, 1)

	ck.positive("loss.temperature", c.Loss.Temperature)
	ck.oneOf("loss.fused", c.Loss.Fused, LossFusedModes)

	o := c.Optim
	ck.oneOf("optim.name", o.Name, Optimizers)
	ck.positive("optim.lr", o.LR)
	ck.oneOf("optim.lr_scaling", o.LRScaling, LRScalings)
	ck.below("optim.momentum", o.Momentum, 0, 1)
	ck.nonNegative("optim.weight_decay", o.WeightDecay)
	ck.positive("optim.trust_coef", o.TrustCoef)
	ck.intMin("optim.warmup_epochs", o.WarmupEpochs, 0)
	if o.WarmupEpochs > c.Train.Epochs && c.Train.Epochs >= 1 {
		ck.fail("optim.warmup_epochs", fmt.Sprintf("must be <= train.epochs (%d)", c.Train.Epochs))
	}
	ck.below("optim.beta1", o.Beta1, 0, 1)
	ck.below("optim.beta2", o.Beta2, 0, 1)
	ck.positive("optim.eps", o.Eps)

	ck.intMin("train.epochs", c.Train.Epochs, 1)
	ck.intMin("train.batch_size", c.Train.BatchSize, 2)
	ck.intMin("train.checkpoint_every", c.Train.CheckpointEvery, 0)
	ck.oneOf("train.precision", c.Train.Precision, Precisions)
	ck.intMin("train.log_every", c.Train.LogEvery, 1)

	e := c.Eval
	ck.intMin("eval.knn_every", e.KNNEvery, 0)
	ck.intMin("eval.knn_k", e.KNNK, 1)
	ck.positive("eval.knn_temperature", e.KNNTemperature)
	ck.intMin("eval.probe_epochs", e.ProbeEpochs, 1)
	ck.positive("eval.probe_lr", e.ProbeLR)
	ck.oneOf("eval.probe_optim", e.ProbeOptim, ProbeOptimizers)
	ck.nonNegative("eval.probe_weight_decay", e.ProbeWeightDecay)
	ck.intMin("eval.probe_batch_size", e.ProbeBatchSize, 1)

	ck.oneOf("dist.backend", c.Dist.Backend, DistBackends)
	ck.intMin("dist.timeout", c.Dist.Timeout, 1)

	slices.SortStableFunc(ck.errs, func(a, b error) int {
		var ka, kb *KeyError
		errors.As(a, &ka)
		errors.As(b, &kb)
		return strings.Compare(ka.Key, kb.Key)
	})
	return errors.Join(ck.errs...)
}

// ValidateChannels checks the settings that depend on the number of channels
// of the data set actually opened: an explicit augment.mean/std must have one
// value per channel.
func (c *Config) ValidateChannels(channels int) error {
	ck := &checker{c: c}
	if n := len(c.Augment.Mean); n != 0 && n != channels {
		ck.fail("augment.mean", fmt.Sprintf("has %d values but the data set has %d channel(s); give %d values or leave it empty", n, channels, channels))
	}
	if n := len(c.Augment.Std); n != 0 && n != channels {
		ck.fail("augment.std", fmt.Sprintf("has %d values but the data set has %d channel(s); give %d values or leave it empty", n, channels, channels))
	}
	return errors.Join(ck.errs...)
}
