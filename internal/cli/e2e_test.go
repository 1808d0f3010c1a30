package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"simclr/internal/config"
	"simclr/internal/export"
	"simclr/internal/train"
)

// tiny is a run small enough for a test: a width-4 ResNet-18 on 16-px
// synthetic images.
var tiny = []string{
	"--set", "data.synthetic_size=96", "--set", "data.image_size=16", "--set", "model.width=4",
	"--set", "model.head_out=16", "--batch-size", "32", "--epochs", "2", "--set", "optim.name=adamw",
	"--lr", "0.003", "--set", "optim.lr_scaling=none", "--set", "optim.warmup_epochs=0",
	"--set", "eval.probe_epochs=5", "--set", "eval.probe_batch_size=32",
}

func withTiny(args ...string) []string { return append(args, tiny...) }

// TestTrainEvalExportFromTheCommandLine runs the three jobs the way a user
// does and checks every file they promise.
func TestTrainEvalExportFromTheCommandLine(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end training")
	}
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	r := invoke(t, nil, withTiny("pretrain", "--out", run, "--seed", "3")...)
	if r.code != 0 {
		t.Fatalf("pretrain: %v", r)
	}
	for _, want := range []string{"pretrained 2 epochs (6 steps)", "simclr linear-eval --config " + filepath.Join(run, "config.yaml"), "simclr export-embeddings"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("pretrain summary lacks %q:\n%s", want, r.stdout)
		}
	}
	saved, err := config.Load(config.Sources{File: filepath.Join(run, "config.yaml")})
	if err != nil {
		t.Fatalf("the run's config.yaml does not load: %v", err)
	}
	if saved.Seed != 3 || saved.Model.Width != 4 {
		t.Errorf("config.yaml holds seed %d width %d", saved.Seed, saved.Model.Width)
	}
	enc := filepath.Join(run, train.EncoderFile)

	r = invoke(t, nil, withTiny("linear-eval", "--checkpoint", enc, "--knn")...)
	if r.code != 0 {
		t.Fatalf("linear-eval: %v", r)
	}
	for _, want := range []string{"top-1 ", "top-5 ", "kNN top-1", "confusion matrix", "per-class accuracy"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("linear-eval output lacks %q:\n%s", want, r.stdout)
		}
	}
	if _, err := os.Stat(filepath.Join(run, "eval.json")); err != nil {
		t.Errorf("eval.json: %v", err)
	}
	r = invoke(t, nil, withTiny("linear-eval", "--random-init", "--out", filepath.Join(dir, "random.json"))...)
	if r.code != 0 || !strings.Contains(r.stdout, "random-init resnet18 (baseline)") {
		t.Fatalf("linear-eval --random-init: %v", r)
	}

	npy := filepath.Join(dir, "emb.npy")
	r = invoke(t, nil, withTiny("export-embeddings", "--checkpoint", enc, "--out", npy, "--set", "data.split=test")...)
	if r.code != 0 {
		t.Fatalf("export: %v", r)
	}
	_, shape, err := export.ReadNPYFloat32(npy)
	if err != nil || len(shape) != 2 || shape[0] != 24 || shape[1] != 32 {
		t.Fatalf("emb.npy shape %v err %v, want [24 32]", shape, err)
	}
	if _, err := config.Load(config.Sources{File: filepath.Join(dir, "emb.config.yaml")}); err != nil {
		t.Errorf("export's emb.config.yaml: %v", err)
	}
	ids, err := os.ReadFile(filepath.Join(dir, "emb.ids.txt"))
	if err != nil || strings.Count(string(ids), "\n") != 24 {
		t.Fatalf("emb.ids.txt: %v %q", err, ids)
	}
	proj := filepath.Join(dir, "proj.csv")
	r = invoke(t, nil, withTiny("export-embeddings", "--checkpoint", enc, "--out", proj, "--layer", "projection")...)
	if r.code != 0 {
		t.Fatalf("export --layer projection: %v", r)
	}
	csv, _ := os.ReadFile(proj)
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	if len(lines) != 97 || !strings.HasSuffix(lines[0], "embedding_15,labels") {
		t.Fatalf("proj.csv: %d lines, header %q", len(lines), lines[0])
	}

	// Without model flags the head's shape comes from the checkpoint's
	// recorded configuration (head_out 16), not the defaults (64).
	proj2 := filepath.Join(dir, "proj2.npy")
	r = invoke(t, nil, "export-embeddings", "--checkpoint", enc, "--out", proj2, "--layer", "projection",
		"--set", "data.synthetic_size=96", "--set", "data.image_size=16")
	if r.code != 0 || !strings.Contains(r.stdout, "of dimension 16 (projection layer)") {
		t.Fatalf("export --layer projection with default model keys: %v", r)
	}

	// Bad input: each a clear error, a non-zero exit and no output file.
	trunc := filepath.Join(dir, "trunc.safetensors")
	data, _ := os.ReadFile(enc)
	os.WriteFile(trunc, data[:len(data)/2], 0o644)
	wide := filepath.Join(dir, "wide")
	if r := invoke(t, nil, append(withTiny("pretrain", "--out", wide), "--set", "model.width=8", "--epochs", "1")...); r.code != 0 {
		t.Fatalf("pretrain width 8: %v", r)
	}
	// An encoder of width 4 beside the training checkpoint of width 8.
	mixed := filepath.Join(dir, "mixed")
	os.MkdirAll(mixed, 0o755)
	mixedEncoder := filepath.Join(mixed, train.EncoderFile)
	os.WriteFile(mixedEncoder, data, 0o644)
	full, _ := os.ReadFile(filepath.Join(wide, train.CheckpointFile))
	os.WriteFile(filepath.Join(mixed, train.CheckpointFile), full, 0o644)
	gray := writeIDX(t, filepath.Join(dir, "gray"), 40, 16)
	cases := []struct {
		name  string
		args  []string
		wants []string
	}{
		{"missing checkpoint", withTiny("linear-eval", "--checkpoint", filepath.Join(dir, "nope.safetensors")), []string{"nope.safetensors"}},
		{"truncated checkpoint", withTiny("linear-eval", "--checkpoint", trunc), []string{"trunc.safetensors"}},
		{"head of another architecture", withTiny("export-embeddings", "--checkpoint", mixedEncoder, "--out", filepath.Join(dir, "x.npy"), "--layer", "projection"), []string{"conv1.weight", "shape"}},
		{"resume with another width", append(withTiny("pretrain", "--resume", run), "--set", "model.width=8"), []string{"conv1.weight"}},
		{"output directory missing", withTiny("export-embeddings", "--checkpoint", enc, "--out", filepath.Join(dir, "no", "x.npy")), []string{"does not exist"}},
		{"wrong channel count", withTiny("linear-eval", "--checkpoint", enc, "--data-format", "idx", "--data-path", gray), []string{"1 channels"}},
		{"resume without a run", withTiny("pretrain", "--resume", filepath.Join(dir, "empty")), []string{"--resume"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := invoke(t, nil, tc.args...)
			assertError(t, r, ExitError, tc.wants...)
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "x.npy")); err == nil {
		t.Error("a failed export left x.npy behind")
	}
	r = invoke(t, nil, withTiny("export-embeddings", "--checkpoint", enc, "--out", filepath.Join(dir, "y.npy"), "--layer", "pixels")...)
	assertError(t, r, ExitUsage, "--layer", "backbone, projection")
}

// writeIDX writes a tiny MNIST-style data set (n images of side px, plain
// IDX files) for train and test into dir and returns dir.
func writeIDX(t *testing.T, dir string, n, px int) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	be := func(v int) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }
	for _, prefix := range []string{"train", "t10k"} {
		img := append([]byte{0, 0, 8, 3}, be(n)...)
		img = append(img, be(px)...)
		img = append(img, be(px)...)
		lbl := append([]byte{0, 0, 8, 1}, be(n)...)
		for i := 0; i < n; i++ {
			for p := 0; p < px*px; p++ {
				img = append(img, byte((i*7+p*3)%256))
			}
			lbl = append(lbl, byte(i%10))
		}
		if err := os.WriteFile(filepath.Join(dir, prefix+"-images-idx3-ubyte"), img, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, prefix+"-labels-idx1-ubyte"), lbl, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
