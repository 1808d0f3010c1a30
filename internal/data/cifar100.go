package data

import (
	"fmt"
	"strings"
)

// CIFAR-100 binary version: each record is a coarse label byte, a fine label
// byte and 3072 pixel bytes laid out as in CIFAR-10.
const (
	cifar100Record   = 2 + cifarPixels
	cifar100Fine     = 100
	cifar100Coarse   = 20
	cifar100Expected = "train.bin (train) and test.bin (test), from the CIFAR-100 binary version (cifar-100-binary.tar.gz, folder cifar-100-binary)"
)

func openCIFAR100(dir, split, labels string) (Dataset, error) {
	const format = FormatCIFAR100
	if err := checkSplit(format, split, "train", "test"); err != nil {
		return nil, err
	}
	labels = strings.ToLower(strings.TrimSpace(labels))
	var (
		labelByte, classes int
		namesFile          string
	)
	switch labels {
	case "", "fine":
		labelByte, classes, namesFile = 1, cifar100Fine, "fine_label_names.txt"
	case "coarse":
		labelByte, classes, namesFile = 0, cifar100Coarse, "coarse_label_names.txt"
	default:
		return nil, fmt.Errorf("cifar100 data set: label kind %q (data.cifar100_labels): use fine or coarse", labels)
	}
	rf, err := openRecordFile(format, dir, split+".bin", 0, cifar100Record, cifar100Expected)
	if err != nil {
		return nil, err
	}
	d := &recordDataset{name: format + "/" + split, w: cifarSide, h: cifarSide, pixelOffset: 2}
	d.set.add(rf)
	if d.labels, err = readRecordLabels(format, rf, labelByte, classes, nil); err != nil {
		d.Close()
		return nil, err
	}
	names, err := readNames(format, dir, namesFile, classes)
	if err != nil {
		d.Close()
		return nil, err
	}
	if names == nil {
		names = numberNames(classes)
	}
	d.classes = names
	return d, nil
}
