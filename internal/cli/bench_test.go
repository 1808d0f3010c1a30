package cli

import (
	"encoding/json"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"simclr/internal/bench"
)

// writeImageFolder writes one grayscale PNG of side px into dir/<class>/
// and returns dir.
func writeImageFolder(t *testing.T, dir string, px int) string {
	t.Helper()
	class := filepath.Join(dir, "dots")
	if err := os.MkdirAll(class, 0o755); err != nil {
		t.Fatal(err)
	}
	img := image.NewGray(image.Rect(0, 0, px, px))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 13)
	}
	f, err := os.Create(filepath.Join(class, "a.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBenchChannelsWithoutData: bench takes the channel count from
// data.format, so a recipe whose data is not on disk still benchmarks; only
// an image folder is opened (and a missing one is an error naming
// --channels).
func TestBenchChannelsWithoutData(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "not-downloaded")
	folder := writeImageFolder(t, t.TempDir(), 12)
	small := []string{"--set", "model.width=2", "--set", "data.image_size=8", "--set", "train.batch_size=2",
		"--set", "model.head_out=8", "--steps", "1", "--warmup", "0", "--json"}
	tests := []struct {
		name         string
		args         []string
		wantChannels int
		wantErr      string
	}{
		{"cifar10 recipe, no data on disk", []string{"--config", "../../configs/cifar10.yaml", "--data-path", missing}, 3, ""},
		{"cifar100", []string{"--data-format", "cifar100", "--data-path", missing}, 3, ""},
		{"stl10", []string{"--data-format", "stl10", "--data-path", missing}, 3, ""},
		{"idx", []string{"--data-format", "idx", "--data-path", missing}, 1, ""},
		{"fashion-mnist recipe", []string{"--config", "../../configs/fashion-mnist.yaml", "--data-path", missing}, 1, ""},
		{"synthetic", nil, 3, ""},
		{"folder is opened", []string{"--data-format", "folder", "--data-path", folder}, 3, ""},
		{"missing folder", []string{"--data-format", "folder", "--data-path", missing}, 0, "--channels"},
		{"--channels wins", []string{"--data-format", "folder", "--data-path", missing, "--channels", "1"}, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := invoke(t, nil, append(append([]string{"bench"}, tt.args...), small...)...)
			if tt.wantErr != "" {
				assertError(t, r, ExitError, tt.wantErr, "not-downloaded")
				return
			}
			if r.code != 0 {
				t.Fatalf("%v", r)
			}
			var res bench.Result
			if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
				t.Fatalf("bench --json output: %v\n%s", err, r.stdout)
			}
			if res.Channels != tt.wantChannels {
				t.Errorf("benchmarked %d channels, want %d", res.Channels, tt.wantChannels)
			}
		})
	}
}

// TestBenchCPUProfile: --cpuprofile writes a gzip-compressed pprof profile
// of the timed steps, and a file that cannot be created is an error naming
// the flag.
func TestBenchCPUProfile(t *testing.T) {
	small := []string{"bench", "--set", "model.width=2", "--set", "data.image_size=8", "--set", "train.batch_size=2",
		"--set", "model.head_out=8", "--steps", "2", "--warmup", "1", "--json"}
	path := filepath.Join(t.TempDir(), "cpu.prof")
	r := invoke(t, nil, append(small, "--cpuprofile", path)...)
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("--cpuprofile wrote %d bytes that are not a gzip pprof profile", len(b))
	}
	bad := filepath.Join(t.TempDir(), "no-such-dir", "cpu.prof")
	r = invoke(t, nil, append(small, "--cpuprofile", bad)...)
	assertError(t, r, ExitError, "--cpuprofile", "no-such-dir")
}
