package data

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestCIFAR10(t *testing.T) {
	dir := t.TempDir()
	writeCIFAR10(t, dir, 3, 4)
	train := mustOpen(t, Spec{Format: "cifar10", Path: dir})
	if train.Name() != "cifar10/train" || train.Len() != 15 || train.Channels() != 3 {
		t.Fatalf("train: name %q len %d channels %d", train.Name(), train.Len(), train.Channels())
	}
	if w, h := train.NativeSize(); w != 32 || h != 32 {
		t.Errorf("native size %dx%d", w, h)
	}
	if !slices.Equal(train.Classes(), cifar10Names) {
		t.Errorf("classes %v, want the standard names", train.Classes())
	}
	for _, i := range []int{0, 2, 3, 7, 14} { // first, file boundaries, last
		img, err := train.Image(i)
		if err != nil {
			t.Fatal(err)
		}
		checkRGBA(t, img, i, 32, 32)
		if got := train.Label(i); got != cifar10Label(i) {
			t.Errorf("label %d = %d, want %d", i, got, cifar10Label(i))
		}
	}
	if train.ID(7) != "7" {
		t.Errorf("ID(7) = %q", train.ID(7))
	}
	if _, err := train.Image(15); err == nil {
		t.Error("Image(15) of 15 images: no error")
	}
	if train.Label(-1) != Unlabelled || train.ID(99) != "" {
		t.Error("out-of-range Label/ID should return Unlabelled and empty")
	}

	test := mustOpen(t, Spec{Format: "cifar10", Path: dir, Split: "test"})
	if test.Len() != 4 || test.Name() != "cifar10/test" {
		t.Fatalf("test: %s len %d", test.Name(), test.Len())
	}
	img, err := test.Image(3)
	if err != nil {
		t.Fatal(err)
	}
	checkRGBA(t, img, 3, 32, 32)
}

func TestCIFAR10ClassNamesFile(t *testing.T) {
	dir := t.TempDir()
	writeCIFAR10(t, dir, 1, 1)
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	writeFile(t, filepath.Join(dir, "batches.meta.txt"), []byte("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n\n"))
	ds := mustOpen(t, Spec{Format: "cifar10", Path: dir})
	if !slices.Equal(ds.Classes(), names) {
		t.Errorf("classes %v, want %v", ds.Classes(), names)
	}
	writeFile(t, filepath.Join(dir, "batches.meta.txt"), []byte("a\nb\n"))
	_, err := Open(Spec{Format: "cifar10", Path: dir})
	wantErr(t, err, "batches.meta.txt", "2 class names", "expected 10")
}

func TestCIFAR10Errors(t *testing.T) {
	dir := t.TempDir()
	writeCIFAR10(t, dir, 2, 2)
	tests := []struct {
		name   string
		mutate func(t *testing.T)
		split  string
		want   []string
	}{
		{"missing batch", func(t *testing.T) { os.Remove(filepath.Join(dir, "data_batch_3.bin")) }, "train",
			[]string{"data_batch_3.bin", "data_batch_1.bin ... data_batch_5.bin", "data.path"}},
		{"truncated", func(t *testing.T) {
			raw, _ := os.ReadFile(filepath.Join(dir, "test_batch.bin"))
			writeFile(t, filepath.Join(dir, "test_batch.bin"), raw[:len(raw)-100])
		}, "test", []string{"test_batch.bin", "truncated", "3073-byte records"}},
		{"empty", func(t *testing.T) { writeFile(t, filepath.Join(dir, "test_batch.bin"), nil) }, "test",
			[]string{"test_batch.bin", "size is 0 bytes"}},
		{"bad label", func(t *testing.T) {
			raw, _ := os.ReadFile(filepath.Join(dir, "test_batch.bin"))
			raw[cifar10Record] = 10
			writeFile(t, filepath.Join(dir, "test_batch.bin"), raw)
		}, "test", []string{"test_batch.bin", "record 1 has label 10", "0..9"}},
		{"bad split", func(*testing.T) {}, "valid", []string{`"valid"`, "train, test"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			writeCIFAR10(t, dir, 2, 2)
			tc.mutate(t)
			_, err := Open(Spec{Format: "cifar10", Path: dir, Split: tc.split})
			wantErr(t, err, tc.want...)
		})
	}
}

func TestCIFAR100(t *testing.T) {
	dir := t.TempDir()
	writeCIFAR100(t, dir, "train", 30)
	writeCIFAR100(t, dir, "test", 5)
	fine := mustOpen(t, Spec{Format: "cifar100", Path: dir})
	coarse := mustOpen(t, Spec{Format: "cifar100", Path: dir, CIFAR100Labels: "coarse"})
	test := mustOpen(t, Spec{Format: "cifar100", Path: dir, Split: "test"})
	if fine.Len() != 30 || test.Len() != 5 {
		t.Fatalf("len %d, %d", fine.Len(), test.Len())
	}
	if len(fine.Classes()) != 100 || fine.Classes()[42] != "42" || len(coarse.Classes()) != 20 {
		t.Errorf("classes: %d fine (42 = %q), %d coarse", len(fine.Classes()), fine.Classes()[42], len(coarse.Classes()))
	}
	for _, i := range []int{0, 13, 29} {
		if got := fine.Label(i); got != (i*7)%100 {
			t.Errorf("fine label %d = %d", i, got)
		}
		if got := coarse.Label(i); got != i%20 {
			t.Errorf("coarse label %d = %d", i, got)
		}
		img, err := fine.Image(i)
		if err != nil {
			t.Fatal(err)
		}
		checkRGBA(t, img, i, 32, 32)
	}

	names := make([]byte, 0, 200)
	for i := range 20 {
		names = append(names, []byte("super"+string(rune('a'+i))+"\n")...)
	}
	writeFile(t, filepath.Join(dir, "coarse_label_names.txt"), names)
	coarse = mustOpen(t, Spec{Format: "cifar100", Path: dir, CIFAR100Labels: "coarse"})
	if coarse.Classes()[2] != "superc" {
		t.Errorf("coarse names from file: %v", coarse.Classes())
	}

	_, err := Open(Spec{Format: "cifar100", Path: dir, CIFAR100Labels: "medium"})
	wantErr(t, err, "medium", "fine or coarse")
	_, err = Open(Spec{Format: "cifar100", Path: t.TempDir()})
	wantErr(t, err, "train.bin", "data.path", "cifar-100-binary")
	if !isNotExist(err) {
		t.Errorf("missing file error does not wrap os.ErrNotExist: %v", err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "test.bin"))
	writeFile(t, filepath.Join(dir, "test.bin"), raw[:cifar100Record+7])
	_, err = Open(Spec{Format: "cifar100", Path: dir, Split: "test"})
	wantErr(t, err, "test.bin", "truncated", "3074-byte records")
}
