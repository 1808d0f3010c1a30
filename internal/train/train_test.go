package train

import (
	"context"
	"errors"
	"image"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"simclr/internal/backend/cpu"
	"simclr/internal/config"
	"simclr/internal/data"
	"simclr/internal/export"
	"simclr/internal/model"
	"simclr/internal/runlog"
)

// tinyConfig is a model and data set small enough for a test: a width-4
// ResNet-18 on 16-px synthetic images.
func tinyConfig(t *testing.T, sets ...string) *config.Config {
	t.Helper()
	base := []string{
		"data.synthetic_size=96", "data.image_size=16", "model.width=4", "model.head_out=16",
		"train.batch_size=32", "train.epochs=6", "optim.name=adamw", "optim.lr=0.003", "optim.lr_scaling=none",
		"optim.warmup_epochs=0", "loss.temperature=0.5", "eval.probe_epochs=20", "eval.probe_batch_size=64",
		"data.workers=2",
	}
	cfg, err := config.Load(config.Sources{Sets: append(base, sets...)})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func openSplit(t *testing.T, cfg *config.Config, split string) data.Dataset {
	t.Helper()
	spec := cfg.DataSpec()
	spec.Split = split
	ds, err := data.Open(spec)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// pretrainPlan is the plan of cfg, closed when the test ends.
func pretrainPlan(t *testing.T, cfg *config.Config) *PretrainPlan {
	t.Helper()
	plan, err := NewPretrainPlan(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plan.Close() })
	return plan
}

func pretrain(t *testing.T, cfg *config.Config, out string, resume bool, stopAfter int) (*PretrainResult, error) {
	t.Helper()
	job := &PretrainJob{Plan: pretrainPlan(t, cfg), Backend: cpu.New(), Out: out, Resume: resume, StopAfterSteps: stopAfter}
	return job.Run(context.Background())
}

// linearEval runs a linear evaluation planned from cfg and opts.
func linearEval(t *testing.T, cfg *config.Config, opts LinearEvalOptions, log io.Writer) *EvalReport {
	t.Helper()
	plan, err := NewLinearEvalPlan(cfg, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer plan.Close()
	rep, err := (&LinearEvalJob{Plan: plan, Backend: cpu.New(), Log: log}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func losses(t *testing.T, dir string) []float64 {
	t.Helper()
	rows, err := runlog.ReadMetrics(filepath.Join(dir, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, len(rows))
	for i, r := range rows {
		out[i] = r.Loss
		if r.Step != i+1 {
			t.Fatalf("%s: row %d has step %d", dir, i, r.Step)
		}
	}
	return out
}

// TestPretrainResumeMatchesUninterrupted is the end-to-end proof: a run
// interrupted in the middle of epoch 2 and resumed produces exactly the loss
// trajectory and encoder of an uninterrupted run; the loss falls; the probe
// report is complete; export writes readable files in both formats.
func TestPretrainResumeMatchesUninterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end training")
	}
	cfg := tinyConfig(t)
	root := t.TempDir()
	full := filepath.Join(root, "full")
	res, err := pretrain(t, cfg, full, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 18 {
		t.Fatalf("steps = %d, want 6 epochs x 3 batches", res.Steps)
	}
	for _, f := range []string{CheckpointFile, EncoderFile, MetricsFile, LossPlotFile, ConfigFile} {
		if _, err := os.Stat(filepath.Join(full, f)); err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		}
	}

	part := filepath.Join(root, "part")
	if _, err := pretrain(t, cfg, part, false, 7); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted run: err = %v, want ErrInterrupted", err)
	}
	if got := losses(t, part); len(got) != 7 {
		t.Fatalf("interrupted run logged %d steps, want 7", len(got))
	}
	if _, err := pretrain(t, cfg, part, false, 0); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("restarting over an existing run must point to --resume, got %v", err)
	}
	if _, err := pretrain(t, cfg, part, true, 0); err != nil {
		t.Fatal(err)
	}
	a, b := losses(t, full), losses(t, part)
	if len(a) != len(b) {
		t.Fatalf("resumed run has %d steps, uninterrupted %d", len(b), len(a))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("step %d: resumed loss %v != uninterrupted %v", i+1, b[i], a[i])
		}
	}
	if first, second := mean(a[:6]), mean(a[12:]); !(second < first) {
		t.Fatalf("loss did not fall: first third mean %v, last third mean %v", first, second)
	}
	ea, err := os.ReadFile(filepath.Join(full, EncoderFile))
	if err != nil {
		t.Fatal(err)
	}
	eb, _ := os.ReadFile(filepath.Join(part, EncoderFile))
	if string(ea) != string(eb) {
		t.Fatal("resumed encoder differs from the uninterrupted one")
	}

	// Linear evaluation of the trained encoder.
	evalOut := filepath.Join(full, "eval.json")
	rep := linearEval(t, cfg, LinearEvalOptions{Checkpoint: filepath.Join(full, EncoderFile), KNN: true, Out: evalOut}, nil)
	if rep.Top5 < rep.Top1 || rep.KNNTop1 == nil || len(rep.Confusion) != 10 {
		t.Fatalf("report: top-1 %.1f%% top-5 %.1f%%, %d confusion rows", rep.Top1, rep.Top5, len(rep.Confusion))
	}
	if _, err := os.Stat(evalOut); err != nil {
		t.Fatal(err)
	}

	// Export in both formats and read back.
	b2 := cpu.New()
	enc, meta, err := model.LoadEncoder(filepath.Join(full, EncoderFile), b2)
	if err != nil {
		t.Fatal(err)
	}
	testCfg := tinyConfig(t, "data.split=test", "eval.probe_batch_size=16")
	exportTo := func(out, format string) *ExportResult {
		t.Helper()
		plan, err := NewExportPlan(testCfg, ExportOptions{Checkpoint: filepath.Join(full, EncoderFile), Layer: "backbone", Format: format, Out: out}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer plan.Close()
		res, err := (&ExportJob{Plan: plan, Backend: b2}).Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	ds := openSplit(t, cfg, "test")
	npy := filepath.Join(root, "emb.npy")
	exported := exportTo(npy, "npy")
	vals, shape, err := export.ReadNPYFloat32(npy)
	if err != nil {
		t.Fatal(err)
	}
	n := exported.Images
	if n != ds.Len() || exported.Dim != enc.FeatureDim() || len(shape) != 2 || shape[0] != ds.Len() || shape[1] != enc.FeatureDim() || len(vals) != shape[0]*shape[1] {
		t.Fatalf("npy shape %v for %d images of dim %d", shape, ds.Len(), enc.FeatureDim())
	}
	if _, err := config.Load(config.Sources{File: filepath.Join(root, "emb.config.yaml")}); err != nil {
		t.Fatalf("the export's emb.config.yaml: %v", err)
	}
	labels, _, err := export.ReadNPYInt64(strings.TrimSuffix(npy, ".npy") + ".labels.npy")
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range labels {
		if l != int64(ds.Label(i)) {
			t.Fatalf("label %d = %d, data set says %d", i, l, ds.Label(i))
		}
	}
	emb := &Embedder{Backend: b2, Encoder: enc, ImageSize: meta.ImageSize, Mean: meta.Mean, Std: meta.Std, BatchSize: 7}
	// The exported features equal the ones the probe saw (same preprocessing).
	feats, _, err := emb.Collect(context.Background(), ds)
	if err != nil {
		t.Fatal(err)
	}
	for i := range feats {
		if feats[i] != vals[i] {
			t.Fatalf("exported value %d = %v, features give %v", i, vals[i], feats[i])
		}
	}
	csvPath := filepath.Join(root, "emb.csv")
	exportTo(csvPath, "csv")
	csv, _ := os.ReadFile(csvPath)
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	if len(lines) != ds.Len()+1 || !strings.HasPrefix(lines[0], "filenames,embedding_0,") || !strings.HasSuffix(lines[0], ",labels") {
		t.Fatalf("csv has %d lines, header %q", len(lines), lines[0])
	}
}

// TestProbeFarAboveChance trains a small model on 32-px synthetic images for
// two epochs and checks the linear probe reaches at least twice the 10%
// chance level on 128 held-out images (measured: 27.3%; an untrained
// encoder of the same shape gets 22.7%).
func TestProbeFarAboveChance(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end training")
	}
	cfg := tinyConfig(t, "data.synthetic_size=512", "model.width=8", "train.epochs=2", "data.image_size=32",
		"train.batch_size=64", "eval.probe_epochs=30")
	out := filepath.Join(t.TempDir(), "run")
	if _, err := pretrain(t, cfg, out, false, 0); err != nil {
		t.Fatal(err)
	}
	rep := linearEval(t, cfg, LinearEvalOptions{Checkpoint: filepath.Join(out, EncoderFile)}, nil)
	t.Logf("probe top-1 %.2f%% top-5 %.2f%%", rep.Top1, rep.Top5)
	if rep.TestImages != 128 || rep.Top1 < 20 {
		t.Fatalf("probe top-1 %.2f%% on %d images: want at least twice the 10%% chance level", rep.Top1, rep.TestImages)
	}
}

func TestPretrainStopsOnNaN(t *testing.T) {
	cfg := tinyConfig(t, "optim.lr=1e30", "train.epochs=1")
	out := t.TempDir()
	_, err := pretrain(t, cfg, out, false, 0)
	if err == nil || !strings.Contains(err.Error(), "learning rate") {
		t.Fatalf("err = %v, want a NaN error naming the learning rate", err)
	}
	if _, statErr := os.Stat(filepath.Join(out, EncoderFile)); statErr == nil {
		t.Fatal("a diverged run must not write an encoder")
	}
}

func TestLinearEvalRejectsMismatchedEncoder(t *testing.T) {
	meta := model.EncoderMeta{InChannels: 1, ImageSize: 28}
	cfg := tinyConfig(t)
	ds := openSplit(t, cfg, "test")
	if err := CheckEncoderFits(meta, ds, 28, "enc.safetensors"); err == nil || !strings.Contains(err.Error(), "channels") {
		t.Fatalf("channel mismatch: %v", err)
	}
	meta.InChannels = 3
	if err := CheckEncoderFits(meta, ds, 16, "enc.safetensors"); err == nil || !strings.Contains(err.Error(), "data.image_size=28") {
		t.Fatalf("size mismatch: %v", err)
	}
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// TestPretrainIndependentOfGOMAXPROCS: the same seed and config give
// bit-identical losses whatever the number of cores used.
func TestPretrainIndependentOfGOMAXPROCS(t *testing.T) {
	cfg := tinyConfig(t, "train.epochs=1")
	var runs [][]float64
	for _, procs := range []int{1, 3} {
		prev := runtime.GOMAXPROCS(procs)
		out := filepath.Join(t.TempDir(), "run")
		_, err := pretrain(t, cfg, out, false, 0)
		runtime.GOMAXPROCS(prev)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, losses(t, out))
	}
	for i := range runs[0] {
		if runs[0][i] != runs[1][i] {
			t.Fatalf("step %d: loss %v with GOMAXPROCS 1, %v with 3", i+1, runs[0][i], runs[1][i])
		}
	}
}

// TestKNNMonitorLogsAccuracy: with eval.knn_every=1 the last row of every
// epoch in metrics.csv carries the kNN accuracy.
func TestKNNMonitorLogsAccuracy(t *testing.T) {
	cfg := tinyConfig(t, "train.epochs=2", "eval.knn_every=1", "eval.knn_k=20")
	out := filepath.Join(t.TempDir(), "run")
	job := &PretrainJob{Plan: pretrainPlan(t, cfg), Backend: cpu.New(), Out: out}
	if _, err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows, err := runlog.ReadMetrics(filepath.Join(out, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	var logged []int
	for _, r := range rows {
		if !math.IsNaN(r.KNNTop1) {
			if r.KNNTop1 < 0 || r.KNNTop1 > 100 {
				t.Fatalf("kNN accuracy %v out of range", r.KNNTop1)
			}
			logged = append(logged, r.Step)
		}
	}
	if len(logged) != 2 || logged[0] != 3 || logged[1] != 6 {
		t.Fatalf("kNN logged at steps %v, want the last step of each epoch [3 6]", logged)
	}
}

// TestPretrainCancelledCheckpoints: a cancelled context (what SIGINT does)
// finishes the current step, writes a checkpoint and returns ErrInterrupted.
func TestPretrainCancelledCheckpoints(t *testing.T) {
	cfg := tinyConfig(t)
	out := filepath.Join(t.TempDir(), "run")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	job := &PretrainJob{Plan: pretrainPlan(t, cfg), Backend: cpu.New(), Out: out}
	res, err := job.Run(ctx)
	if !errors.Is(err, ErrInterrupted) || res == nil || res.Steps != 1 {
		t.Fatalf("err %v, result %+v: want ErrInterrupted after one step", err, res)
	}
	for _, f := range []string{CheckpointFile, EncoderFile} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("no %s after the interrupt: %v", f, err)
		}
	}
}

// TestLinearEvalProbeAugment: eval.probe_augment trains the probe on fresh
// crop-and-flip views every epoch (one extraction per probe epoch).
func TestLinearEvalProbeAugment(t *testing.T) {
	var top1 []float64
	for _, aug := range []string{"false", "true"} {
		cfg := tinyConfig(t, "eval.probe_epochs=3", "eval.probe_augment="+aug)
		var log strings.Builder
		rep := linearEval(t, cfg, LinearEvalOptions{RandomInit: true, Out: filepath.Join(t.TempDir(), "eval.json")}, &log)
		if got := strings.Count(log.String(), "augmented views"); (aug == "true") != (got == 3) {
			t.Fatalf("probe_augment=%s extracted augmented features %d times:\n%s", aug, got, log.String())
		}
		top1 = append(top1, rep.Top1)
	}
	t.Logf("probe top-1 without / with augmentation: %.2f%% / %.2f%%", top1[0], top1[1])
}

// countingTransform counts the images a transform is applied to.
type countingTransform struct {
	data.Transform
	n atomic.Int64
}

func (c *countingTransform) Apply(img image.Image, rng *rand.Rand, dst []float32) error {
	c.n.Add(1)
	return c.Transform.Apply(img, rng, dst)
}

// count replaces the transform of in with a counting one.
func count(in *Input) *countingTransform {
	c := &countingTransform{Transform: in.Transform}
	in.Transform = c
	return c
}

// TestJobsRunTheirPlan: each job reads its data through exactly the
// transforms its plan built (what --dry-run describes), not ones of its own.
func TestJobsRunTheirPlan(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b := cpu.New()

	cfg := tinyConfig(t, "train.epochs=1", "eval.knn_every=1", "eval.knn_k=5")
	plan := pretrainPlan(t, cfg)
	views, knnTrain, knnTest := count(plan.Train), count(plan.KNNTrain), count(plan.KNNTest)
	run := filepath.Join(dir, "run")
	if _, err := (&PretrainJob{Plan: plan, Backend: b, Out: run}).Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := views.n.Load(), int64(2*3*32); got != want {
		t.Errorf("pretraining applied its plan's augmentation %d times, want 2 views x 3 batches x 32", got)
	}
	if knnTrain.n.Load() != 96 || knnTest.n.Load() != 24 {
		t.Errorf("the kNN monitor applied its plan's transforms %d and %d times, want 96 and 24", knnTrain.n.Load(), knnTest.n.Load())
	}
	enc := filepath.Join(run, EncoderFile)

	ecfg := tinyConfig(t, "eval.probe_augment=true", "eval.probe_epochs=2")
	le, err := NewLinearEvalPlan(ecfg, LinearEvalOptions{Checkpoint: enc, KNN: true, Out: filepath.Join(dir, "eval.json")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer le.Close()
	probeViews, centre, test := count(le.Train), count(le.Features), count(le.Test)
	if _, err := (&LinearEvalJob{Plan: le, Backend: b}).Run(ctx); err != nil {
		t.Fatal(err)
	}
	if probeViews.n.Load() != 2*96 || centre.n.Load() != 96 || test.n.Load() != 24 {
		t.Errorf("linear-eval applied its plan's transforms %d (augmented), %d (centre), %d (test) times; want 192, 96, 24",
			probeViews.n.Load(), centre.n.Load(), test.n.Load())
	}

	ex, err := NewExportPlan(tinyConfig(t), ExportOptions{Checkpoint: enc, Layer: "projection", Format: "npy", Out: filepath.Join(dir, "z.npy")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	exported := count(ex.Input)
	res, err := (&ExportJob{Plan: ex, Backend: b}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if exported.n.Load() != 96 || res.Images != 96 || res.Dim != 16 {
		t.Errorf("export applied its plan's transform %d times and wrote %d embeddings of %d; want 96, 96 of 16 (model.head_out)",
			exported.n.Load(), res.Images, res.Dim)
	}
}

// TestModelKeysAgainstCheckpoint: a model.* key the user set (file,
// environment, --set, flag) that contradicts the checkpoint is an error
// naming both values, in linear-eval and export alike; a default yields to
// the checkpoint (head settings included, from its recorded configuration).
func TestModelKeysAgainstCheckpoint(t *testing.T) {
	trained := tinyConfig(t) // resnet18, cifar stem, width 4, head_out 16
	enc, err := model.NewResNet(cpu.New(), trained.ModelConfig(3), 1)
	if err != nil {
		t.Fatal(err)
	}
	y, err := trained.YAML()
	if err != nil {
		t.Fatal(err)
	}
	mean, std := trained.Normalization(3)
	ckpt := filepath.Join(t.TempDir(), EncoderFile)
	if err := model.SaveEncoder(ckpt, enc, model.EncoderMeta{ImageSize: 16, Mean: mean, Std: std, Config: string(y)}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "run.yaml")
	if err := os.WriteFile(file, []byte("model:\n  stem: imagenet\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"data.synthetic_size=96", "data.image_size=16"}
	tests := []struct {
		name  string
		src   config.Sources
		wants []string // in the error; none: no error
	}{
		{"defaults yield", config.Sources{}, nil},
		{"matching --set", config.Sources{Sets: []string{"model.width=4", "model.head_out=16"}}, nil},
		{"--set", config.Sources{Sets: []string{"model.arch=resnet50"}},
			[]string{"model.arch = resnet50 (from --set model.arch=resnet50)", "trained with model.arch = resnet18", "drop the key", ckpt}},
		{"environment", config.Sources{Env: []string{"SIMCLR_MODEL_WIDTH=8"}},
			[]string{"model.width = 8 (from environment variable SIMCLR_MODEL_WIDTH)", "model.width = 4"}},
		{"file", config.Sources{File: file}, []string{"model.stem = imagenet (from " + file + ":2)", "model.stem = cifar"}},
		{"flag", config.Sources{Flags: map[string]string{"model.width": "8"}, FlagNames: map[string]string{"model.width": "--width"}},
			[]string{"model.width = 8 (from --width)", "model.width = 4"}},
		{"head key", config.Sources{Sets: []string{"model.head_out=32"}}, []string{"model.head_out = 32", "model.head_out = 16"}},
		{"two keys", config.Sources{Sets: []string{"model.arch=resnet34", "model.head_bn=true"}},
			[]string{"model.arch = resnet34", "model.head_bn = true", "model.head_bn = false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			src.Sets = append(slices.Clone(base), src.Sets...)
			cfg, err := config.Load(src)
			if err != nil {
				t.Fatal(err)
			}
			le, leErr := NewLinearEvalPlan(cfg, LinearEvalOptions{Checkpoint: ckpt}, nil)
			ex, exErr := NewExportPlan(cfg, ExportOptions{Checkpoint: ckpt, Layer: "projection", Format: "npy", Out: "x.npy"}, nil)
			for what, err := range map[string]error{"linear-eval": leErr, "export": exErr} {
				if len(tt.wants) == 0 {
					if err != nil {
						t.Fatalf("%s: %v", what, err)
					}
					continue
				}
				if err == nil {
					t.Fatalf("%s accepted model keys that contradict the checkpoint", what)
				}
				for _, w := range tt.wants {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s error %q lacks %q", what, err, w)
					}
				}
			}
			if len(tt.wants) > 0 {
				return
			}
			defer le.Close()
			defer ex.Close()
			want := trained.ModelConfig(3)
			if le.Model != want || ex.Model != want {
				t.Errorf("model settings %+v (linear-eval), %+v (export); want the checkpoint's %+v", le.Model, ex.Model, want)
			}
		})
	}
}
