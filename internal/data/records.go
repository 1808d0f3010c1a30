package data

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// recordFile is one open binary file of fixed-size records after an
// optional header, read with ReadAt so only one record is in memory at once.
type recordFile struct {
	path   string
	r      io.ReaderAt
	closer io.Closer
	header int64
	size   int // bytes per record
	n      int // number of records
}

// openRecordFile opens path and checks that its size is header plus a whole,
// non-zero number of size-byte records. format and expects name the data set
// format and the files it expects, for the missing-file message.
func openRecordFile(format, dir, name string, header int64, size int, expects string) (*recordFile, error) {
	path := filepath.Join(dir, name)
	f, err := os.Open(path)
	if err != nil {
		return nil, missingFileError(format, dir, expects, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s data set: stat %s: %w", format, path, err)
	}
	body := st.Size() - header
	if st.IsDir() || body <= 0 || body%int64(size) != 0 {
		f.Close()
		return nil, fmt.Errorf("%s data set: %s is truncated or corrupt: its size is %d bytes, expected %d header bytes plus a whole non-zero number of %d-byte records; download the file again",
			format, path, st.Size(), header, size)
	}
	return &recordFile{path: path, r: f, closer: f, header: header, size: size, n: int(body / int64(size))}, nil
}

// read fills buf (len >= size) with record i.
func (rf *recordFile) read(i int, buf []byte) error {
	off := rf.header + int64(i)*int64(rf.size)
	if _, err := rf.r.ReadAt(buf[:rf.size], off); err != nil {
		return fmt.Errorf("read record %d of %s: %w", i, rf.path, err)
	}
	return nil
}

// readByte returns byte k of record i.
func (rf *recordFile) readByte(i, k int) (byte, error) {
	var b [1]byte
	off := rf.header + int64(i)*int64(rf.size) + int64(k)
	if _, err := rf.r.ReadAt(b[:], off); err != nil {
		return 0, fmt.Errorf("read record %d of %s: %w", i, rf.path, err)
	}
	return b[0], nil
}

func (rf *recordFile) Close() error {
	if rf.closer == nil {
		return nil
	}
	return rf.closer.Close()
}

// recordSet is several record files read as one sequence.
type recordSet struct {
	files []*recordFile
	total int
}

func (rs *recordSet) add(rf *recordFile) {
	rs.files = append(rs.files, rf)
	rs.total += rf.n
}

// locate maps a global record index to a file and the index within it.
func (rs *recordSet) locate(i int) (*recordFile, int) {
	for _, f := range rs.files {
		if i < f.n {
			return f, i
		}
		i -= f.n
	}
	return nil, -1
}

// Close closes every file of the set.
func (rs *recordSet) Close() error {
	var errs []error
	for _, f := range rs.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// missingFileError explains a file that cannot be opened: the error itself
// (which names the file), what the format expects and where the directory
// comes from.
func missingFileError(format, dir, expects string, err error) error {
	return fmt.Errorf("%s data set: %w; the %s format expects %s in the directory given by data.path (%s)",
		format, err, format, expects, dir)
}

// readNames reads one class name per non-empty line of dir/name. A missing
// file returns nil names and no error; a file with a different number of
// names than want is an error naming the file.
func readNames(format, dir, name string, want int) ([]string, error) {
	path := filepath.Join(dir, name)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s data set: %w", format, err)
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			names = append(names, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s data set: read %s: %w", format, path, err)
	}
	if len(names) != want {
		return nil, fmt.Errorf("%s data set: %s lists %d class names, expected %d (one per line); fix or delete the file to use the standard names",
			format, path, len(names), want)
	}
	return names, nil
}

// numberNames returns "0".."n-1".
func numberNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = strconv.Itoa(i)
	}
	return names
}

// planarToRGBA converts three w*h planes (R, G, B) to an opaque RGBA image.
// Planes are row-major, or column-major when colMajor is set (STL-10).
func planarToRGBA(buf []byte, w, h int, colMajor bool) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	plane := w * h
	for y := range h {
		row := img.Pix[y*img.Stride:]
		for x := range w {
			src := y*w + x
			if colMajor {
				src = x*h + y
			}
			row[4*x] = buf[src]
			row[4*x+1] = buf[plane+src]
			row[4*x+2] = buf[2*plane+src]
			row[4*x+3] = 0xff
		}
	}
	return img
}

// recordDataset is a colour data set stored as fixed-size binary records
// holding three uint8 planes at pixelOffset (CIFAR-10/100, STL-10).
type recordDataset struct {
	name        string
	set         recordSet
	pixelOffset int
	w, h        int
	colMajor    bool
	labels      []int16 // nil when unlabelled; Unlabelled entries allowed
	classes     []string
}

func (d *recordDataset) Name() string           { return d.name }
func (d *recordDataset) Len() int               { return d.set.total }
func (d *recordDataset) Classes() []string      { return d.classes }
func (d *recordDataset) Channels() int          { return 3 }
func (d *recordDataset) NativeSize() (w, h int) { return d.w, d.h }

func (d *recordDataset) Image(i int) (image.Image, error) {
	if i < 0 || i >= d.set.total {
		return nil, indexError(d.name, i, d.set.total)
	}
	f, j := d.set.locate(i)
	buf := make([]byte, f.size)
	if err := f.read(j, buf); err != nil {
		return nil, fmt.Errorf("%s: %w", d.name, err)
	}
	return planarToRGBA(buf[d.pixelOffset:], d.w, d.h, d.colMajor), nil
}

func (d *recordDataset) Label(i int) int {
	if d.labels == nil || i < 0 || i >= len(d.labels) {
		return Unlabelled
	}
	return int(d.labels[i])
}

func (d *recordDataset) ID(i int) string {
	if i < 0 || i >= d.set.total {
		return ""
	}
	return strconv.Itoa(i)
}

// Close closes the record files.
func (d *recordDataset) Close() error { return d.set.Close() }

// readRecordLabels appends byte k of every record of rf, checked to be below
// classes, to labels. The label byte of each record is read with its own
// ReadAt, so the pixels are never loaded.
func readRecordLabels(format string, rf *recordFile, k, classes int, labels []int16) ([]int16, error) {
	for i := range rf.n {
		b, err := rf.readByte(i, k)
		if err != nil {
			return nil, fmt.Errorf("%s data set: %w", format, err)
		}
		if int(b) >= classes {
			return nil, fmt.Errorf("%s data set: %s is corrupt: record %d has label %d, expected 0..%d; download the file again",
				format, rf.path, i, b, classes-1)
		}
		labels = append(labels, int16(b))
	}
	return labels, nil
}
