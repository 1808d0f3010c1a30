// Package data reads image data sets (CIFAR-10/100, STL-10, the IDX files of
// the MNIST family, folders of PNG/JPEG files and a procedural synthetic set)
// and streams them as batches of augmented views for training.
//
// A Dataset is random access and memory-bounded: binary formats read one
// record at a time with ReadAt from an open file; folders decode lazily. The
// Loader turns a Dataset plus a Transform into a stream of batches, filled by
// worker goroutines, delivered in order, with a bounded number of batches in
// memory and results that do not depend on the number of workers.
//
// Colour images come back as opaque *image.RGBA, one-channel images as
// *image.Gray. Data sets that hold open files implement io.Closer; call
// Close(ds) when done with one.
package data

import (
	"errors"
	"fmt"
	"image"
	"io"
	"slices"
	"strings"
)

// Dataset is a random-access image collection.
type Dataset interface {
	// Name identifies the data set and split, e.g. "cifar10/train".
	Name() string
	// Len is the number of images.
	Len() int
	// Image decodes image i: *image.RGBA for colour, *image.Gray for
	// one-channel data sets. An index out of range is an error.
	Image(i int) (image.Image, error)
	// Label is the class index of image i, or Unlabelled.
	Label(i int) int
	// ID is the file path relative to the root for folders and the decimal
	// index otherwise.
	ID(i int) string
	// Classes lists the class names; nil when the data set is unlabelled.
	Classes() []string
	// Channels is 1 or 3.
	Channels() int
	// NativeSize is the image size, or 0,0 when images vary in size.
	NativeSize() (w, h int)
}

// Unlabelled is the label of an image without a class.
const Unlabelled = -1

// Spec selects a data set and how to read it. It mirrors the data.* keys of
// the configuration file.
type Spec struct {
	// Format is one of Formats(): "synthetic", "cifar10", "cifar100",
	// "stl10", "idx" (aliases "mnist", "fashion-mnist") or "folder".
	Format string
	// Path is the directory holding the files (data.path).
	Path string
	// Split is "train" (the default when empty) or "test"; stl10 also
	// accepts "unlabeled" and "train+unlabeled".
	Split string
	// Limit, when > 0, keeps only the first Limit images.
	Limit int
	// SkipBad makes a folder data set skip undecodable images, writing one
	// warning line for each to Warn. It makes Open decode every image once.
	SkipBad bool
	// Seed is the generation seed of the synthetic data set.
	Seed int64
	// SyntheticSize is the number of synthetic training images (default
	// 2048); the test split has SyntheticSize/4 from a different stream.
	SyntheticSize int
	// SyntheticImageSize is the side of synthetic images (default 32).
	SyntheticImageSize int
	// CIFAR100Labels is "fine" (the default) or "coarse".
	CIFAR100Labels string
	// Warn receives skip_bad warnings; nil discards them.
	Warn io.Writer
}

// Format names accepted by Open.
const (
	FormatSynthetic    = "synthetic"
	FormatCIFAR10      = "cifar10"
	FormatCIFAR100     = "cifar100"
	FormatSTL10        = "stl10"
	FormatIDX          = "idx"
	FormatMNIST        = "mnist"
	FormatFashionMNIST = "fashion-mnist"
	FormatFolder       = "folder"
)

// Formats returns the accepted format names, for error messages and docs.
func Formats() []string {
	return []string{FormatSynthetic, FormatCIFAR10, FormatCIFAR100, FormatSTL10,
		FormatIDX, FormatMNIST, FormatFashionMNIST, FormatFolder}
}

// ErrUnknownFormat is wrapped by the error Open returns for an unknown format.
var ErrUnknownFormat = errors.New("unknown data format")

// ErrUnknownSplit is wrapped by the error Open returns for an unknown split.
var ErrUnknownSplit = errors.New("unknown data split")

// Open opens the data set that spec describes.
func Open(spec Spec) (Dataset, error) {
	format := strings.ToLower(strings.TrimSpace(spec.Format))
	split := strings.ToLower(strings.TrimSpace(spec.Split))
	if split == "" {
		split = "train"
	}
	if spec.Limit < 0 {
		return nil, fmt.Errorf("data.limit is %d: use 0 for the whole data set or a positive number of images", spec.Limit)
	}
	if format != FormatSynthetic && strings.TrimSpace(spec.Path) == "" {
		return nil, fmt.Errorf("%s data set: data.path is empty: set it to the directory holding the files", format)
	}
	var (
		ds  Dataset
		err error
	)
	switch format {
	case FormatSynthetic:
		ds, err = openSynthetic(spec, split)
	case FormatCIFAR10:
		ds, err = openCIFAR10(spec.Path, split)
	case FormatCIFAR100:
		ds, err = openCIFAR100(spec.Path, split, spec.CIFAR100Labels)
	case FormatSTL10:
		ds, err = openSTL10(spec.Path, split)
	case FormatIDX, FormatMNIST, FormatFashionMNIST:
		ds, err = openIDX(spec.Path, split, format)
	case FormatFolder:
		ds, err = openFolder(spec, split)
	default:
		return nil, fmt.Errorf("%w %q (data.format): use one of %s", ErrUnknownFormat, spec.Format, strings.Join(Formats(), ", "))
	}
	if err != nil {
		return nil, err
	}
	if spec.Limit > 0 && spec.Limit < ds.Len() {
		return &limited{Dataset: ds, n: spec.Limit}, nil
	}
	return ds, nil
}

// Close releases the files a data set holds open, if any.
func Close(ds Dataset) error {
	if c, ok := ds.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// checkSplit returns an error naming the valid splits when split is not one.
func checkSplit(format, split string, valid ...string) error {
	if slices.Contains(valid, split) {
		return nil
	}
	return fmt.Errorf("%w %q for format %s (data.split): use one of %s", ErrUnknownSplit, split, format, strings.Join(valid, ", "))
}

// indexError is the error for an image index outside [0, n).
func indexError(name string, i, n int) error {
	return fmt.Errorf("%s: image index %d out of range [0, %d)", name, i, n)
}

// limited keeps the first n images of a data set.
type limited struct {
	Dataset
	n int
}

func (l *limited) Len() int { return l.n }

func (l *limited) Image(i int) (image.Image, error) {
	if i < 0 || i >= l.n {
		return nil, indexError(l.Name(), i, l.n)
	}
	return l.Dataset.Image(i)
}

func (l *limited) Label(i int) int {
	if i < 0 || i >= l.n {
		return Unlabelled
	}
	return l.Dataset.Label(i)
}

func (l *limited) ID(i int) string {
	if i < 0 || i >= l.n {
		return ""
	}
	return l.Dataset.ID(i)
}

// Close closes the underlying data set.
func (l *limited) Close() error { return Close(l.Dataset) }
