package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"simclr/internal/augment"
	"simclr/internal/config"
	"simclr/internal/data"
)

// Mode selects what a Setup prepares.
type Mode int

const (
	// ModePretrain: data.split, two augmented views per image, shuffled,
	// batches of train.batch_size, data.drop_last.
	ModePretrain Mode = iota
	// ModeLinearEval: data.split for training the probe (centre crops, or
	// one augmented view with eval.probe_augment) and data.eval_split for
	// testing it, batches of eval.probe_batch_size.
	ModeLinearEval
	// ModeExport: data.split in order, one centre-cropped view per image,
	// batches of eval.probe_batch_size, the last partial batch kept.
	ModeExport
)

func (m Mode) String() string {
	switch m {
	case ModePretrain:
		return "pretrain"
	case ModeLinearEval:
		return "linear-eval"
	case ModeExport:
		return "export-embeddings"
	}
	return "unknown"
}

// Setup is everything a training command needs before its engine runs: the
// resolved configuration and the opened inputs with their loaders. Close it
// when done.
type Setup struct {
	Config *config.Config
	Mode   Mode
	// Train is the data.split input: pretraining, probe training or export.
	Train *Input
	// Eval is the data.eval_split input of linear-eval; nil otherwise.
	Eval *Input
}

// Input is one opened data set with its transform and loader.
type Input struct {
	Role      string // "train", "eval" or "export", for messages
	Spec      data.Spec
	Dataset   data.Dataset
	Transform data.Transform
	Options   data.LoaderOptions
	Loader    *data.Loader
	Mean, Std []float64 // normalisation applied by Transform
}

// Inputs returns the non-nil inputs, training first.
func (s *Setup) Inputs() []*Input {
	if s.Eval != nil {
		return []*Input{s.Train, s.Eval}
	}
	return []*Input{s.Train}
}

// Close releases the data sets' open files.
func (s *Setup) Close() error {
	var errs []error
	for _, in := range s.Inputs() {
		if in != nil && in.Dataset != nil {
			errs = append(errs, data.Close(in.Dataset))
		}
	}
	return errors.Join(errs...)
}

// newSetup opens the inputs that mode needs, as cfg describes them.
// Warnings (skipped images) go to warn.
func newSetup(cfg *config.Config, mode Mode, warn io.Writer) (*Setup, error) {
	s := &Setup{Config: cfg, Mode: mode}
	var err error
	switch mode {
	case ModePretrain:
		s.Train, err = openInput(cfg, "train", cfg.DataSpec(), warn, true, data.LoaderOptions{
			BatchSize: cfg.Train.BatchSize, Views: 2, DropLast: cfg.Data.DropLast, Shuffle: true})
	case ModeLinearEval:
		s.Train, err = openInput(cfg, "train", cfg.DataSpec(), warn, cfg.Eval.ProbeAugment, data.LoaderOptions{
			BatchSize: cfg.Eval.ProbeBatchSize, Views: 1, Shuffle: true})
		if err == nil {
			s.Eval, err = openInput(cfg, "eval", cfg.EvalDataSpec(), warn, false, data.LoaderOptions{
				BatchSize: cfg.Eval.ProbeBatchSize, Views: 1})
		}
	case ModeExport:
		s.Train, err = openInput(cfg, "export", cfg.DataSpec(), warn, false, data.LoaderOptions{
			BatchSize: cfg.Eval.ProbeBatchSize, Views: 1})
	default:
		err = fmt.Errorf("unknown setup mode %d", mode)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// openInput opens one data set and builds its transform (the augmentation
// pipeline when augmented, else the deterministic centre crop) and loader.
func openInput(cfg *config.Config, role string, spec data.Spec, warn io.Writer, augmented bool, opts data.LoaderOptions) (*Input, error) {
	spec.Warn = warn
	ds, err := data.Open(spec)
	if err != nil {
		return nil, fmt.Errorf("open %s data (data.format %s from %s, data.path %q from %s): %w",
			role, spec.Format, cfg.Origin("data.format"), spec.Path, cfg.Origin("data.path"), err)
	}
	in := &Input{Role: role, Spec: spec, Dataset: ds}
	fail := func(err error) (*Input, error) {
		data.Close(ds)
		return nil, err
	}
	channels := ds.Channels()
	if err := cfg.ValidateChannels(channels); err != nil {
		return fail(fmt.Errorf("data set %s: %w", ds.Name(), err))
	}
	in.Mean, in.Std = cfg.Normalization(channels)
	if augmented {
		p, err := augment.New(cfg.AugmentConfig(channels))
		if err != nil {
			return fail(fmt.Errorf("augmentation settings (augment.*): %w", err))
		}
		in.Transform = p
	} else {
		e, err := augment.NewEval(cfg.Data.ImageSize, channels, in.Mean, in.Std)
		if err != nil {
			return fail(fmt.Errorf("evaluation preprocessing: %w", err))
		}
		in.Transform = e
	}
	opts.Seed = cfg.Seed
	opts.Workers = cfg.Data.Workers
	in.Options = opts
	in.Loader, err = data.NewLoader(ds, in.Transform, opts)
	if err != nil {
		return fail(fmt.Errorf("%s loader: %w", role, err))
	}
	return in, nil
}

// Describe writes what the setup will feed the engine: each data set and
// its batching, then the resolved configuration.
func (s *Setup) Describe(w io.Writer) error {
	for _, in := range s.Inputs() {
		in.describe(w)
	}
	out, err := s.Config.YAML()
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "configuration:")
	_, err = w.Write(out)
	return err
}

func (in *Input) describe(w io.Writer) {
	ds := in.Dataset
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
	fmt.Fprintf(w, "  normalisation:   mean %v std %v\n", in.Mean, in.Std)
	fmt.Fprintf(w, "  batch size:      %d (drop last: %v, shuffle: %v)\n", in.Options.BatchSize, in.Options.DropLast, in.Options.Shuffle)
	fmt.Fprintf(w, "  batches/epoch:   %d\n", in.Loader.BatchesPerEpoch())
}

// summarize joins up to n names, noting how many were left out.
func summarize(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + fmt.Sprintf(", ... %d more", len(names)-n)
}

// prepare resolves the configuration of cmd's invocation and opens the
// inputs of mode: the shared first step of every training command.
func (a *app) prepare(cmd *cobra.Command, mode Mode) (*Setup, error) {
	cfg, err := a.loadConfig(cmd)
	if err != nil {
		return nil, err
	}
	return newSetup(cfg, mode, a.warnWriter())
}

// checkOutputDir fails early when the directory that would receive path
// does not exist.
func checkOutputDir(flag, path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("%s %s: the directory %s does not exist; create it first", flag, path, dir)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s %s: %s is not a directory", flag, path, dir)
	}
	return nil
}

// checkInputFile fails early when a file given on the command line is
// missing.
func checkInputFile(flag, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s %s: %w", flag, path, err)
	}
	if st.IsDir() {
		return fmt.Errorf("%s %s: is a directory, expected a file", flag, path)
	}
	return nil
}
