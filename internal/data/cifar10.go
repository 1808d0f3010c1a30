package data

// CIFAR-10 binary version: each record is 1 label byte and 3072 pixel bytes
// (1024 R, then 1024 G, then 1024 B, each plane row-major 32x32).
const (
	cifarSide       = 32
	cifarPixels     = 3 * cifarSide * cifarSide
	cifar10Record   = 1 + cifarPixels
	cifar10Classes  = 10
	cifar10Expected = "data_batch_1.bin ... data_batch_5.bin (train) and test_batch.bin (test), from the CIFAR-10 binary version (cifar-10-binary.tar.gz, folder cifar-10-batches-bin)"
)

// cifar10Names are the standard CIFAR-10 class names, used when
// batches.meta.txt is absent.
var cifar10Names = []string{"airplane", "automobile", "bird", "cat", "deer",
	"dog", "frog", "horse", "ship", "truck"}

func openCIFAR10(dir, split string) (Dataset, error) {
	const format = FormatCIFAR10
	if err := checkSplit(format, split, "train", "test"); err != nil {
		return nil, err
	}
	files := []string{"test_batch.bin"}
	if split == "train" {
		files = []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"}
	}
	d := &recordDataset{name: format + "/" + split, w: cifarSide, h: cifarSide, pixelOffset: 1}
	for _, name := range files {
		rf, err := openRecordFile(format, dir, name, 0, cifar10Record, cifar10Expected)
		if err != nil {
			d.Close()
			return nil, err
		}
		d.set.add(rf)
		if d.labels, err = readRecordLabels(format, rf, 0, cifar10Classes, d.labels); err != nil {
			d.Close()
			return nil, err
		}
	}
	names, err := readNames(format, dir, "batches.meta.txt", cifar10Classes)
	if err != nil {
		d.Close()
		return nil, err
	}
	if names == nil {
		names = cifar10Names
	}
	d.classes = append([]string(nil), names...)
	return d, nil
}
