package train

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"simclr/internal/augment"
	"simclr/internal/config"
	"simclr/internal/data"
	"simclr/internal/model"
)

// Every job is built in two stages: a plan (NewPretrainPlan,
// NewLinearEvalPlan, NewExportPlan) opens the data and builds everything
// the job will read it with — transforms, normalisation, loader options,
// model settings — without touching a device; the job's Run then uses
// exactly those parts. --dry-run prints the plan (Describe), so what it
// shows is what runs.

// Input is one data set a job reads, with the transform and loader options
// the job applies to it.
type Input struct {
	Role      string // "train", "eval", "export", "kNN train", "kNN test": for messages
	Spec      data.Spec
	Dataset   data.Dataset
	Transform data.Transform // *augment.Pipeline (augmented views) or *augment.Eval (centre crop)
	Options   data.LoaderOptions
	Mean, Std []float64 // normalisation applied by Transform
}

// NewLoader returns a loader over the input with its transform and options.
func (in *Input) NewLoader() (*data.Loader, error) {
	return in.NewShardLoader(0, 1)
}

// NewShardLoader builds the loader of rank shard of shards in a
// data-parallel job: each batch is its contiguous block of the global batch
// (data.LoaderOptions.Shard); NewShardLoader(0, 1) is NewLoader.
func (in *Input) NewShardLoader(shard, shards int) (*data.Loader, error) {
	opts := in.Options
	opts.Shard, opts.Shards = shard, shards
	l, err := data.NewLoader(in.Dataset, in.Transform, opts)
	if err != nil {
		return nil, fmt.Errorf("%s loader for %s: %w", in.Role, in.Dataset.Name(), err)
	}
	return l, nil
}

// openData opens the data set spec describes (warnings, e.g. skipped
// images, go to warn) and checks that the configured normalisation fits its
// channels.
func openData(cfg *config.Config, role string, spec data.Spec, warn io.Writer) (data.Dataset, error) {
	spec.Warn = warn
	ds, err := data.Open(spec)
	if err != nil {
		return nil, fmt.Errorf("open %s data (data.format %s from %s, data.path %q from %s): %w",
			role, spec.Format, cfg.Origin("data.format"), spec.Path, cfg.Origin("data.path"), err)
	}
	if err := cfg.ValidateChannels(ds.Channels()); err != nil {
		data.Close(ds)
		return nil, fmt.Errorf("data set %s: %w", ds.Name(), err)
	}
	return ds, nil
}

// augmentedInput is ds seen through the augmentation ac (views per image,
// shuffled when shuffle is set).
func augmentedInput(role string, spec data.Spec, ds data.Dataset, ac augment.Config, opts data.LoaderOptions) (*Input, error) {
	p, err := augment.New(ac)
	if err != nil {
		return nil, fmt.Errorf("%s augmentation: %w", role, err)
	}
	return &Input{Role: role, Spec: spec, Dataset: ds, Transform: p, Options: opts, Mean: ac.Mean, Std: ac.Std}, nil
}

// centreCropInput is ds seen through the evaluation preprocessing
// (resize, centre crop to size, normalise with mean/std).
func centreCropInput(role string, spec data.Spec, ds data.Dataset, size int, mean, std []float64, opts data.LoaderOptions) (*Input, error) {
	e, err := augment.NewEval(size, ds.Channels(), mean, std)
	if err != nil {
		return nil, fmt.Errorf("%s preprocessing: %w", role, err)
	}
	return &Input{Role: role, Spec: spec, Dataset: ds, Transform: e, Options: opts, Mean: mean, Std: std}, nil
}

// inOrder are the loader options of feature extraction: every image once,
// in data-set order, the last partial batch kept.
func inOrder(cfg *config.Config, batchSize int) data.LoaderOptions {
	return data.LoaderOptions{BatchSize: batchSize, Views: 1, Workers: cfg.Data.Workers}
}

// closeAll closes each distinct data set of ins once.
func closeAll(ins ...*Input) error {
	var errs []error
	seen := map[data.Dataset]bool{}
	for _, in := range ins {
		if in == nil || in.Dataset == nil || seen[in.Dataset] {
			continue
		}
		seen[in.Dataset] = true
		errs = append(errs, data.Close(in.Dataset))
	}
	return errors.Join(errs...)
}

// describeInputs writes each non-nil input, then the configuration.
func describeInputs(w io.Writer, cfg *config.Config, ins ...*Input) error {
	for _, in := range ins {
		if in == nil {
			continue
		}
		if err := in.describe(w); err != nil {
			return err
		}
	}
	out, err := cfg.YAML()
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "configuration:")
	_, err = w.Write(out)
	return err
}

func (in *Input) describe(w io.Writer) error {
	ds := in.Dataset
	loader, err := in.NewLoader()
	if err != nil {
		return err
	}
	path := in.Spec.Path
	if path == "" {
		path = "(none)"
	}
	classes := "unlabelled"
	if names := ds.Classes(); len(names) > 0 {
		classes = fmt.Sprintf("%d (%s)", len(names), summarize(names, 10))
	}
	native := "varies"
	if nw, nh := ds.NativeSize(); nw > 0 && nh > 0 {
		native = fmt.Sprintf("%dx%d", nw, nh)
	}
	c, h, wd := in.Transform.OutputShape()
	kind := "centre crop"
	if _, ok := in.Transform.(*augment.Pipeline); ok {
		kind = "augmented"
	}
	fmt.Fprintf(w, "%s data:\n", in.Role)
	fmt.Fprintf(w, "  data set:        %s\n", ds.Name())
	fmt.Fprintf(w, "  format:          %s\n", in.Spec.Format)
	fmt.Fprintf(w, "  path:            %s\n", path)
	fmt.Fprintf(w, "  split:           %s\n", in.Spec.Split)
	fmt.Fprintf(w, "  images:          %d\n", ds.Len())
	fmt.Fprintf(w, "  classes:         %s\n", classes)
	fmt.Fprintf(w, "  channels:        %d\n", ds.Channels())
	fmt.Fprintf(w, "  image size:      %s native, %dx%dx%d views (%s, %d per image)\n", native, c, h, wd, kind, in.Options.Views)
	fmt.Fprintf(w, "  transform:       %s\n", describeTransform(in.Transform))
	fmt.Fprintf(w, "  normalisation:   mean %v std %v\n", in.Mean, in.Std)
	fmt.Fprintf(w, "  batch size:      %d (drop last: %v, shuffle: %v)\n", in.Options.BatchSize, in.Options.DropLast, in.Options.Shuffle)
	fmt.Fprintf(w, "  batches/epoch:   %d\n", loader.BatchesPerEpoch())
	return nil
}

// describeTransform names the steps of a transform: the random ones of an
// augmentation pipeline that can fire (probability > 0), in the order they
// run, or the deterministic resize and centre crop.
func describeTransform(t data.Transform) string {
	p, ok := t.(*augment.Pipeline)
	if !ok {
		_, s, _ := t.OutputShape()
		return fmt.Sprintf("resize and centre crop to %dx%d", s, s)
	}
	c := p.Config()
	steps := []string{fmt.Sprintf("random resized crop to %dx%d (scale %g-%g, ratio %.3g-%.3g)", c.Size, c.Size, c.CropScale[0], c.CropScale[1], c.CropRatio[0], c.CropRatio[1])}
	if c.FlipP > 0 {
		steps = append(steps, fmt.Sprintf("flip p=%g", c.FlipP))
	}
	if c.JitterP > 0 && c.Strength > 0 {
		steps = append(steps, fmt.Sprintf("colour jitter p=%g (strength %g: brightness %g, contrast %g, saturation %g, hue %g)",
			c.JitterP, c.Strength, c.Brightness, c.Contrast, c.Saturation, c.Hue))
	}
	if c.GrayP > 0 {
		steps = append(steps, fmt.Sprintf("grayscale p=%g", c.GrayP))
	}
	if c.BlurP > 0 {
		steps = append(steps, fmt.Sprintf("blur p=%g (sigma %g-%g)", c.BlurP, c.BlurSigma[0], c.BlurSigma[1]))
	}
	if c.SolarizeP > 0 {
		steps = append(steps, fmt.Sprintf("solarize p=%g (threshold %g)", c.SolarizeP, c.SolarizeThreshold))
	}
	return strings.Join(steps, ", ")
}

// describeEncoder writes one line about the encoder a job runs.
func describeEncoder(w io.Writer, meta model.EncoderMeta, from string) {
	fmt.Fprintf(w, "encoder: %s, %s stem, width %d, %d channels, %dx%d input (%s)\n",
		meta.Arch, meta.Stem, meta.Width, meta.InChannels, meta.ImageSize, meta.ImageSize, from)
}

// summarize joins up to n names, noting how many were left out.
func summarize(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + fmt.Sprintf(", ... %d more", len(names)-n)
}
