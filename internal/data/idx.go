package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// IDX files (MNIST family): big-endian int32 magic, then int32 dimensions,
// then uint8 data. Images have magic 2051 (0x00000803: uint8, 3 dims: count,
// rows, cols); labels have magic 2049 (0x00000801: uint8, 1 dim: count).
const (
	idxImageMagic  = 2051
	idxLabelMagic  = 2049
	idxImageHeader = 16
	idxLabelHeader = 8
	idxMaxSide     = 1 << 14
	idxExpected    = "train-images-idx3-ubyte and train-labels-idx1-ubyte (train), t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (test), each plain or gzipped with a .gz suffix"
)

// fashionNames are the Fashion-MNIST class names.
var fashionNames = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

// idxDataset is a one-channel data set read from IDX files.
type idxDataset struct {
	name       string
	path       string
	pixels     io.ReaderAt // image data, from offset on
	offset     int64       // where the pixels start in pixels
	closer     io.Closer   // the open file when pixels is one
	rows, cols int
	labels     []uint8
	classes    []string
}

func openIDX(dir, split, format string) (Dataset, error) {
	if err := checkSplit(format, split, "train", "test"); err != nil {
		return nil, err
	}
	prefix := "train"
	if split == "test" {
		prefix = "t10k"
	}
	imgPath, err := findIDXFile(format, dir, prefix+"-images-idx3-ubyte")
	if err != nil {
		return nil, err
	}
	lblPath, err := findIDXFile(format, dir, prefix+"-labels-idx1-ubyte")
	if err != nil {
		return nil, err
	}
	labels, err := readIDXLabels(format, lblPath)
	if err != nil {
		return nil, err
	}
	d := &idxDataset{name: format + "/" + split, path: imgPath, labels: labels}
	n, err := d.openImages(format)
	if err != nil {
		return nil, err
	}
	if n != len(labels) {
		d.Close()
		return nil, fmt.Errorf("%s data set: %s holds %d images but %s holds %d labels; the two files must come from the same split and download",
			format, imgPath, n, lblPath, len(labels))
	}
	maxLabel := 0
	for _, l := range labels {
		maxLabel = max(maxLabel, int(l))
	}
	switch format {
	case FormatFashionMNIST, FormatMNIST:
		if maxLabel > 9 {
			d.Close()
			return nil, fmt.Errorf("%s data set: %s is corrupt: label %d is outside 0..9 (use format idx for other label sets)", format, lblPath, maxLabel)
		}
		d.classes = numberNames(10)
		if format == FormatFashionMNIST {
			d.classes = append([]string(nil), fashionNames...)
		}
	default:
		d.classes = numberNames(maxLabel + 1)
	}
	return d, nil
}

// findIDXFile returns dir/base, or dir/base.gz when only that exists.
func findIDXFile(format, dir, base string) (string, error) {
	plain := filepath.Join(dir, base)
	if _, err := os.Stat(plain); err == nil {
		return plain, nil
	}
	gz := plain + ".gz"
	_, err := os.Stat(gz)
	if err == nil {
		return gz, nil
	}
	if errors.Is(err, os.ErrNotExist) {
		err = fmt.Errorf("neither %s nor %s.gz exists", plain, base)
	}
	return "", missingFileError(format, dir, idxExpected, err)
}

// openIDXStream opens path and returns a reader over its decompressed bytes
// (gzip is recognised by its magic bytes, whatever the name), whether it was
// gzipped, and the file to close.
func openIDXStream(path string) (io.Reader, bool, *os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, nil, err
	}
	br := bufio.NewReader(f)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, true, nil, fmt.Errorf("%s is not a valid gzip file: %w", path, err)
		}
		return zr, true, f, nil
	}
	return br, false, f, nil
}

// readIDXHeader reads and checks the magic number and dimensions.
func readIDXHeader(r io.Reader, path string, magic uint32, dims int) ([]int, error) {
	hdr := make([]byte, 4+4*dims)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("%s is truncated: the %d-byte IDX header cannot be read (%v); download the file again", path, len(hdr), err)
	}
	if got := binary.BigEndian.Uint32(hdr); got != magic {
		kind := "an idx3-ubyte image file"
		if magic == idxLabelMagic {
			kind = "an idx1-ubyte label file"
		}
		return nil, fmt.Errorf("%s has bad magic number %d, expected %d (%s); the file is corrupt, not decompressed properly, or the image and label files are swapped",
			path, got, magic, kind)
	}
	out := make([]int, dims)
	for i := range out {
		v := binary.BigEndian.Uint32(hdr[4+4*i:])
		if v == 0 || v > 1<<30 {
			return nil, fmt.Errorf("%s is corrupt: dimension %d of the IDX header is %d", path, i, v)
		}
		out[i] = int(v)
	}
	return out, nil
}

// readIDXLabels reads a whole label file.
func readIDXLabels(format, path string) ([]uint8, error) {
	r, _, f, err := openIDXStream(path)
	if err != nil {
		return nil, fmt.Errorf("%s data set: %w", format, err)
	}
	defer f.Close()
	dims, err := readIDXHeader(r, path, idxLabelMagic, 1)
	if err != nil {
		return nil, fmt.Errorf("%s data set: %w", format, err)
	}
	n := dims[0]
	labels, err := io.ReadAll(io.LimitReader(r, int64(n)+1))
	if err != nil {
		return nil, fmt.Errorf("%s data set: read %s: %w", format, path, err)
	}
	if len(labels) != n {
		return nil, fmt.Errorf("%s data set: %s is truncated or corrupt: the header announces %d labels, the file holds %s; download the file again",
			format, path, n, sizeWord(len(labels), n))
	}
	return labels, nil
}

// openImages opens the image file: a plain file stays open and is read with
// ReadAt; a gzipped one is decompressed into memory. It returns the count.
func (d *idxDataset) openImages(format string) (int, error) {
	r, gz, f, err := openIDXStream(d.path)
	if err != nil {
		return 0, fmt.Errorf("%s data set: %w", format, err)
	}
	dims, err := readIDXHeader(r, d.path, idxImageMagic, 3)
	if err != nil {
		f.Close()
		return 0, fmt.Errorf("%s data set: %w", format, err)
	}
	n, rows, cols := dims[0], dims[1], dims[2]
	if rows > idxMaxSide || cols > idxMaxSide {
		f.Close()
		return 0, fmt.Errorf("%s data set: %s is corrupt: image size %dx%d in the header is implausible", format, d.path, cols, rows)
	}
	d.rows, d.cols = rows, cols
	want := int64(n) * int64(rows) * int64(cols)
	if gz {
		defer f.Close()
		body, err := io.ReadAll(io.LimitReader(r, want+1))
		if err != nil {
			return 0, fmt.Errorf("%s data set: %s is truncated or corrupt: %w; download the file again", format, d.path, err)
		}
		if int64(len(body)) != want {
			return 0, fmt.Errorf("%s data set: %s is truncated or corrupt: the header announces %d images of %dx%d (%d bytes), the file holds %s; download the file again",
				format, d.path, n, cols, rows, want, sizeWord(len(body), int(want)))
		}
		d.pixels = bytes.NewReader(body)
		return n, nil
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return 0, fmt.Errorf("%s data set: stat %s: %w", format, d.path, err)
	}
	if st.Size() != idxImageHeader+want {
		f.Close()
		return 0, fmt.Errorf("%s data set: %s is truncated or corrupt: the header announces %d images of %dx%d, so the file should be %d bytes, but it is %d; download the file again",
			format, d.path, n, cols, rows, idxImageHeader+want, st.Size())
	}
	d.pixels, d.closer, d.offset = f, f, idxImageHeader
	return n, nil
}

// sizeWord describes an actual count against the expected one.
func sizeWord(got, want int) string {
	if got > want {
		return "more (trailing data)"
	}
	return "only " + strconv.Itoa(got)
}

func (d *idxDataset) Name() string           { return d.name }
func (d *idxDataset) Len() int               { return len(d.labels) }
func (d *idxDataset) Classes() []string      { return d.classes }
func (d *idxDataset) Channels() int          { return 1 }
func (d *idxDataset) NativeSize() (w, h int) { return d.cols, d.rows }

func (d *idxDataset) Image(i int) (image.Image, error) {
	if i < 0 || i >= len(d.labels) {
		return nil, indexError(d.name, i, len(d.labels))
	}
	img := image.NewGray(image.Rect(0, 0, d.cols, d.rows))
	size := d.rows * d.cols
	off := d.offset + int64(i)*int64(size)
	if _, err := d.pixels.ReadAt(img.Pix, off); err != nil {
		return nil, fmt.Errorf("%s: read image %d of %s: %w", d.name, i, d.path, err)
	}
	return img, nil
}

func (d *idxDataset) Label(i int) int {
	if i < 0 || i >= len(d.labels) {
		return Unlabelled
	}
	return int(d.labels[i])
}

func (d *idxDataset) ID(i int) string {
	if i < 0 || i >= len(d.labels) {
		return ""
	}
	return strconv.Itoa(i)
}

// Close closes the image file when it is held open.
func (d *idxDataset) Close() error {
	if d.closer == nil {
		return nil
	}
	return d.closer.Close()
}
