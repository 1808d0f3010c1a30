package data

import (
	"image"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func checkGray(t *testing.T, img image.Image, i, w, h int) {
	t.Helper()
	g, ok := img.(*image.Gray)
	if !ok {
		t.Fatalf("image %d is %T, want *image.Gray", i, img)
	}
	if g.Bounds() != image.Rect(0, 0, w, h) {
		t.Fatalf("bounds %v, want %dx%d", g.Bounds(), w, h)
	}
	for _, p := range [][2]int{{0, 0}, {w - 1, 0}, {0, h - 1}, {w - 1, h - 1}, {2, 1}} {
		if got, want := g.GrayAt(p[0], p[1]).Y, pix(i, 0, p[0], p[1]); got != want {
			t.Errorf("image %d pixel %v = %d, want %d", i, p, got, want)
		}
	}
}

func TestIDXPlainAndGzip(t *testing.T) {
	labels := []byte{3, 1, 4, 1, 5, 9}
	tests := []struct {
		name    string
		gzipped bool
		format  string
		classes []string
	}{
		{"plain idx", false, "idx", numberNames(10)},
		{"gzip mnist", true, "mnist", numberNames(10)},
		{"gzip fashion", true, "fashion-mnist", fashionNames},
		{"plain fashion", false, "fashion-mnist", fashionNames},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			imgs, lbls := idxImages(len(labels), 5, 7), idxLabels(labels)
			suffix := ""
			if tc.gzipped {
				imgs, lbls, suffix = gz(t, imgs), gz(t, lbls), ".gz"
			}
			writeFile(t, filepath.Join(dir, "t10k-images-idx3-ubyte"+suffix), imgs)
			writeFile(t, filepath.Join(dir, "t10k-labels-idx1-ubyte"+suffix), lbls)
			ds := mustOpen(t, Spec{Format: tc.format, Path: dir, Split: "test"})
			if ds.Len() != 6 || ds.Channels() != 1 || ds.Name() != tc.format+"/test" {
				t.Fatalf("%s: len %d channels %d", ds.Name(), ds.Len(), ds.Channels())
			}
			if w, h := ds.NativeSize(); w != 7 || h != 5 {
				t.Errorf("native size %dx%d, want 7x5", w, h)
			}
			if !slices.Equal(ds.Classes(), tc.classes) {
				t.Errorf("classes %v, want %v", ds.Classes(), tc.classes)
			}
			for i, l := range labels {
				if ds.Label(i) != int(l) {
					t.Errorf("label %d = %d, want %d", i, ds.Label(i), l)
				}
			}
			for _, i := range []int{0, 5} {
				img, err := ds.Image(i)
				if err != nil {
					t.Fatal(err)
				}
				checkGray(t, img, i, 7, 5)
			}
		})
	}
}

func TestIDXErrors(t *testing.T) {
	good := idxImages(4, 3, 3)
	labels := idxLabels([]byte{0, 1, 2, 3})
	truncGz := gz(t, good)
	truncGz = truncGz[:len(truncGz)-12]
	badMagic := slices.Clone(good)
	badMagic[3] = 0x01
	tests := []struct {
		name     string
		imgName  string
		img, lbl []byte
		format   string
		want     []string
	}{
		{"bad image magic", "train-images-idx3-ubyte", badMagic, labels, "idx", []string{"train-images-idx3-ubyte", "bad magic number 2049", "expected 2051"}},
		{"swapped files", "train-images-idx3-ubyte", good, good, "idx", []string{"train-labels-idx1-ubyte", "bad magic number 2051", "expected 2049"}},
		{"truncated plain", "train-images-idx3-ubyte", good[:len(good)-5], labels, "idx", []string{"train-images-idx3-ubyte", "truncated", "should be 52 bytes", "is 47"}},
		{"trailing data", "train-images-idx3-ubyte", append(slices.Clone(good), 0), labels, "idx", []string{"truncated or corrupt", "53"}},
		{"truncated gzip", "train-images-idx3-ubyte.gz", truncGz, labels, "idx", []string{"train-images-idx3-ubyte.gz", "truncated"}},
		{"short header", "train-images-idx3-ubyte", good[:10], labels, "idx", []string{"train-images-idx3-ubyte", "16-byte IDX header"}},
		{"count mismatch", "train-images-idx3-ubyte", good, idxLabels([]byte{0, 1, 2}), "idx", []string{"4 images", "3 labels"}},
		{"truncated labels", "train-images-idx3-ubyte", good, idxLabels([]byte{0, 1, 2, 3})[:10], "idx", []string{"train-labels-idx1-ubyte", "announces 4 labels", "only 2"}},
		{"label out of range", "train-images-idx3-ubyte", good, idxLabels([]byte{0, 1, 12, 3}), "mnist", []string{"label 12", "0..9"}},
		{"missing images", "", nil, labels, "fashion-mnist", []string{"train-images-idx3-ubyte", "train-images-idx3-ubyte.gz", "data.path", "t10k-images-idx3-ubyte"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.imgName != "" {
				writeFile(t, filepath.Join(dir, tc.imgName), tc.img)
			}
			writeFile(t, filepath.Join(dir, "train-labels-idx1-ubyte"), tc.lbl)
			_, err := Open(Spec{Format: tc.format, Path: dir})
			wantErr(t, err, tc.want...)
		})
	}
}

func TestIDXGenericClassesFollowLabels(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "train-images-idx3-ubyte"), idxImages(3, 2, 2))
	writeFile(t, filepath.Join(dir, "train-labels-idx1-ubyte"), idxLabels([]byte{0, 25, 7}))
	ds := mustOpen(t, Spec{Format: "idx", Path: dir})
	if len(ds.Classes()) != 26 {
		t.Errorf("idx classes %d, want 26 (max label + 1)", len(ds.Classes()))
	}
}

// TestFashionMNISTInstalled reads the real Fashion-MNIST files when present.
func TestFashionMNISTInstalled(t *testing.T) {
	const dir = "/usr/share/datasets/fashion-mnist"
	if _, err := os.Stat(filepath.Join(dir, "t10k-images-idx3-ubyte.gz")); err != nil {
		t.Skipf("Fashion-MNIST not installed at %s: %v", dir, err)
	}
	ds := mustOpen(t, Spec{Format: "fashion-mnist", Path: dir, Split: "test"})
	if ds.Len() != 10000 {
		t.Fatalf("test split has %d images, want 10000", ds.Len())
	}
	if w, h := ds.NativeSize(); w != 28 || h != 28 {
		t.Errorf("native size %dx%d, want 28x28", w, h)
	}
	counts := make([]int, 10)
	for i := range ds.Len() {
		counts[ds.Label(i)]++
	}
	for c, n := range counts {
		if n != 1000 {
			t.Errorf("class %d (%s) has %d test images, want 1000", c, ds.Classes()[c], n)
		}
	}
	if ds.Label(0) != 9 || ds.Classes()[9] != "Ankle boot" {
		t.Errorf("first test image has label %d, want 9 (Ankle boot)", ds.Label(0))
	}
	img, err := ds.Image(0)
	if err != nil {
		t.Fatal(err)
	}
	var sum int
	for _, p := range img.(*image.Gray).Pix {
		sum += int(p)
	}
	if sum == 0 {
		t.Error("first test image is all black")
	}
	if !testing.Short() {
		train := mustOpen(t, Spec{Format: "fashion-mnist", Path: dir, Limit: 100})
		if train.Len() != 100 || train.Name() != "fashion-mnist/train" {
			t.Errorf("train with limit: %s len %d", train.Name(), train.Len())
		}
	}
}
