package embedmap

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"simclr/internal/export"
)

var _ export.Writer = (*Collector)(nil)

// clusters is n points in dim dimensions around k well-separated centres,
// labelled by their centre (or Unlabelled when unlabelled is true).
func clusters(n, dim, k int, unlabelled bool) ([]float32, []int64) {
	r := rand.New(rand.NewPCG(1, uint64(k)))
	centres := make([][]float64, k)
	for c := range centres {
		centres[c] = make([]float64, dim)
		for j := range centres[c] {
			centres[c][j] = 10 * r.NormFloat64()
		}
	}
	var x []float32
	var labels []int64
	for i := range n {
		c := i % k
		for j := range dim {
			x = append(x, float32(centres[c][j]+r.NormFloat64()))
		}
		if unlabelled {
			labels = append(labels, Unlabelled)
		} else {
			labels = append(labels, int64(c))
		}
	}
	return x, labels
}

func decode(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", path, err)
	}
	return img
}

// hasColour reports whether some pixel of img in the x range [x0, x1) is
// exactly c.
func hasColour(img image.Image, c color.NRGBA, x0, x1 int) bool {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := max(x0, b.Min.X); x < min(x1, b.Max.X); x++ {
			if color.NRGBAModel.Convert(img.At(x, y)) == c {
				return true
			}
		}
	}
	return false
}

// TestWriteMap: the PNG decodes, is 672 pixels square plus 168 per legend
// column (30 classes a column), and shows the class colours in the map
// area; unlabelled data get one colour and no legend.
func TestWriteMap(t *testing.T) {
	names := []string{"circle", "square", "triangle", "a class name longer than twenty runes"}
	cases := []struct {
		name        string
		n, k        int
		unlabelled  bool
		classes     []string
		wantW       int
		wantColours []color.NRGBA // exact colours that must appear in the map area
	}{
		{"unlabelled", 300, 1, true, nil, 672, []color.NRGBA{tab10[0]}},
		{"4 named classes", 400, 4, false, names, 672 + 168, tab10[:4]},
		{"10 classes without names", 1000, 10, false, nil, 672 + 168, tab10},
		{"100 classes", 3000, 100, false, nil, 672 + 4*168, []color.NRGBA{newPalette(100).color(0), newPalette(100).color(99)}},
	}
	dir := t.TempDir()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x, labels := clusters(tc.n, 16, tc.k, tc.unlabelled)
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".png")
			if err := Write(path, x, 16, labels, Options{Classes: tc.classes, Subtitle: "test/" + tc.name}); err != nil {
				t.Fatal(err)
			}
			img := decode(t, path)
			if b := img.Bounds(); b.Dx() != tc.wantW || b.Dy() != 672 {
				t.Fatalf("image is %dx%d, want %dx672", b.Dx(), b.Dy(), tc.wantW)
			}
			for _, c := range tc.wantColours {
				if !hasColour(img, c, 0, 672) {
					t.Errorf("no point of colour %v in the map", c)
				}
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != len(cases) {
		t.Fatalf("directory holds %d entries, want the %d maps and no temporary file", len(entries), len(cases))
	}
}

// TestMixedLabelsGreyUnlabelled: unlabelled points among labelled ones
// are grey, the labelled ones keep their class colours.
func TestMixedLabelsGreyUnlabelled(t *testing.T) {
	x, labels := clusters(600, 8, 3, false)
	for i := range labels {
		if i%2 == 0 {
			labels[i] = Unlabelled
		}
	}
	path := filepath.Join(t.TempDir(), "mixed.png")
	if err := Write(path, x, 8, labels, Options{}); err != nil {
		t.Fatal(err)
	}
	img := decode(t, path)
	for _, c := range []color.NRGBA{unlabelledGrey, tab10[0], tab10[1], tab10[2]} {
		if !hasColour(img, c, 0, 672) {
			t.Errorf("no point of colour %v in the map", c)
		}
	}
}

// TestCollector: rows written in batches make the same map as one Write;
// Abort writes nothing; errors name the problem.
func TestCollector(t *testing.T) {
	dir := t.TempDir()
	x, labels := clusters(200, 8, 4, false)
	whole := filepath.Join(dir, "whole.png")
	if err := Write(whole, x, 8, labels, Options{}); err != nil {
		t.Fatal(err)
	}
	batched := filepath.Join(dir, "batched.png")
	c, err := NewCollector(batched, 8, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for start := 0; start < 200; start += 64 {
		end := min(start+64, 200)
		ids := make([]string, end-start)
		for i := range ids {
			ids[i] = fmt.Sprint(start + i)
		}
		if err := c.Write(ids, x[start*8:end*8], labels[start:end]); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c.Abort() // after Close: nothing happens
	a, _ := os.ReadFile(whole)
	b, _ := os.ReadFile(batched)
	if len(a) == 0 || string(a) != string(b) {
		t.Fatalf("the batched map (%d bytes) differs from the whole one (%d bytes)", len(b), len(a))
	}
	if err := c.Write([]string{"x"}, make([]float32, 8), []int64{0}); !errors.Is(err, errClosed) {
		t.Errorf("Write after Close: err = %v, want errClosed", err)
	}

	aborted := filepath.Join(dir, "aborted.png")
	c, _ = NewCollector(aborted, 8, Options{})
	c.Write([]string{"0", "1"}, x[:16], labels[:2])
	c.Abort()
	if _, err := os.Stat(aborted); err == nil {
		t.Error("an aborted collector wrote its map")
	}

	bad := []struct {
		name string
		run  func() error
		want string
	}{
		{"1-D embeddings", func() error { _, err := NewCollector(aborted, 1, Options{}); return err }, "at least 2 dimensions"},
		{"no path", func() error { _, err := NewCollector("", 8, Options{}); return err }, "map.png"},
		{"ragged batch", func() error {
			c, _ := NewCollector(aborted, 8, Options{})
			return c.Write([]string{"0"}, x[:7], labels[:1])
		}, "dimension 8"},
		{"one embedding", func() error {
			c, _ := NewCollector(aborted, 8, Options{})
			c.Write([]string{"0"}, x[:8], labels[:1])
			return c.Close()
		}, "at least 2"},
		{"missing directory", func() error {
			return Write(filepath.Join(dir, "no", "map.png"), x, 8, labels, Options{})
		}, "does the directory exist"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := os.Stat(aborted); err == nil {
		t.Error("a failed map left a file")
	}
}
