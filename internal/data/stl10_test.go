package data

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestSTL10(t *testing.T) {
	dir := t.TempDir()
	writeSTL(t, dir, "train", 4, true)
	writeSTL(t, dir, "test", 3, true)
	writeSTL(t, dir, "unlabeled", 5, false)

	tests := []struct {
		split  string
		n      int
		labels []int
	}{
		{"train", 4, []int{0, 1, 2, 3}},
		{"test", 3, []int{0, 1, 2}},
		{"unlabeled", 5, []int{-1, -1, -1, -1, -1}},
		{"train+unlabeled", 9, []int{0, 1, 2, 3, -1, -1, -1, -1, -1}},
	}
	for _, tc := range tests {
		t.Run(tc.split, func(t *testing.T) {
			ds := mustOpen(t, Spec{Format: "stl10", Path: dir, Split: tc.split})
			if ds.Len() != tc.n || ds.Name() != "stl10/"+tc.split {
				t.Fatalf("%s: len %d", ds.Name(), ds.Len())
			}
			if w, h := ds.NativeSize(); w != 96 || h != 96 {
				t.Errorf("native size %dx%d", w, h)
			}
			var labels []int
			for i := range ds.Len() {
				labels = append(labels, ds.Label(i))
			}
			if !slices.Equal(labels, tc.labels) {
				t.Errorf("labels %v, want %v", labels, tc.labels)
			}
			if tc.split == "unlabeled" {
				if ds.Classes() != nil {
					t.Errorf("unlabelled classes %v, want nil", ds.Classes())
				}
			} else if !slices.Equal(ds.Classes(), stl10Names) {
				t.Errorf("classes %v", ds.Classes())
			}
			// The fixture stores planes column-major; Image must transpose
			// back so that pixel (x,y) is pix(i, c, x, y).
			last := ds.Len() - 1
			img, err := ds.Image(last)
			if err != nil {
				t.Fatal(err)
			}
			want := last
			if tc.split == "train+unlabeled" {
				want = last - 4 // index within unlabeled_X.bin
			}
			checkRGBA(t, img, want, 96, 96)
		})
	}
}

func TestSTL10Errors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		mutate func(t *testing.T)
		split  string
		want   []string
	}{
		{"missing labels", func(t *testing.T) { os.Remove(filepath.Join(dir, "train_y.bin")) }, "train",
			[]string{"train_y.bin", "data.path", "stl10_binary"}},
		{"missing unlabeled", func(*testing.T) {}, "unlabeled", []string{"unlabeled_X.bin", "data.path"}},
		{"truncated images", func(t *testing.T) {
			raw, _ := os.ReadFile(filepath.Join(dir, "train_X.bin"))
			writeFile(t, filepath.Join(dir, "train_X.bin"), raw[:len(raw)-1])
		}, "train", []string{"train_X.bin", "truncated", "27648-byte records"}},
		{"label count", func(t *testing.T) { writeFile(t, filepath.Join(dir, "train_y.bin"), []byte{1, 2}) }, "train",
			[]string{"train_y.bin", "2 labels", "3 images"}},
		{"label zero", func(t *testing.T) { writeFile(t, filepath.Join(dir, "train_y.bin"), []byte{1, 0, 3}) }, "train",
			[]string{"train_y.bin", "label 0 of image 1", "1..10"}},
		{"bad split", func(*testing.T) {}, "extra", []string{"extra", "train+unlabeled"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			writeSTL(t, dir, "train", 3, true)
			tc.mutate(t)
			_, err := Open(Spec{Format: "stl10", Path: dir, Split: tc.split})
			wantErr(t, err, tc.want...)
		})
	}
}
