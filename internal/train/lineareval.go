package train

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"simclr/internal/atomicfile"
	"simclr/internal/backend"
	"simclr/internal/config"
	"simclr/internal/data"
	"simclr/internal/model"
	"simclr/internal/probe"
)

// LinearEvalOptions are the command-line choices of a linear evaluation.
type LinearEvalOptions struct {
	// Checkpoint is the encoder file (encoder.safetensors) to evaluate; ""
	// with RandomInit, or for a dry run that has none (then the configured
	// model and normalisation stand in).
	Checkpoint string
	RandomInit bool // evaluate an untrained encoder of the configured model
	KNN        bool // also report the weighted kNN accuracy
	// Out is the report (eval.json); "" puts it beside the checkpoint, or
	// for random init into a new runs/random-init-<time>.
	Out string
}

// LinearEvalPlan is what a linear evaluation reads and builds, decided
// before a device is opened: --dry-run prints it, LinearEvalJob.Run uses it.
type LinearEvalPlan struct {
	Config *config.Config
	LinearEvalOptions
	// Meta describes the encoder: the checkpoint's metadata, or with
	// RandomInit (or no checkpoint) the configured model, data.image_size
	// and the configured normalisation. Every input below is preprocessed
	// at its image size with its mean and std.
	Meta model.EncoderMeta
	// Model is the encoder's model settings: the checkpoint's
	// (checkpointModel), or the configured ones.
	Model model.Config
	// Train is data.split as the probe trains on it: centre crops, or with
	// eval.probe_augment a fresh random crop and flip of every image each
	// epoch.
	Train *Input
	// Features is data.split's centre crops for the kNN accuracy when Train
	// is augmented and KNN is set; nil otherwise (Train serves).
	Features  *Input
	Test      *Input // data.eval_split, centre crops
	Probe     probe.LinearOptions
	Precision Precision // train.precision, applied to the backend by Run
}

// NewLinearEvalPlan reads the checkpoint's metadata, opens data.split and
// data.eval_split and builds the probe's inputs and settings. Warnings
// (skipped images) go to warn. Close it when done.
func NewLinearEvalPlan(cfg *config.Config, opts LinearEvalOptions, warn io.Writer) (*LinearEvalPlan, error) {
	p := &LinearEvalPlan{Config: cfg, LinearEvalOptions: opts}
	if err := p.build(warn); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *LinearEvalPlan) build(warn io.Writer) error {
	cfg := p.Config
	if p.Checkpoint != "" && p.RandomInit {
		return fmt.Errorf("a checkpoint (%s) and random init exclude each other: drop one", p.Checkpoint)
	}
	var err error
	if p.Precision, err = newPrecision(cfg); err != nil {
		return err
	}
	if p.Checkpoint != "" {
		if p.Meta, err = model.ReadEncoderMeta(p.Checkpoint); err != nil {
			return fmt.Errorf("load --checkpoint: %w", err)
		}
		if p.Model, err = checkpointModel(cfg, p.Meta, p.Checkpoint); err != nil {
			return err
		}
	}
	if p.Out == "" {
		if p.Checkpoint != "" {
			p.Out = filepath.Join(filepath.Dir(p.Checkpoint), "eval.json")
		} else {
			p.Out = filepath.Join("runs", "random-init-"+time.Now().Format("20060102-150405"), "eval.json")
		}
	}
	spec := cfg.DataSpec()
	ds, err := openData(cfg, "train", spec, warn)
	if err != nil {
		return err
	}
	if p.Checkpoint == "" {
		p.Meta = configuredEncoder(cfg, ds.Channels())
		p.Model = cfg.ModelConfig(ds.Channels())
	} else if err := CheckEncoderFits(p.Meta, ds, cfg.Data.ImageSize, p.Checkpoint); err != nil {
		data.Close(ds)
		return err
	}
	classes := ds.Classes()
	if len(classes) == 0 {
		data.Close(ds)
		return fmt.Errorf("linear evaluation needs labels, but %s is unlabelled: set data.split to a labelled split", ds.Name())
	}
	m := p.Meta
	centre, err := centreCropInput("train", spec, ds, m.ImageSize, m.Mean, m.Std, inOrder(cfg, cfg.Eval.ProbeBatchSize))
	if err != nil {
		data.Close(ds)
		return err
	}
	p.Train = centre
	if cfg.Eval.ProbeAugment {
		opts := inOrder(cfg, cfg.Eval.ProbeBatchSize)
		opts.Seed = cfg.Seed
		aug, err := augmentedInput("train", spec, ds, cfg.ProbeAugmentConfig(m.ImageSize, ds.Channels(), m.Mean, m.Std), opts)
		if err != nil {
			return err
		}
		p.Train = aug
		if p.KNN {
			centre.Role = "kNN train"
			p.Features = centre
		}
	}
	testSpec := cfg.EvalDataSpec()
	test, err := openData(cfg, "eval", testSpec, warn)
	if err != nil {
		return err
	}
	if p.Test, err = centreCropInput("eval", testSpec, test, m.ImageSize, m.Mean, m.Std, inOrder(cfg, cfg.Eval.ProbeBatchSize)); err != nil {
		data.Close(test)
		return err
	}
	if len(test.Classes()) != len(classes) {
		return fmt.Errorf("train split %s has %d classes but test split %s has %d", ds.Name(), len(classes), test.Name(), len(test.Classes()))
	}
	p.Probe = cfg.ProbeOptions(len(classes))
	return nil
}

// configuredEncoder is the metadata of an untrained encoder of the
// configured model for data with the given channels.
func configuredEncoder(cfg *config.Config, channels int) model.EncoderMeta {
	mc := cfg.ModelConfig(channels)
	mean, std := cfg.Normalization(channels)
	return model.EncoderMeta{Arch: mc.Arch, Stem: mc.Stem, Width: mc.Width, InChannels: channels,
		ImageSize: cfg.Data.ImageSize, Mean: mean, Std: std}
}

// Describe writes the encoder, what the probe reads and how, and the
// configuration.
func (p *LinearEvalPlan) Describe(w io.Writer) error {
	from := p.Checkpoint
	switch {
	case p.RandomInit:
		from = fmt.Sprintf("random init, seed %d", p.Config.Seed)
	case from == "":
		from = "no --checkpoint given: the configured model stands in"
	}
	describeEncoder(w, p.Meta, from)
	describePrecision(w, p.Precision)
	fmt.Fprintf(w, "report: %s\n", p.Out)
	fmt.Fprintf(w, "probe: %s, %d epochs, lr %g, weight decay %g, batch %d, %d classes\n",
		p.Probe.Optimizer, p.Probe.Epochs, p.Probe.LR, p.Probe.WeightDecay, p.Probe.BatchSize, p.Probe.Classes)
	return describeInputs(w, p.Config, p.Train, p.Features, p.Test)
}

// Close releases the data sets' open files.
func (p *LinearEvalPlan) Close() error {
	return closeAll(p.Train, p.Features, p.Test)
}

// LinearEvalJob trains a linear classifier on frozen features and reports
// its accuracy on the test split.
type LinearEvalJob struct {
	Plan    *LinearEvalPlan
	Backend backend.Backend
	Log     io.Writer
}

// encoder loads the checkpoint's encoder, or builds the untrained one.
func (p *LinearEvalPlan) encoder(b backend.Backend) (*model.ResNet, error) {
	if p.Checkpoint == "" {
		if !p.RandomInit {
			return nil, fmt.Errorf("no encoder to evaluate: pass --checkpoint (the encoder.safetensors of a pretrain run) or --random-init")
		}
		return model.NewResNet(b, p.Model, p.Config.Seed)
	}
	enc, _, err := model.LoadEncoder(p.Checkpoint, b)
	if err != nil {
		return nil, fmt.Errorf("load --checkpoint: %w", err)
	}
	return enc, nil
}

// EvalReport is what eval.json holds.
type EvalReport struct {
	Checkpoint  string              `json:"checkpoint,omitempty"`
	RandomInit  bool                `json:"random_init"`
	Arch        string              `json:"arch"`
	FeatureDim  int                 `json:"feature_dim"`
	TrainData   string              `json:"train_data"`
	TestData    string              `json:"test_data"`
	TrainImages int                 `json:"train_images"`
	TestImages  int                 `json:"test_images"`
	Top1        float64             `json:"top1"`
	Top5        float64             `json:"top5"`
	KNNTop1     *float64            `json:"knn_top1,omitempty"`
	PerClass    map[string]float64  `json:"per_class"`
	Classes     []string            `json:"classes"`
	Confusion   [][]int             `json:"confusion"`
	Probe       probe.LinearOptions `json:"probe"`
	Precision   string              `json:"precision"` // matmul precision of the features and the probe
	Seconds     float64             `json:"seconds"`
	Config      string              `json:"config"` // the resolved configuration (YAML)
}

// CheckEncoderFits returns an error when the encoder's metadata does not fit
// the data set (channel count) or the configured image size.
func CheckEncoderFits(meta model.EncoderMeta, ds data.Dataset, imageSize int, checkpoint string) error {
	if meta.InChannels != ds.Channels() {
		return fmt.Errorf("checkpoint %s was trained on %d-channel images but %s has %d channels: evaluate it on data of the same kind (data.format/data.path)", checkpoint, meta.InChannels, ds.Name(), ds.Channels())
	}
	if meta.ImageSize != imageSize {
		return fmt.Errorf("checkpoint %s was trained at image_size %d but data.image_size is %d: set --set data.image_size=%d", checkpoint, meta.ImageSize, imageSize, meta.ImageSize)
	}
	return nil
}

// Run extracts features once and trains the probe.
func (j *LinearEvalJob) Run(ctx context.Context) (*EvalReport, error) {
	start := time.Now()
	p := j.Plan
	cfg := p.Config
	log := j.Log
	if log == nil {
		log = io.Discard
	}
	prec, err := p.Precision.Apply(j.Backend, log)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "matmul precision %s (train.precision %s)\n", prec, p.Precision.Setting)
	if err := os.MkdirAll(filepath.Dir(p.Out), 0o755); err != nil {
		return nil, fmt.Errorf("create output directory for %s: %w", p.Out, err)
	}
	enc, err := p.encoder(j.Backend)
	if err != nil {
		return nil, err
	}
	e := &Embedder{Backend: j.Backend, Encoder: enc}
	train, test := p.Train.Dataset, p.Test.Dataset
	classes := train.Classes()
	augmented := cfg.Eval.ProbeAugment // then Train holds the crop-and-flip views
	// The centre-crop training features feed the plain probe and kNN; the
	// augmented probe extracts its own each epoch.
	centre := p.Train
	if p.Features != nil {
		centre = p.Features
	}
	var trX []float32
	var trY []int32
	if !augmented || p.KNN {
		fmt.Fprintf(log, "extracting features of %s (%d images)\n", train.Name(), train.Len())
		if trX, trY, err = e.CollectInput(ctx, centre, 0); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(log, "extracting features of %s (%d images)\n", test.Name(), test.Len())
	teX, teY, err := e.CollectInput(ctx, p.Test, 0)
	if err != nil {
		return nil, err
	}
	opts := p.Probe
	fmt.Fprintf(log, "training a linear probe: %d features, %d classes, %d epochs\n", e.Dim(), len(classes), opts.Epochs)
	var res *probe.Result
	if augmented {
		// The paper's probe: a random resized crop and a flip of every
		// training image, new each epoch; features are extracted anew.
		epochs := func(epoch int) ([]float32, []int32, error) {
			fmt.Fprintf(log, "probe epoch %d/%d: extracting features of augmented views\n", epoch+1, opts.Epochs)
			return e.CollectInput(ctx, p.Train, epoch)
		}
		res, err = probe.TrainLinearAugmented(j.Backend, epochs, teX, teY, e.Dim(), opts)
	} else {
		res, err = probe.TrainLinear(j.Backend, trX, trY, teX, teY, e.Dim(), opts)
	}
	if err != nil {
		return nil, fmt.Errorf("linear probe: %w", err)
	}
	rep := &EvalReport{
		Checkpoint: p.Checkpoint, RandomInit: p.RandomInit, Arch: p.Meta.Arch, FeatureDim: e.Dim(),
		TrainData: train.Name(), TestData: test.Name(), TrainImages: train.Len(), TestImages: test.Len(),
		Top1: res.Top1, Top5: res.Top5, PerClass: map[string]float64{}, Classes: classes,
		Confusion: res.Confusion, Probe: opts, Precision: prec.String(),
	}
	for i, acc := range res.PerClass {
		rep.PerClass[classes[i]] = acc
	}
	if p.KNN {
		acc, err := probe.KNN(trX, trY, teX, teY, e.Dim(), len(classes), cfg.Eval.KNNK, cfg.Eval.KNNTemperature)
		if err != nil {
			return nil, fmt.Errorf("kNN: %w", err)
		}
		rep.KNNTop1 = &acc
	}
	if y, err := cfg.YAML(); err == nil {
		rep.Config = string(y)
	}
	rep.Seconds = time.Since(start).Seconds()
	if err := writeJSONAtomic(p.Out, rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// Print writes the human-readable summary.
func (r *EvalReport) Print(w io.Writer) {
	what := r.Checkpoint
	if r.RandomInit {
		what = "random-init " + r.Arch + " (baseline)"
	}
	fmt.Fprintf(w, "linear probe on %s, tested on %s (%d images)\n", what, r.TestData, r.TestImages)
	fmt.Fprintf(w, "top-1 %.2f%%\ntop-5 %.2f%%\n", r.Top1, r.Top5)
	if r.KNNTop1 != nil {
		fmt.Fprintf(w, "kNN top-1 %.2f%%\n", *r.KNNTop1)
	}
	fmt.Fprintln(w, "per-class accuracy:")
	for _, c := range r.Classes {
		fmt.Fprintf(w, "  %-16s %6.2f%%\n", c, r.PerClass[c])
	}
	fmt.Fprintln(w, "confusion matrix (rows: true class, columns: predicted):")
	for i, row := range r.Confusion {
		cells := make([]string, len(row))
		for k, v := range row {
			cells[k] = fmt.Sprintf("%5d", v)
		}
		fmt.Fprintf(w, "  %-16s %s\n", r.Classes[i], strings.Join(cells, ""))
	}
}

func writeJSONAtomic(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, append(data, '\n')); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
