package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"simclr/internal/augment"
	"simclr/internal/backend"
	"simclr/internal/backend/cpu"
	"simclr/internal/data"
	"simclr/internal/model"
)

// values returns c without its provenance, for comparisons.
func values(c *Config) Config {
	v := *c
	v.origins = nil
	return v
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustLoad(t *testing.T, src Sources) *Config {
	t.Helper()
	c, err := Load(src)
	if err != nil {
		t.Fatalf("Load(%+v): %v", src, err)
	}
	return c
}

func TestDefaultsValidateAndMatchDefaultYAML(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("built-in defaults do not validate: %v", err)
	}
	fromFile := mustLoad(t, Sources{File: "../../configs/default.yaml"})
	if got, want := values(fromFile), values(Default()); !reflect.DeepEqual(got, want) {
		t.Errorf("configs/default.yaml differs from Default():\n got %+v\nwant %+v", got, want)
	}
	if got := values(mustLoad(t, Sources{})); !reflect.DeepEqual(got, values(Default())) {
		t.Errorf("Load with no sources = %+v, want the defaults", got)
	}
}

func TestEveryConfigFileLoads(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.yaml")
	if err != nil || len(files) < 5 {
		t.Fatalf("expected the configs/*.yaml files, got %v (err %v)", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c := mustLoad(t, Sources{File: f})
			for _, ch := range []int{1, 3} {
				if _, err := augment.New(c.AugmentConfig(ch)); err != nil {
					t.Errorf("augment.New(AugmentConfig(%d)): %v", ch, err)
				}
			}
		})
	}
	cifar := mustLoad(t, Sources{File: "../../configs/cifar10.yaml"})
	if cifar.Train.BatchSize != 512 || cifar.Optim.LR != 1.0 || cifar.Model.Width != 64 || cifar.Augment.BlurP != 0 {
		t.Errorf("cifar10.yaml does not carry the paper's recipe: %+v", values(cifar))
	}
	imagenet := mustLoad(t, Sources{File: "../../configs/imagenet.yaml"})
	if imagenet.Model.Arch != "resnet50" || imagenet.Loss.Temperature != 0.1 || imagenet.Train.BatchSize != 4096 {
		t.Errorf("imagenet.yaml does not carry the paper's recipe: %+v", values(imagenet))
	}
}

func TestPrecedence(t *testing.T) {
	file := writeTemp(t, "run.yaml", "train:\n  epochs: 7\ndata:\n  limit: 70\n")
	tests := []struct {
		name       string
		src        Sources
		wantEpochs int
		wantOrigin string
	}{
		{"defaults", Sources{}, 5, "built-in default"},
		{"file", Sources{File: file}, 7, file + ":2"},
		{"env over file", Sources{File: file, Env: []string{"SIMCLR_TRAIN_EPOCHS=8"}}, 8, "environment variable SIMCLR_TRAIN_EPOCHS"},
		{"set over env", Sources{File: file, Env: []string{"SIMCLR_TRAIN_EPOCHS=8"}, Sets: []string{"train.epochs=9"}}, 9, "--set train.epochs=9"},
		{"last set wins", Sources{Sets: []string{"train.epochs=9", "train.epochs=11"}}, 11, "--set train.epochs=11"},
		{"flag over all", Sources{File: file, Env: []string{"SIMCLR_TRAIN_EPOCHS=8"}, Sets: []string{"train.epochs=9"},
			Flags: map[string]string{"train.epochs": "10"}, FlagNames: map[string]string{"train.epochs": "--epochs"}}, 10, "--epochs"},
		{"flag without name", Sources{Flags: map[string]string{"train.epochs": "12"}}, 12, "command-line flag for train.epochs"},
		{"unrelated env ignored", Sources{Env: []string{"HOME=/root", "EPOCHS=3"}}, 5, "built-in default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, tt.src)
			if c.Train.Epochs != tt.wantEpochs {
				t.Errorf("train.epochs = %d, want %d", c.Train.Epochs, tt.wantEpochs)
			}
			if got := c.Origin("train.epochs"); got != tt.wantOrigin {
				t.Errorf("Origin(train.epochs) = %q, want %q", got, tt.wantOrigin)
			}
		})
	}
	// Keys that a higher source does not mention keep the lower source's value.
	c := mustLoad(t, Sources{File: file, Sets: []string{"train.epochs=9"}})
	if c.Data.Limit != 70 || c.Origin("data.limit") != file+":4" {
		t.Errorf("data.limit = %d from %q, want 70 from the file", c.Data.Limit, c.Origin("data.limit"))
	}
}

func TestValueSyntax(t *testing.T) {
	tests := []struct {
		name  string
		src   Sources
		check func(c *Config) bool
	}{
		{"set list", Sources{Sets: []string{"augment.crop_scale=0.2,1"}}, func(c *Config) bool { return c.Augment.CropScale == [2]float64{0.2, 1} }},
		{"set bracketed list", Sources{Sets: []string{"augment.mean=[0.5, 0.4, 0.3]", "augment.std=1,1,1"}},
			func(c *Config) bool { return slices.Equal(c.Augment.Mean, []float64{0.5, 0.4, 0.3}) }},
		{"env bool", Sources{Env: []string{"SIMCLR_DATA_SKIP_BAD=true"}}, func(c *Config) bool { return c.Data.SkipBad }},
		{"env string with underscore key", Sources{Env: []string{"SIMCLR_DATA_EVAL_SPLIT=train"}}, func(c *Config) bool { return c.Data.EvalSplit == "train" }},
		{"file int for float", Sources{File: "inline:optim:\n  lr: 2\n"}, func(c *Config) bool { return c.Optim.LR == 2 }},
		{"file exponent", Sources{File: "inline:optim:\n  weight_decay: 1e-4\n"}, func(c *Config) bool { return c.Optim.WeightDecay == 1e-4 }},
		{"file block list", Sources{File: "inline:augment:\n  mean:\n    - 0.5\n  std: [0.25]\n"},
			func(c *Config) bool {
				return slices.Equal(c.Augment.Mean, []float64{0.5}) && slices.Equal(c.Augment.Std, []float64{0.25})
			}},
		{"file empty section", Sources{File: "inline:data:\ntrain:\n  epochs: 3\n"}, func(c *Config) bool { return c.Train.Epochs == 3 }},
		{"file empty", Sources{File: "inline:"}, func(c *Config) bool { return values(c).Train == Default().Train }},
		{"file anchors", Sources{File: "inline:train:\n  epochs: &e 4\noptim:\n  warmup_epochs: *e\n"},
			func(c *Config) bool { return c.Optim.WarmupEpochs == 4 }},
		{"negative seed", Sources{Sets: []string{"seed=-3"}}, func(c *Config) bool { return c.Seed == -3 }},
		{"cuda index", Sources{Sets: []string{"device=cuda:1"}}, func(c *Config) bool { return c.Device == "cuda:1" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			if body, ok := strings.CutPrefix(src.File, "inline:"); ok {
				src.File = writeTemp(t, "c.yaml", body)
			}
			c := mustLoad(t, src)
			if !tt.check(c) {
				t.Errorf("unexpected result: %+v", values(c))
			}
		})
	}
}

// loadErr loads src (File "inline:..." is written to a temp file named
// bad.yaml) and returns the error text, failing when there is none.
func loadErr(t *testing.T, src Sources) string {
	t.Helper()
	if body, ok := strings.CutPrefix(src.File, "inline:"); ok {
		src.File = writeTemp(t, "bad.yaml", body)
	}
	_, err := Load(src)
	if err == nil {
		t.Fatalf("Load(%+v) succeeded, want an error", src)
	}
	return err.Error()
}

func assertContains(t *testing.T, msg string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not mention %q", msg, w)
		}
	}
}

func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		name  string
		src   Sources
		wants []string
	}{
		{"file typo", Sources{File: "inline:data:\n  limt: 5\n"}, []string{`"data.limt"`, "bad.yaml:2", `did you mean "data.limit"`}},
		{"file wrong case", Sources{File: "inline:Data:\n  limit: 5\n"}, []string{`"Data"`, "bad.yaml:1", `"data"`, "lower-case"}},
		{"file missing section", Sources{File: "inline:epochs: 5\n"}, []string{`"epochs"`, "bad.yaml:1", `"train.epochs"`}},
		{"set wrong section", Sources{Sets: []string{"train.lr=0.1"}}, []string{`"train.lr"`, "--set train.lr=0.1", `"optim.lr"`}},
		{"set nonsense", Sources{Sets: []string{"zzzzzzzz.qqqqqqq=1"}}, []string{`"zzzzzzzz.qqqqqqq"`, "--set", "simclr config"}},
		{"env typo", Sources{Env: []string{"SIMCLR_DATA_LIMT=5"}}, []string{"SIMCLR_DATA_LIMT", "environment", "SIMCLR_DATA_LIMIT", "data.limit"}},
		{"flag key", Sources{Flags: map[string]string{"train.epoch": "3"}, FlagNames: map[string]string{"train.epoch": "--epochs"}},
			[]string{`"train.epoch"`, "--epochs", `"train.epochs"`}},
		{"set section", Sources{Sets: []string{"data=cifar10"}}, []string{"data", "section", "data.format"}},
		{"set without equals", Sources{Sets: []string{"data.limit"}}, []string{"data.limit", "key=value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertContains(t, loadErr(t, tt.src), tt.wants...)
		})
	}
	var uk *UnknownKeyError
	if _, err := Load(Sources{Sets: []string{"train.lr=0.1"}}); !errors.As(err, &uk) || uk.Suggestion != `"optim.lr"` {
		t.Errorf("want an *UnknownKeyError suggesting optim.lr, got %v", err)
	}
}

func TestWrongTypes(t *testing.T) {
	tests := []struct {
		name  string
		src   Sources
		wants []string
	}{
		{"file string for int", Sources{File: "inline:train:\n  epochs: many\n"}, []string{"train.epochs", "bad.yaml:2", `"many"`, "integer"}},
		{"file float for int", Sources{File: "inline:train:\n  batch_size: 12.5\n"}, []string{"train.batch_size", "12.5", "integer"}},
		{"file list for float", Sources{File: "inline:optim:\n  lr: [1, 2]\n"}, []string{"optim.lr", "[1, 2]", "number"}},
		{"file mapping for int", Sources{File: "inline:seed:\n  a: 1\n"}, []string{"seed", "integer", "mapping"}},
		{"file string for bool", Sources{File: "inline:data:\n  skip_bad: sometimes\n"}, []string{"data.skip_bad", "boolean"}},
		{"file section scalar", Sources{File: "inline:train: 5\n"}, []string{"train", "section", "train.epochs"}},
		{"file pair too long", Sources{File: "inline:augment:\n  crop_scale: [0.1, 0.5, 1]\n"}, []string{"augment.crop_scale", "pair", "3 values"}},
		{"file nan", Sources{File: "inline:loss:\n  temperature: .nan\n"}, []string{"loss.temperature", "non-finite"}},
		{"env not a number", Sources{Env: []string{"SIMCLR_OPTIM_LR=fast"}}, []string{"optim.lr", "SIMCLR_OPTIM_LR", `"fast"`, "number"}},
		{"set bad bool", Sources{Sets: []string{"model.head_bn=maybe"}}, []string{"model.head_bn", "--set model.head_bn=maybe", "boolean"}},
		{"set inf", Sources{Sets: []string{"optim.lr=Inf"}}, []string{"optim.lr", "non-finite"}},
		{"set bad list item", Sources{Sets: []string{"augment.blur_sigma=0.1,x"}}, []string{"augment.blur_sigma", "pair"}},
		{"flag bad int", Sources{Flags: map[string]string{"train.batch_size": "big"}, FlagNames: map[string]string{"train.batch_size": "--batch-size"}},
			[]string{"train.batch_size", "--batch-size", `"big"`, "integer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertContains(t, loadErr(t, tt.src), tt.wants...)
		})
	}
}

func TestOutOfRange(t *testing.T) {
	tests := []struct {
		set   string
		wants []string
	}{
		{"loss.temperature=0", []string{"loss.temperature", "must be > 0"}},
		{"train.batch_size=1", []string{"train.batch_size", "= 1", ">= 2"}},
		{"train.epochs=0", []string{"train.epochs", ">= 1"}},
		{"train.log_every=0", []string{"train.log_every", "= 0", ">= 1"}},
		{"augment.crop_scale=0,1", []string{"augment.crop_scale", "0 < min <= max <= 1"}},
		{"augment.crop_scale=0.9,0.2", []string{"augment.crop_scale", "[0.9, 0.2]"}},
		{"augment.crop_scale=0.5,1.5", []string{"augment.crop_scale"}},
		{"augment.flip_p=1.5", []string{"augment.flip_p", "1.5", "[0, 1]"}},
		{"augment.gray_p=-0.1", []string{"augment.gray_p", "[0, 1]"}},
		{"augment.hue=0.6", []string{"augment.hue", "[0, 0.5]"}},
		{"data.image_size=4", []string{"data.image_size", ">= 8"}},
		{"data.limit=-1", []string{"data.limit", ">= 0"}},
		{"optim.lr=0", []string{"optim.lr", "> 0"}},
		{"optim.lr=-0.5", []string{"optim.lr", "-0.5"}},
		{"optim.momentum=1", []string{"optim.momentum", "[0, 1)"}},
		{"model.arch=resnet101", []string{"model.arch", `"resnet101"`, "resnet18, resnet34, resnet50"}},
		{"model.stem=tiny", []string{"model.stem", "cifar, imagenet"}},
		{"optim.name=adam", []string{"optim.name", "lars, sgd, adamw"}},
		{"optim.lr_scaling=log", []string{"optim.lr_scaling", "linear, sqrt, none"}},
		{"data.format=png", []string{"data.format", "synthetic", "cifar10", "folder"}},
		{"data.format=cifar10", []string{"data.path", "cifar10", "data.format"}},
		{"data.split=validation", []string{"data.split", "train, test"}},
		{"device=gpu", []string{"device", `"gpu"`, "cuda:N"}},
		{"train.precision=fp16", []string{"train.precision", `"fp16"`, "auto, fp32, tf32, bf16"}},
		{"train.precision=BF16", []string{"train.precision", `"BF16"`, "auto, fp32, tf32, bf16"}},
		{"device=cuda:x", []string{"device"}},
		{"model.head_layers=4", []string{"model.head_layers", "2 or 3"}},
		{"loss.fused=yes", []string{"loss.fused", `"yes"`, "auto, on, off"}},
		{"model.width=0", []string{"model.width", ">= 1"}},
		{"augment.mean=0.5,0.5", []string{"augment.mean", "1 or 3 values"}},
		{"augment.std=0,0,0", []string{"augment.std"}},
		{"optim.warmup_epochs=9", []string{"optim.warmup_epochs", "train.epochs (5)"}},
		{"data.cifar100_labels=medium", []string{"data.cifar100_labels", "fine, coarse"}},
		{"eval.knn_k=0", []string{"eval.knn_k", ">= 1"}},
		// The probe trains with sgd or adam only; lars/adamw used to pass
		// validation and then fail when the probe started.
		{"eval.probe_optim=lars", []string{"eval.probe_optim", "sgd, adam"}},
		{"eval.probe_optim=adamw", []string{"eval.probe_optim", "sgd, adam"}},
	}
	for _, tt := range tests {
		t.Run(tt.set, func(t *testing.T) {
			msg := loadErr(t, Sources{Sets: []string{tt.set}})
			assertContains(t, msg, append(tt.wants, "from --set "+tt.set)...)
		})
	}
	// A bad value from a file names the file and line; from the environment, the variable.
	msg := loadErr(t, Sources{File: "inline:seed: 1\nloss:\n  temperature: -1\n"})
	assertContains(t, msg, "loss.temperature", "bad.yaml:3", "-1", "> 0")
	msg = loadErr(t, Sources{Env: []string{"SIMCLR_TRAIN_BATCH_SIZE=1"}})
	assertContains(t, msg, "train.batch_size", "environment variable SIMCLR_TRAIN_BATCH_SIZE", ">= 2")

	// Every problem is reported at once.
	_, err := Load(Sources{Sets: []string{"train.epochs=0", "optim.lr=0"}})
	var ke *KeyError
	if !errors.As(err, &ke) {
		t.Fatalf("want *KeyError, got %T", err)
	}
	assertContains(t, err.Error(), "train.epochs", "optim.lr")
}

func TestFileErrors(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		wants []string
	}{
		{"not yaml", "data: [\n", []string{"parse config file", "bad.yaml"}},
		{"top-level list", "- 1\n- 2\n", []string{"bad.yaml:1", "top level must be a mapping"}},
		{"duplicate key", "train:\n  epochs: 1\n  epochs: 2\n", []string{"train.epochs", "twice", "lines 2 and 3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertContains(t, loadErr(t, Sources{File: "inline:" + tt.body}), tt.wants...)
		})
	}
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	assertContains(t, loadErr(t, Sources{File: missing}), "nope.yaml", "--config")
}

func TestKeys(t *testing.T) {
	keys := Keys()
	if !slices.IsSorted(keys) {
		t.Error("Keys() is not sorted")
	}
	if len(keys) != 70 {
		t.Errorf("len(Keys()) = %d, want 70 (update docs/config.md when adding keys)", len(keys))
	}
	for _, want := range []string{"train.precision", "seed", "device", "data.limit", "augment.crop_scale", "model.head_bn", "optim.eps", "eval.probe_augment", "model.sync_bn", "dist.backend", "dist.timeout", "dist.overlap", "loss.fused", "train.log_every", "train.recompute"} {
		if !slices.Contains(keys, want) {
			t.Errorf("Keys() lacks %q", want)
		}
	}
	env := map[string]string{}
	for _, k := range keys {
		if prev, dup := env[EnvVar(k)]; dup {
			t.Errorf("keys %s and %s share the environment variable %s", prev, k, EnvVar(k))
		}
		env[EnvVar(k)] = k
	}
	if EnvVar("data.limit") != "SIMCLR_DATA_LIMIT" {
		t.Errorf("EnvVar(data.limit) = %s", EnvVar("data.limit"))
	}
	doc, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatalf("docs/config.md: %v", err)
	}
	for _, k := range keys {
		if !strings.Contains(string(doc), "`"+k+"`") {
			t.Errorf("docs/config.md does not document `%s`", k)
		}
	}
	// Every default is reachable through Get and matches the struct.
	def := Default()
	if v, ok := def.Get("train.batch_size"); !ok || v.(int64) != 128 {
		t.Errorf("Get(train.batch_size) = %v, %v", v, ok)
	}
	if _, ok := def.Get("train"); ok {
		t.Error("Get(train) should not find a section")
	}
}

func TestYAMLRoundTrip(t *testing.T) {
	file := writeTemp(t, "base.yaml", "data:\n  format: cifar100\n  path: /data/c100\n  cifar100_labels: coarse\n")
	c := mustLoad(t, Sources{
		File: file,
		Env:  []string{"SIMCLR_DATA_LIMIT=321"},
		Sets: []string{"augment.mean=0.1,0.2,0.3", "augment.std=0.4,0.5,0.6", "optim.weight_decay=1e-5",
			"augment.crop_ratio=0.5,2", "seed=-42", "model.head_bn=true", "augment.hue=0.123456789"},
		Flags:     map[string]string{"train.epochs": "13", "optim.lr": "0.05"},
		FlagNames: map[string]string{"train.epochs": "--epochs", "optim.lr": "--lr"},
	})
	out, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range Keys() {
		leaf := lastPart(key) + ":"
		if !strings.Contains(string(out), leaf) {
			t.Errorf("YAML() lacks %s", key)
		}
	}
	assertContains(t, string(out), "from --epochs", "from environment variable SIMCLR_DATA_LIMIT", "base.yaml:2")

	path := filepath.Join(t.TempDir(), "resolved.yaml")
	if err := c.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	again := mustLoad(t, Sources{File: path})
	if !reflect.DeepEqual(values(again), values(c)) {
		t.Errorf("round trip changed the config:\n got %+v\nwant %+v", values(again), values(c))
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("WriteFile left extra files: %v", entries)
	}
	if err := c.WriteFile(filepath.Join(t.TempDir(), "missing-dir", "x.yaml")); err == nil ||
		!strings.Contains(err.Error(), "x.yaml") {
		t.Errorf("WriteFile into a missing directory: %v, want an error naming the file", err)
	}
}

func TestDataSpecAndAugmentConfig(t *testing.T) {
	c := mustLoad(t, Sources{Sets: []string{"data.limit=10", "seed=7", "data.image_size=40",
		"augment.blur_p=0.5", "data.eval_split=train"}})
	spec := c.DataSpec()
	if spec.Format != "synthetic" || spec.Limit != 10 || spec.Seed != 7 || spec.SyntheticImageSize != 40 ||
		spec.Split != "train" || spec.SyntheticSize != 2048 || spec.CIFAR100Labels != "fine" {
		t.Errorf("DataSpec() = %+v", spec)
	}
	if es := c.EvalDataSpec(); es.Split != "train" || es.Limit != 10 {
		t.Errorf("EvalDataSpec() = %+v", es)
	}
	ac := c.AugmentConfig(3)
	if ac.Size != 40 || ac.Channels != 3 || ac.BlurP != 0.5 || ac.Strength != 0.5 ||
		!slices.Equal(ac.Mean, []float64{0.485, 0.456, 0.406}) {
		t.Errorf("AugmentConfig(3) = %+v", ac)
	}
	if err := ac.Validate(); err != nil {
		t.Errorf("AugmentConfig(3) does not validate: %v", err)
	}
}

func TestNormalizationDefaults(t *testing.T) {
	tests := []struct {
		format, path string
		channels     int
		wantMean     []float64
		wantStd      []float64
	}{
		{"cifar10", "/d", 3, []float64{0.4914, 0.4822, 0.4465}, []float64{0.2470, 0.2435, 0.2616}},
		{"cifar100", "/d", 3, []float64{0.4914, 0.4822, 0.4465}, []float64{0.2470, 0.2435, 0.2616}},
		{"stl10", "/d", 3, []float64{0.485, 0.456, 0.406}, []float64{0.229, 0.224, 0.225}},
		{"folder", "/d", 3, []float64{0.485, 0.456, 0.406}, []float64{0.229, 0.224, 0.225}},
		{"synthetic", "", 3, []float64{0.485, 0.456, 0.406}, []float64{0.229, 0.224, 0.225}},
		{"fashion-mnist", "/x", 1, []float64{0.2860}, []float64{0.3530}},
		{"mnist", "/x", 1, []float64{0.1307}, []float64{0.3081}},
		{"idx", "/usr/share/datasets/fashion-mnist", 1, []float64{0.2860}, []float64{0.3530}},
		{"idx", "/data/MNIST/", 1, []float64{0.1307}, []float64{0.3081}},
		{"idx", "/data/letters", 1, []float64{0.5}, []float64{0.5}},
		{"folder", "/gray", 1, []float64{0.5}, []float64{0.5}},
		{"fashion-mnist", "/x", 3, []float64{0.485, 0.456, 0.406}, []float64{0.229, 0.224, 0.225}},
	}
	for _, tt := range tests {
		mean, std := NormalizationDefaults(tt.format, tt.path, tt.channels)
		if !slices.Equal(mean, tt.wantMean) || !slices.Equal(std, tt.wantStd) {
			t.Errorf("NormalizationDefaults(%s, %s, %d) = %v/%v, want %v/%v",
				tt.format, tt.path, tt.channels, mean, std, tt.wantMean, tt.wantStd)
		}
	}
	// An explicit mean/std wins and must match the data set's channels.
	c := mustLoad(t, Sources{Sets: []string{"augment.mean=0.3", "augment.std=0.2"}})
	if m, s := c.Normalization(1); !slices.Equal(m, []float64{0.3}) || !slices.Equal(s, []float64{0.2}) {
		t.Errorf("Normalization(1) = %v/%v", m, s)
	}
	if err := c.ValidateChannels(1); err != nil {
		t.Errorf("ValidateChannels(1): %v", err)
	}
	err := c.ValidateChannels(3)
	if err == nil {
		t.Fatal("ValidateChannels(3) accepted a 1-value mean")
	}
	assertContains(t, err.Error(), "augment.mean", "--set augment.mean=0.3", "3 channel")
}

func TestSuggestKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"data.limt", `"data.limit"`},
		{"train.lr", `"optim.lr"`},
		{"batchsize", `"train.batch_size"`},
		{"optim.weightdecay", `"optim.weight_decay"`},
		{"agument", `"augment"`},
		{"completely.unrelated.thing", ""},
	}
	for _, tt := range tests {
		if got := suggestKey(tt.in); got != tt.want {
			t.Errorf("suggestKey(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestPartsFromConfig checks the conversions of bridge.go: each key lands in
// the setting it names.
func TestPartsFromConfig(t *testing.T) {
	c := mustLoad(t, Sources{Sets: []string{"model.arch=resnet34", "model.stem=imagenet", "model.width=8",
		"model.head_layers=3", "model.head_hidden=32", "model.head_out=24", "model.head_bn=true",
		"eval.probe_epochs=7", "eval.probe_lr=0.3", "eval.probe_weight_decay=0.01", "eval.probe_batch_size=48", "seed=5"}})
	mc := c.ModelConfig(1)
	want := model.Config{Arch: "resnet34", Stem: "imagenet", Width: 8, InChannels: 1, HeadLayers: 3, HeadHidden: 32, HeadOut: 24, HeadBN: true}
	if mc != want {
		t.Errorf("ModelConfig(1) = %+v, want %+v", mc, want)
	}
	po := c.ProbeOptions(10)
	if po.Classes != 10 || po.Epochs != 7 || po.LR != 0.3 || po.WeightDecay != 0.01 || po.BatchSize != 48 ||
		po.Seed != 5 || po.Optimizer != "sgd" || po.Momentum != 0.9 || po.Schedule != "cosine" {
		t.Errorf("ProbeOptions(10) = %+v", po)
	}
	if po := mustLoad(t, Sources{Sets: []string{"eval.probe_optim=adam"}}).ProbeOptions(3); po.Optimizer != "adam" {
		t.Errorf("eval.probe_optim=adam: probe optimizer %q", po.Optimizer)
	}
	pa := c.ProbeAugmentConfig(24, 1, []float64{0.1}, []float64{0.2})
	if pa.Size != 24 || pa.Channels != 1 || pa.FlipP != 0.5 || pa.CropScale != [2]float64{0.08, 1} ||
		pa.JitterP != 0 || pa.GrayP != 0 || pa.BlurP != 0 || pa.SolarizeP != 0 ||
		!slices.Equal(pa.Mean, []float64{0.1}) || !slices.Equal(pa.Std, []float64{0.2}) {
		t.Errorf("ProbeAugmentConfig = %+v, want crop and flip only with the given size and statistics", pa)
	}
	if err := pa.Validate(); err != nil {
		t.Errorf("ProbeAugmentConfig does not validate: %v", err)
	}

	b := cpu.New()
	w, err := b.New(2, 2)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := b.New(2, 2)
	params := []*model.Param{{Name: "w", Value: w, Grad: g}}
	tests := []struct {
		name string
		want string // the optimizer's Go type
	}{
		{"sgd", "*optim.SGD"},
		{"lars", "*optim.LARS"},
		{"adamw", "*optim.AdamW"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, Sources{Sets: []string{"optim.name=" + tt.name}})
			opt, err := c.NewOptimizer(b, params)
			if err != nil {
				t.Fatal(err)
			}
			if got := reflect.TypeOf(opt).String(); got != tt.want {
				t.Errorf("NewOptimizer with optim.name=%s built %s, want %s", tt.name, got, tt.want)
			}
		})
	}
}

// TestFormatChannels: every format but folder implies its channel count,
// and the synthetic set, the one that opens without files, agrees.
func TestFormatChannels(t *testing.T) {
	tests := []struct {
		format string
		want   int
		known  bool
	}{
		{"cifar10", 3, true}, {"cifar100", 3, true}, {"stl10", 3, true}, {"synthetic", 3, true},
		{"idx", 1, true}, {"mnist", 1, true}, {"fashion-mnist", 1, true}, {"folder", 0, false},
	}
	if len(tests) != len(data.Formats()) {
		t.Fatalf("the table covers %d formats, data.Formats() has %d", len(tests), len(data.Formats()))
	}
	for _, tt := range tests {
		c := mustLoad(t, Sources{Sets: []string{"data.format=" + tt.format, "data.path=/nowhere"}})
		if got, known := c.FormatChannels(); got != tt.want || known != tt.known {
			t.Errorf("FormatChannels() for %s = %d, %v; want %d, %v", tt.format, got, known, tt.want, tt.known)
		}
	}
	c := mustLoad(t, Sources{Sets: []string{"data.synthetic_size=8"}})
	ds, err := data.Open(c.DataSpec())
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close(ds)
	if got, _ := c.FormatChannels(); got != ds.Channels() {
		t.Errorf("FormatChannels() = %d, the synthetic data set has %d", got, ds.Channels())
	}
}

// TestExplicit: a key is explicit when any source but the defaults set it,
// even to the default value.
func TestExplicit(t *testing.T) {
	file := writeTemp(t, "run.yaml", "model:\n  width: 16\n")
	tests := []struct {
		name string
		src  Sources
		want bool
	}{
		{"default", Sources{}, false},
		{"file, default value", Sources{File: file}, true},
		{"environment", Sources{Env: []string{"SIMCLR_MODEL_WIDTH=8"}}, true},
		{"--set", Sources{Sets: []string{"model.width=8"}}, true},
		{"flag", Sources{Flags: map[string]string{"model.width": "8"}}, true},
		{"another key set", Sources{Sets: []string{"model.arch=resnet34"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustLoad(t, tt.src).Explicit("model.width"); got != tt.want {
				t.Errorf("Explicit(model.width) = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRuntimeEnvIsNotConfig checks that the runtime switches documented in
// docs/cuda.md load without an unknown-key error, change nothing, and never
// shadow a configuration key's variable; a misspelt one is still rejected.
func TestRuntimeEnvIsNotConfig(t *testing.T) {
	keyVars := make(map[string]string)
	for _, k := range Keys() {
		keyVars[EnvVar(k)] = k
	}
	for _, name := range RuntimeEnv {
		if !strings.HasPrefix(name, envPrefix) {
			t.Errorf("runtime switch %s lacks the %s prefix; only SIMCLR_* variables need listing", name, envPrefix)
		}
		if k, ok := keyVars[name]; ok {
			t.Errorf("runtime switch %s is also the variable of configuration key %s", name, k)
		}
		c, err := Load(Sources{Env: []string{name + "=1"}})
		if err != nil {
			t.Errorf("%s=1: %v", name, err)
			continue
		}
		def := Default()
		for _, k := range Keys() {
			got, _ := c.Get(k)
			want, _ := def.Get(k)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s=1 changed %s from %v to %v", name, k, want, got)
			}
		}
	}
	msg := loadErr(t, Sources{Env: []string{"SIMCLR_CUDA_SYNK=1"}})
	assertContains(t, msg, "SIMCLR_CUDA_SYNK", "SIMCLR_CUDA_SYNC")
}

// TestMatmulPrecision: train.precision defaults to auto, which is bf16 on
// a GPU backend and fp32 on the CPU; an explicit format is the same on
// both; every accepted value loads from a flag.
func TestMatmulPrecision(t *testing.T) {
	if got := Default().Train.Precision; got != PrecisionAuto {
		t.Fatalf("default train.precision %q, want auto", got)
	}
	tests := []struct {
		set      string
		cpu, gpu backend.Precision
		auto     bool
	}{
		{"", backend.FP32, backend.BF16, true},
		{"auto", backend.FP32, backend.BF16, true},
		{"fp32", backend.FP32, backend.FP32, false},
		{"tf32", backend.TF32, backend.TF32, false},
		{"bf16", backend.BF16, backend.BF16, false},
	}
	for _, tt := range tests {
		t.Run(tt.set, func(t *testing.T) {
			src := Sources{}
			if tt.set != "" {
				src.Flags = map[string]string{"train.precision": tt.set}
				src.FlagNames = map[string]string{"train.precision": "--precision"}
			}
			c := mustLoad(t, src)
			for _, side := range []struct {
				gpu  bool
				want backend.Precision
			}{{false, tt.cpu}, {true, tt.gpu}} {
				p, auto, err := c.MatmulPrecision(side.gpu)
				if err != nil || p != side.want || auto != tt.auto {
					t.Errorf("gpu=%v: MatmulPrecision = %v, auto %v, %v; want %v, auto %v", side.gpu, p, auto, err, side.want, tt.auto)
				}
			}
		})
	}
	c := Default()
	c.Train.Precision = "fp8"
	if _, _, err := c.MatmulPrecision(false); err == nil || !strings.Contains(err.Error(), "auto, fp32, tf32, bf16") {
		t.Fatalf("MatmulPrecision of fp8: %v, want an error naming the accepted values", err)
	}
}
