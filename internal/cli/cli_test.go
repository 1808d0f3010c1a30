package cli

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"simclr/internal/backend/cpu"
	"simclr/internal/config"
	"simclr/internal/model"
)

// result is the outcome of one in-process invocation.
type result struct {
	code           int
	stdout, stderr string
}

// invoke runs simclr in-process with an explicit environment.
func invoke(t *testing.T, env []string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, env, &out, &errb)
	return result{code, out.String(), errb.String()}
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

func TestRunUsesProcessEnvironment(t *testing.T) {
	t.Setenv("SIMCLR_TRAIN_EPOCHS", "17")
	var out, errb bytes.Buffer
	if code := Run([]string{"config"}, &out, &errb); code != 0 {
		t.Fatalf("config: exit %d, stderr %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "epochs: 17 # from environment variable SIMCLR_TRAIN_EPOCHS") {
		t.Errorf("Run did not read SIMCLR_TRAIN_EPOCHS:\n%s", out.String())
	}
}

func TestHelp(t *testing.T) {
	a := &app{}
	root := a.newRootCommand()
	cmds := append([]*cobra.Command{root}, root.Commands()...)
	var names []string
	for _, c := range cmds {
		names = append(names, c.Name())
	}
	if got, want := strings.Join(names, " "), "simclr bench config devices export-embeddings linear-eval pretrain preview version"; got != want {
		t.Fatalf("commands = %q, want %q", got, want)
	}
	for _, c := range cmds {
		t.Run(c.Name(), func(t *testing.T) {
			if c.Short == "" || c.Long == "" || c.Example == "" {
				t.Fatalf("%s lacks Short, Long or Example", c.Name())
			}
			args := []string{c.Name(), "--help"}
			if c == root {
				args = []string{"--help"}
			}
			r := invoke(t, nil, args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("--help: %v", r)
			}
			firstLine, _, _ := strings.Cut(c.Long, "\n")
			for _, want := range []string{firstLine, "Examples:", "Usage:"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("--help output lacks %q:\n%s", want, r.stdout)
				}
			}
		})
	}
	// The training commands carry the dedicated configuration flags.
	for _, name := range []string{"pretrain", "linear-eval", "export-embeddings"} {
		r := invoke(t, nil, name, "--help")
		for _, flag := range []string{"--data-path", "--data-format", "--epochs", "--batch-size", "--lr", "--device", "--seed", "--dry-run", "--config", "--set", "--quiet"} {
			if !strings.Contains(r.stdout, flag) {
				t.Errorf("%s --help lacks %s", name, flag)
			}
		}
	}
}

func TestConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "run.yaml")
	if err := os.WriteFile(file, []byte("train:\n  epochs: 7\n  batch_size: 64\noptim:\n  lr: 0.7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		env        []string
		args       []string
		wantEpochs int
		wantBatch  int
		wantLR     float64
		wantNote   string
	}{
		{"defaults", nil, nil, 5, 128, 0.002, ""},
		{"file", nil, []string{"--config", file}, 7, 64, 0.7, "epochs: 7 # from " + file + ":2"},
		{"env beats file", []string{"SIMCLR_TRAIN_EPOCHS=8"}, []string{"--config", file}, 8, 64, 0.7,
			"epochs: 8 # from environment variable SIMCLR_TRAIN_EPOCHS"},
		{"set beats env", []string{"SIMCLR_TRAIN_EPOCHS=8"}, []string{"--config", file, "--set", "train.epochs=9"}, 9, 64, 0.7,
			"epochs: 9 # from --set train.epochs=9"},
		{"flag beats set", []string{"SIMCLR_TRAIN_EPOCHS=8"},
			[]string{"--config", file, "--set", "train.epochs=9", "--epochs", "10", "--lr", "0.05", "--batch-size", "32"}, 10, 32, 0.05,
			"epochs: 10 # from --epochs"},
		{"set order", nil, []string{"--set", "train.epochs=2", "--set", "train.epochs=3"}, 3, 128, 0.002, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := invoke(t, tt.env, append([]string{"config"}, tt.args...)...)
			if r.code != 0 {
				t.Fatalf("%v", r)
			}
			var got config.Config
			if err := yaml.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("config output is not YAML: %v\n%s", err, r.stdout)
			}
			if got.Train.Epochs != tt.wantEpochs || got.Train.BatchSize != tt.wantBatch || got.Optim.LR != tt.wantLR {
				t.Errorf("epochs %d batch %d lr %g; want %d %d %g", got.Train.Epochs, got.Train.BatchSize, got.Optim.LR,
					tt.wantEpochs, tt.wantBatch, tt.wantLR)
			}
			if tt.wantNote != "" && !strings.Contains(r.stdout, tt.wantNote) {
				t.Errorf("output lacks %q:\n%s", tt.wantNote, r.stdout)
			}
		})
	}
}

func TestConfigKeys(t *testing.T) {
	r := invoke(t, nil, "config", "--keys")
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != len(config.Keys())+1 {
		t.Errorf("config --keys printed %d lines, want %d", len(lines), len(config.Keys())+1)
	}
	if !strings.Contains(r.stdout, "data.limit") || !strings.Contains(r.stdout, "SIMCLR_DATA_LIMIT") {
		t.Errorf("config --keys lacks data.limit:\n%s", r.stdout)
	}
}

// assertError checks an invocation failed with code and one "simclr:"
// message containing wants.
func assertError(t *testing.T, r result, code int, wants ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d: %v", r.code, code, r)
	}
	messages := 0
	for _, line := range strings.Split(r.stderr, "\n") {
		if strings.HasPrefix(line, "simclr: ") {
			messages++
		}
	}
	if messages != 1 || strings.Count(r.stderr, "simclr: ") != 1 {
		t.Errorf("stderr must hold one 'simclr: ' message, got %q", r.stderr)
	}
	for _, w := range wants {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr %q does not mention %q", r.stderr, w)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("train:\n  epochs: 5\n  batchsize: 64\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		env   []string
		args  []string
		wants []string
	}{
		{"unknown key in file", nil, []string{"config", "--config", bad}, []string{`"train.batchsize"`, "bad.yaml:3", `"train.batch_size"`}},
		{"unknown key in --set", nil, []string{"pretrain", "--dry-run", "--set", "optim.learning_rate=1"}, []string{`"optim.learning_rate"`, "--set"}},
		{"unknown env var", []string{"SIMCLR_TRAIN_EPOCS=3"}, []string{"config"}, []string{"SIMCLR_TRAIN_EPOCS", "environment", "SIMCLR_TRAIN_EPOCHS"}},
		{"wrong type in env", []string{"SIMCLR_DATA_LIMIT=lots"}, []string{"config"}, []string{"data.limit", "SIMCLR_DATA_LIMIT", `"lots"`, "integer"}},
		{"wrong type in --set", nil, []string{"config", "--set", "augment.crop_scale=0.2"}, []string{"augment.crop_scale", "--set", "pair"}},
		{"out of range from flag", nil, []string{"config", "--batch-size", "1"}, []string{"train.batch_size", "--batch-size", ">= 2"}},
		{"out of range from --set", nil, []string{"config", "--set", "loss.temperature=-1"}, []string{"loss.temperature", "--set loss.temperature=-1", "> 0"}},
		{"out of range from env", []string{"SIMCLR_AUGMENT_FLIP_P=2"}, []string{"config"}, []string{"augment.flip_p", "SIMCLR_AUGMENT_FLIP_P", "[0, 1]"}},
		{"bad device flag", nil, []string{"config", "--device", "tpu"}, []string{"device", "--device", "cuda:N"}},
		{"missing config file", nil, []string{"config", "--config", filepath.Join(t.TempDir(), "none.yaml")}, []string{"none.yaml"}},
		{"missing data", nil, []string{"pretrain", "--dry-run", "--data-format", "cifar10", "--data-path", t.TempDir()},
			[]string{"data_batch_1.bin", "--data-path"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertError(t, invoke(t, tt.env, tt.args...), ExitError, tt.wants...)
		})
	}
}

// TestBenchKernelTimesNeedsCUDA checks that --kernel-times on the CPU
// backend fails before any step, naming the CUDA build and --device cuda.
func TestBenchKernelTimesNeedsCUDA(t *testing.T) {
	r := invoke(t, nil, "bench", "--device", "cpu", "--channels", "1", "--kernel-times")
	assertError(t, r, ExitError, "--kernel-times needs the CUDA backend", "make build-cuda", "--device cuda", "cpu backend")
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing (no step may run)", r.stdout)
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		args  []string
		wants []string
	}{
		{"unknown command", []string{"train"}, []string{`unknown command "train"`}},
		{"unknown flag", []string{"pretrain", "--epoch", "3"}, []string{"--epoch", "simclr pretrain --help"}},
		{"bad flag value", []string{"pretrain", "--epochs", "three"}, []string{"--epochs"}},
		{"positional argument", []string{"config", "extra"}, []string{"no arguments"}},
		{"linear-eval without checkpoint", []string{"linear-eval"}, []string{"--checkpoint"}},
		{"export without out", []string{"export-embeddings", "--dry-run"}, []string{"--out"}},
		{"export bad format", []string{"export-embeddings", "--dry-run", "--out", filepath.Join(dir, "e.npy"), "--format", "parquet"}, []string{"--format", "npy, csv"}},
		{"export bad layer", []string{"export-embeddings", "--dry-run", "--out", filepath.Join(dir, "e.npy"), "--layer", "head"}, []string{"--layer", "backbone, projection"}},
		{"preview without out", []string{"preview"}, []string{"--out"}},
		{"preview zero rows", []string{"preview", "--out", filepath.Join(dir, "p.png"), "--n", "0"}, []string{"--n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertError(t, invoke(t, nil, tt.args...), ExitUsage, tt.wants...)
		})
	}
}

func TestPretrainDryRun(t *testing.T) {
	tests := []struct {
		name        string
		args        []string
		wantImages  string
		wantBatches string
	}{
		{"limit", []string{"--set", "data.limit=100", "--batch-size", "32"}, "images:          100", "batches/epoch:   3"},
		{"keep last", []string{"--set", "data.limit=100", "--batch-size", "32", "--set", "data.drop_last=false"}, "images:          100", "batches/epoch:   4"},
		{"env limit", []string{"--set", "train.batch_size=64"}, "images:          200", "batches/epoch:   3"},
		{"augmentations", []string{"--set", "augment.blur_p=0.5", "--set", "augment.solarize_p=0.1", "--set", "augment.gray_p=0", "--set", "augment.crop_scale=0.2,1", "--set", "train.batch_size=64"},
			"transform:       random resized crop to 32x32 (scale 0.2-1, ratio 0.75-1.33), flip p=0.5, colour jitter p=0.8 (strength 0.5: brightness 0.8, contrast 0.8, saturation 0.8, hue 0.2), blur p=0.5 (sigma 0.1-2), solarize p=0.1 (threshold 0.5)\n",
			"model: resnet18, cifar stem, width 16, 3 channels, head 2 layers to 64; 3 steps per epoch, 5 epochs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := []string{"SIMCLR_DATA_LIMIT=200"}
			r := invoke(t, env, append([]string{"pretrain", "--dry-run"}, tt.args...)...)
			if r.code != 0 {
				t.Fatalf("%v", r)
			}
			for _, want := range []string{"format:          synthetic", "split:           train", "classes:         10 (circle",
				"channels:        3", "32x32 native, 3x32x32 views (augmented, 2 per image)", tt.wantImages, tt.wantBatches,
				"transform:       random resized crop to 32x32", "normalisation:   mean [0.485 0.456 0.406] std [0.229 0.224 0.225]",
				"configuration:", "drop_last:", "loss: NT-Xent over 2N = ", "loss.fused auto: "} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("dry-run output lacks %q:\n%s", want, r.stdout)
				}
			}
		})
	}
	r := invoke(t, nil, "pretrain", "--dry-run", "--set", "data.limit=10", "--batch-size", "32")
	assertError(t, r, ExitError, "fewer than one batch", "train.batch_size from --batch-size", "data.drop_last: false")
}

// savedEncoder writes an untrained width-4 ResNet-18 encoder for 3-channel
// 32-px images with a mean and std no configuration default has, and
// returns its path.
func savedEncoder(t *testing.T, arch, stem string) string {
	t.Helper()
	b := cpu.New()
	enc, err := model.NewResNet(b, model.Config{Arch: arch, Stem: stem, Width: 4, InChannels: 3}, 1)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "encoder.safetensors")
	if err := model.SaveEncoder(path, enc, model.EncoderMeta{ImageSize: 32, Mean: ckptMean, Std: ckptStd}); err != nil {
		t.Fatal(err)
	}
	return path
}

// The normalisation savedEncoder records.
var ckptMean, ckptStd = []float64{0.1, 0.2, 0.3}, []float64{0.4, 0.5, 0.6}

// section returns the lines of out from the one starting with head up to
// the next line that does not start with a space.
func section(out, head string) string {
	_, rest, ok := strings.Cut(out, "\n"+head)
	if !ok {
		if !strings.HasPrefix(out, head) {
			return ""
		}
		rest = out[len(head):]
	}
	lines := strings.Split(rest, "\n")
	end := 1
	for end < len(lines) && strings.HasPrefix(lines[end], " ") {
		end++
	}
	return head + strings.Join(lines[:end], "\n")
}

// TestLinearEvalDryRun: the dry run describes what linear-eval runs: the
// checkpoint's encoder, image size, mean and std, centre crops, or with
// eval.probe_augment crop and flip only (not pretraining's augmentations).
func TestLinearEvalDryRun(t *testing.T) {
	ckpt := savedEncoder(t, "resnet18", "cifar")
	ckptNorm := fmt.Sprintf("normalisation:   mean %v std %v", ckptMean, ckptStd)
	configNorm := "normalisation:   mean [0.485 0.456 0.406] std [0.229 0.224 0.225]"
	common := []string{"linear-eval", "--dry-run", "--set", "data.synthetic_size=400", "--set", "eval.probe_batch_size=64"}
	tests := []struct {
		name      string
		args      []string
		train     []string // in the "train data:" section
		notTrain  []string
		knnTrain  bool // a "kNN train data:" section of centre crops
		wantOther []string
	}{
		{"centre crops", []string{"--checkpoint", ckpt},
			[]string{"images:          400", "centre crop", "resize and centre crop to 32x32", ckptNorm, "batches/epoch:   7", "shuffle: false"},
			[]string{configNorm}, false,
			[]string{"encoder: resnet18, cifar stem, width 4, 3 channels, 32x32 input (" + ckpt + ")", "report: " + filepath.Join(filepath.Dir(ckpt), "eval.json")}},
		{"probe_augment", []string{"--checkpoint", ckpt, "--set", "eval.probe_augment=true"},
			[]string{"augmented, 1 per image", "random resized crop to 32x32 (scale 0.08-1, ratio 0.75-1.33), flip p=0.5\n", ckptNorm},
			[]string{"colour jitter", "grayscale", configNorm}, false, nil},
		{"probe_augment with kNN", []string{"--checkpoint", ckpt, "--set", "eval.probe_augment=true", "--knn"},
			[]string{"random resized crop", ckptNorm}, []string{"colour jitter"}, true, nil},
		{"random init", []string{"--random-init", "--set", "model.width=8"},
			[]string{"centre crop", configNorm}, nil, false,
			[]string{"encoder: resnet18, cifar stem, width 8, 3 channels, 32x32 input (random init, seed 0)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := invoke(t, nil, append(common, tt.args...)...)
			if r.code != 0 {
				t.Fatalf("%v", r)
			}
			train := section(r.stdout, "train data:")
			for _, want := range tt.train {
				if !strings.Contains(train, want) {
					t.Errorf("train data section lacks %q:\n%s", want, train)
				}
			}
			for _, bad := range tt.notTrain {
				if strings.Contains(train, bad) {
					t.Errorf("train data section has %q:\n%s", bad, train)
				}
			}
			eval := section(r.stdout, "eval data:")
			for _, want := range []string{"synthetic/test", "images:          100", "centre crop", "batches/epoch:   2"} {
				if !strings.Contains(eval, want) {
					t.Errorf("eval data section lacks %q:\n%s", want, eval)
				}
			}
			knn := section(r.stdout, "kNN train data:")
			if tt.knnTrain != (knn != "") || tt.knnTrain && !strings.Contains(knn, "centre crop") {
				t.Errorf("kNN train section %q, want one of centre crops: %v", knn, tt.knnTrain)
			}
			for _, want := range tt.wantOther {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("dry-run output lacks %q:\n%s", want, r.stdout)
				}
			}
		})
	}
	r := invoke(t, nil, "linear-eval", "--checkpoint", filepath.Join(t.TempDir(), "missing.safetensors"))
	assertError(t, r, ExitError, "--checkpoint", "missing.safetensors")
}

func TestExportDryRun(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--out", filepath.Join(dir, "e.csv")}, "output: csv embeddings of the backbone layer"},
		{[]string{"--out", filepath.Join(dir, "e.bin")}, "output: npy embeddings of the backbone layer"},
		{[]string{"--out", filepath.Join(dir, "e.csv"), "--format", "npy", "--layer", "projection"}, "output: npy embeddings of the projection layer"},
	}
	for _, tt := range tests {
		r := invoke(t, nil, append([]string{"export-embeddings", "--dry-run", "--set", "data.limit=50"}, tt.args...)...)
		if r.code != 0 {
			t.Fatalf("%v", r)
		}
		for _, want := range []string{tt.want, "export data:", "images:          50", "batches/epoch:   1", "shuffle: false"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("export dry-run output lacks %q:\n%s", want, r.stdout)
			}
		}
	}
	r := invoke(t, nil, "export-embeddings", "--dry-run", "--out", filepath.Join(dir, "no", "such", "e.npy"))
	assertError(t, r, ExitError, "--out", "does not exist")
}

func TestPreview(t *testing.T) {
	dir := t.TempDir()
	render := func(name string, args ...string) []byte {
		t.Helper()
		out := filepath.Join(dir, name)
		r := invoke(t, nil, append([]string{"preview", "--out", out, "--set", "data.image_size=20", "--set", "data.synthetic_size=64"}, args...)...)
		if r.code != 0 {
			t.Fatalf("%v", r)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first := render("a.png", "--n", "3")
	img, err := png.Decode(bytes.NewReader(first))
	if err != nil {
		t.Fatalf("preview is not a PNG: %v", err)
	}
	// 3 cells of 20 px and 4 gaps of 2 px across; 3 rows of 20 px and 4 gaps down.
	// 20-px cells are shown enlarged 5x (100 px) with 2-px gaps.
	if b := img.Bounds(); b.Dx() != 308 || b.Dy() != 308 {
		t.Errorf("preview is %dx%d, want 308x308", b.Dx(), b.Dy())
	}
	if w, h := previewSize(3, 20); w != 68 || h != 68 {
		t.Errorf("previewSize(3, 20) = %d, %d", w, h)
	}
	// The two views differ from the original: the augmentations did something.
	cellsDiffer := false
	for y := 2; y < 22 && !cellsDiffer; y++ {
		for x := range 20 {
			if img.At(2+x, y) != img.At(24+x, y) {
				cellsDiffer = true
				break
			}
		}
	}
	if !cellsDiffer {
		t.Error("the first augmented view is identical to the original")
	}
	if again := render("b.png", "--n", "3"); !bytes.Equal(first, again) {
		t.Error("the same seed gave a different preview")
	}
	if other := render("c.png", "--n", "3", "--seed", "99"); bytes.Equal(first, other) {
		t.Error("a different seed gave the same preview")
	}
	// More rows than images: one row per image.
	r := invoke(t, nil, "preview", "--out", filepath.Join(dir, "d.png"), "--set", "data.limit=2", "--n", "5")
	if r.code != 0 || !strings.Contains(r.stderr, "2 images") {
		t.Fatalf("%v", r)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestVersion(t *testing.T) {
	r := invoke(t, nil, "version")
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	for _, want := range []string{"simclr ", "commit:", "go:       go1.", "tags:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("version output lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestFashionMNISTConfig(t *testing.T) {
	if _, err := os.Stat("/usr/share/datasets/fashion-mnist"); err != nil {
		t.Skip("Fashion-MNIST is not installed here")
	}
	r := invoke(t, nil, "pretrain", "--dry-run", "--config", "../../configs/fashion-mnist.yaml")
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	for _, want := range []string{"images:          60000", "channels:        1", "28x28 native, 1x28x28 views", "T-shirt/top", "mean [0.286] std [0.353]"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dry-run output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestModelKeysContradictingCheckpoint: linear-eval and export-embeddings
// refuse a model.* key the user gave that the checkpoint contradicts,
// naming both values and the fix, whatever the source.
func TestModelKeysContradictingCheckpoint(t *testing.T) {
	ckpt := savedEncoder(t, "resnet18", "cifar")
	file := filepath.Join(t.TempDir(), "r50.yaml")
	if err := os.WriteFile(file, []byte("model:\n  arch: resnet50\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "e.npy")
	tests := []struct {
		name  string
		env   []string
		args  []string
		wants []string
	}{
		{"linear-eval --set", nil, []string{"linear-eval", "--checkpoint", ckpt, "--set", "model.arch=resnet50"},
			[]string{"model.arch = resnet50 (from --set model.arch=resnet50)", "model.arch = resnet18", "drop the key"}},
		{"linear-eval file", nil, []string{"linear-eval", "--dry-run", "--checkpoint", ckpt, "--config", file},
			[]string{"model.arch = resnet50 (from " + file + ":2)", "model.arch = resnet18"}},
		{"export environment", []string{"SIMCLR_MODEL_STEM=imagenet"}, []string{"export-embeddings", "--checkpoint", ckpt, "--out", out},
			[]string{"model.stem = imagenet (from environment variable SIMCLR_MODEL_STEM)", "model.stem = cifar"}},
		{"export --set", nil, []string{"export-embeddings", "--dry-run", "--checkpoint", ckpt, "--out", out, "--set", "model.width=64"},
			[]string{"model.width = 64", "model.width = 4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertError(t, invoke(t, tt.env, tt.args...), ExitError, tt.wants...)
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused export wrote its output")
	}
}

// TestRuntimeEnvAccepted runs commands with each runtime switch of
// docs/cuda.md set: none may be rejected as an unknown configuration key.
func TestRuntimeEnvAccepted(t *testing.T) {
	for _, name := range config.RuntimeEnv {
		t.Run(name, func(t *testing.T) {
			env := []string{name + "=1"}
			r := invoke(t, env, "config")
			if r.code != 0 || strings.Contains(r.stderr, name) {
				t.Fatalf("config with %s=1: %v", name, r)
			}
			r = invoke(t, env, "pretrain", "--dry-run", "--set", "data.limit=64", "--batch-size", "32")
			if r.code != 0 {
				t.Fatalf("pretrain --dry-run with %s=1: %v", name, r)
			}
		})
	}
}

// TestDebugSyncFlagCPU checks that --debug-sync is a global flag the CPU
// backend accepts (it has nothing to sync).
func TestDebugSyncFlagCPU(t *testing.T) {
	r := invoke(t, nil, "bench", "--device", "cpu", "--debug-sync", "--channels", "1", "--set", "model.width=2",
		"--set", "data.image_size=8", "--set", "train.batch_size=2", "--set", "model.head_out=8", "--steps", "1", "--warmup", "0")
	if r.code != 0 {
		t.Fatalf("bench --device cpu --debug-sync: %v", r)
	}
}
