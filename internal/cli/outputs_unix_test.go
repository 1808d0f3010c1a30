//go:build unix

package cli

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"simclr/internal/train"
)

// TestOutputModesFollowUmask runs pretrain, linear-eval and export-embeddings under
// umask 022 and checks that every file they write has mode 0644, as any
// other tool's output would: none is 0600 (os.CreateTemp's mode), so other
// users and containers can read them.
func TestOutputModesFollowUmask(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end training")
	}
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)

	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	r := invoke(t, nil, append(withTiny("pretrain", "--out", run), "--epochs", "1", "--set", "eval.knn_every=1")...)
	if r.code != 0 {
		t.Fatalf("pretrain: %v", r)
	}
	enc := filepath.Join(run, train.EncoderFile)
	if r := invoke(t, nil, withTiny("linear-eval", "--checkpoint", enc)...); r.code != 0 {
		t.Fatalf("linear-eval: %v", r)
	}
	exp := filepath.Join(dir, "export")
	if err := os.Mkdir(exp, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{"emb.npy", "emb.csv"} {
		args := withTiny("export-embeddings", "--checkpoint", enc, "--out", filepath.Join(exp, out), "--map", filepath.Join(exp, out+".png"))
		if r := invoke(t, nil, args...); r.code != 0 {
			t.Fatalf("export %s: %v", out, r)
		}
	}

	for _, tc := range []struct {
		dir  string
		want []string
	}{
		{run, []string{"checkpoint.safetensors", "config.yaml", "encoder.safetensors", "eval.json", "loss.png", "metrics.csv"}},
		{exp, []string{"emb.config.yaml", "emb.csv", "emb.csv.png", "emb.ids.txt", "emb.labels.npy", "emb.npy", "emb.npy.png"}},
	} {
		entries, err := os.ReadDir(tc.dir)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range entries {
			got = append(got, e.Name())
			info, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			if mode := info.Mode(); mode != fs.FileMode(0o644) {
				t.Errorf("%s: mode %v, want -rw-r--r-- (0666 less the umask 022)", filepath.Join(tc.dir, e.Name()), mode)
			}
		}
		sort.Strings(got)
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%s holds %v, want exactly %v", tc.dir, got, tc.want)
		}
	}
}
