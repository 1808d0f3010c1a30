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
	"simclr/internal/augment"
	"simclr/internal/backend"
	"simclr/internal/config"
	"simclr/internal/data"
	"simclr/internal/model"
	"simclr/internal/probe"
)

// LinearEvalJob trains a linear classifier on frozen features and reports
// its accuracy on the test split.
type LinearEvalJob struct {
	Config      *config.Config
	Backend     backend.Backend
	Train, Test data.Dataset
	Encoder     *model.ResNet
	Meta        model.EncoderMeta
	Checkpoint  string // "" with RandomInit
	RandomInit  bool
	KNN         bool   // also report the weighted kNN accuracy
	Out         string // eval.json path
	Log         io.Writer
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
	cfg := j.Config
	log := j.Log
	if log == nil {
		log = io.Discard
	}
	classes := j.Train.Classes()
	if len(classes) == 0 {
		return nil, fmt.Errorf("linear evaluation needs labels, but %s is unlabelled: set data.split to a labelled split", j.Train.Name())
	}
	if len(j.Test.Classes()) != len(classes) {
		return nil, fmt.Errorf("train split %s has %d classes but test split %s has %d", j.Train.Name(), len(classes), j.Test.Name(), len(j.Test.Classes()))
	}
	if err := os.MkdirAll(filepath.Dir(j.Out), 0o755); err != nil {
		return nil, fmt.Errorf("create output directory for %s: %w", j.Out, err)
	}
	e := &Embedder{Backend: j.Backend, Encoder: j.Encoder, ImageSize: j.Meta.ImageSize, Mean: j.Meta.Mean, Std: j.Meta.Std, BatchSize: cfg.Eval.ProbeBatchSize, Workers: cfg.Data.Workers}
	// The centre-crop training features feed the plain probe and kNN; the
	// augmented probe extracts its own each epoch.
	var trX []float32
	var trY []int32
	if !cfg.Eval.ProbeAugment || j.KNN {
		fmt.Fprintf(log, "extracting features of %s (%d images)\n", j.Train.Name(), j.Train.Len())
		var err error
		if trX, trY, err = e.Collect(ctx, j.Train); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(log, "extracting features of %s (%d images)\n", j.Test.Name(), j.Test.Len())
	teX, teY, err := e.Collect(ctx, j.Test)
	if err != nil {
		return nil, err
	}
	opts := cfg.ProbeOptions(len(classes))
	fmt.Fprintf(log, "training a linear probe: %d features, %d classes, %d epochs\n", e.Dim(), len(classes), opts.Epochs)
	var res *probe.Result
	if cfg.Eval.ProbeAugment {
		// The paper's probe: a random resized crop and a flip of every
		// training image, new each epoch; features are extracted anew.
		pipe, err := augment.New(cfg.ProbeAugmentConfig(j.Meta.ImageSize, j.Train.Channels(), j.Meta.Mean, j.Meta.Std))
		if err != nil {
			return nil, fmt.Errorf("probe augmentation: %w", err)
		}
		epochs := func(epoch int) ([]float32, []int32, error) {
			fmt.Fprintf(log, "probe epoch %d/%d: extracting features of augmented views\n", epoch+1, opts.Epochs)
			return e.CollectAugmented(ctx, j.Train, pipe, epoch, cfg.Seed)
		}
		res, err = probe.TrainLinearAugmented(j.Backend, epochs, teX, teY, e.Dim(), opts)
	} else {
		res, err = probe.TrainLinear(j.Backend, trX, trY, teX, teY, e.Dim(), opts)
	}
	if err != nil {
		return nil, fmt.Errorf("linear probe: %w", err)
	}
	rep := &EvalReport{
		Checkpoint: j.Checkpoint, RandomInit: j.RandomInit, Arch: j.Meta.Arch, FeatureDim: e.Dim(),
		TrainData: j.Train.Name(), TestData: j.Test.Name(), TrainImages: j.Train.Len(), TestImages: j.Test.Len(),
		Top1: res.Top1, Top5: res.Top5, PerClass: map[string]float64{}, Classes: classes,
		Confusion: res.Confusion, Probe: opts,
	}
	for i, acc := range res.PerClass {
		rep.PerClass[classes[i]] = acc
	}
	if j.KNN {
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
	if err := writeJSONAtomic(j.Out, rep); err != nil {
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
