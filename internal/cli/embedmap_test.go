package cli

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"simclr/internal/train"
)

// TestExportMap runs export-embeddings --map on the synthetic data set: the
// map is a PNG of the map's size plus one legend column (ten classes), the
// command says where it is, and bad --map values are clear errors that
// leave no file.
func TestExportMap(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end training")
	}
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	if r := invoke(t, nil, append(withTiny("pretrain", "--out", run), "--epochs", "1")...); r.code != 0 {
		t.Fatalf("pretrain: %v", r)
	}
	enc := filepath.Join(run, train.EncoderFile)

	mapPath := filepath.Join(dir, "map.png")
	r := invoke(t, nil, withTiny("export-embeddings", "--checkpoint", enc, "--out", filepath.Join(dir, "emb.npy"), "--map", mapPath, "--set", "data.split=test")...)
	if r.code != 0 {
		t.Fatalf("export --map: %v", r)
	}
	if !strings.Contains(r.stdout, "wrote their PCA map to "+mapPath) {
		t.Errorf("export output does not name the map:\n%s", r.stdout)
	}
	f, err := os.Open(mapPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", mapPath, err)
	}
	if b := img.Bounds(); b.Dx() != 672+168 || b.Dy() != 672 {
		t.Errorf("map is %dx%d, want 840x672 (the map and one legend column)", b.Dx(), b.Dy())
	}

	r = invoke(t, nil, "export-embeddings", "--dry-run", "--out", filepath.Join(dir, "d.npy"), "--map", filepath.Join(dir, "d.png"))
	if r.code != 0 || !strings.Contains(r.stdout, "map: PCA of the embeddings to "+filepath.Join(dir, "d.png")) {
		t.Errorf("dry run with --map: %v", r)
	}
	cases := []struct {
		name  string
		mapTo string
		extra []string
		code  int
		wants []string
	}{
		{"not a png", filepath.Join(dir, "x.jpg"), nil, ExitUsage, []string{"--map", ".png"}},
		{"missing directory", filepath.Join(dir, "no", "x.png"), nil, ExitError, []string{"--map", "does not exist"}},
		{"one image cannot be mapped", filepath.Join(dir, "x.png"), []string{"--set", "data.limit=1"}, ExitError, []string{"x.png", "at least 2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := withTiny("export-embeddings", "--checkpoint", enc, "--out", filepath.Join(dir, "x.npy"), "--map", tc.mapTo)
			r := invoke(t, nil, append(args, tc.extra...)...)
			assertError(t, r, tc.code, tc.wants...)
		})
	}
	for _, name := range []string{"x.npy", "x.labels.npy", "x.ids.txt", "x.png", "x.config.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			t.Errorf("a failed export --map left %s behind", name)
		}
	}
}
