package data

import (
	"fmt"
	"os"
	"path/filepath"
)

// STL-10 binary version: *_X.bin holds 96x96x3 uint8 images, each as three
// channel planes (R, G, B) stored column-major; *_y.bin holds one label byte
// per image, 1..10.
const (
	stlSide     = 96
	stlRecord   = 3 * stlSide * stlSide
	stlClasses  = 10
	stlExpected = "train_X.bin and train_y.bin (train), test_X.bin and test_y.bin (test), unlabeled_X.bin (unlabeled), from the STL-10 binary version (stl10_binary.tar.gz, folder stl10_binary)"
)

// stl10Names are the standard STL-10 class names, used when class_names.txt
// is absent.
var stl10Names = []string{"airplane", "bird", "car", "cat", "deer", "dog",
	"horse", "monkey", "ship", "truck"}

func openSTL10(dir, split string) (Dataset, error) {
	const format = FormatSTL10
	if err := checkSplit(format, split, "train", "test", "unlabeled", "train+unlabeled"); err != nil {
		return nil, err
	}
	d := &recordDataset{name: format + "/" + split, w: stlSide, h: stlSide, colMajor: true}
	fail := func(err error) (Dataset, error) {
		d.Close()
		return nil, err
	}
	labelled := split != "unlabeled"
	if split == "train" || split == "test" || split == "train+unlabeled" {
		part := split
		if part == "train+unlabeled" {
			part = "train"
		}
		rf, err := openRecordFile(format, dir, part+"_X.bin", 0, stlRecord, stlExpected)
		if err != nil {
			return fail(err)
		}
		d.set.add(rf)
		if d.labels, err = readSTLLabels(dir, part+"_y.bin", rf.n); err != nil {
			return fail(err)
		}
	}
	if split == "unlabeled" || split == "train+unlabeled" {
		rf, err := openRecordFile(format, dir, "unlabeled_X.bin", 0, stlRecord, stlExpected)
		if err != nil {
			return fail(err)
		}
		d.set.add(rf)
		if labelled {
			for range rf.n {
				d.labels = append(d.labels, Unlabelled)
			}
		}
	}
	if labelled {
		names, err := readNames(format, dir, "class_names.txt", stlClasses)
		if err != nil {
			return fail(err)
		}
		if names == nil {
			names = stl10Names
		}
		d.classes = append([]string(nil), names...)
	}
	return d, nil
}

// readSTLLabels reads an STL-10 label file (one byte 1..10 per image) and
// returns the labels as 0..9, checking that there is one per image.
func readSTLLabels(dir, name string, images int) ([]int16, error) {
	path := filepath.Join(dir, name)
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, missingFileError(FormatSTL10, dir, stlExpected, err)
	}
	if len(raw) != images {
		return nil, fmt.Errorf("stl10 data set: %s is truncated or corrupt: it has %d labels but the image file has %d images; download the files again",
			path, len(raw), images)
	}
	labels := make([]int16, len(raw))
	for i, b := range raw {
		if b < 1 || b > stlClasses {
			return nil, fmt.Errorf("stl10 data set: %s is corrupt: label %d of image %d is outside 1..%d", path, b, i, stlClasses)
		}
		labels[i] = int16(b) - 1
	}
	return labels, nil
}
