package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pix is the fixture pixel value of image i, channel c at (x, y).
func pix(i, c, x, y int) byte { return byte(i*7 + c*50 + x*3 + y*11) }

// planes returns three w*h planes of fixture image i, row-major or
// column-major.
func planes(i, w, h int, colMajor bool) []byte {
	buf := make([]byte, 3*w*h)
	for c := range 3 {
		for y := range h {
			for x := range w {
				k := y*w + x
				if colMajor {
					k = x*h + y
				}
				buf[c*w*h+k] = pix(i, c, x, y)
			}
		}
	}
	return buf
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// cifar10Label is the fixture label of CIFAR-10 image i.
func cifar10Label(i int) int { return (i * 3) % 10 }

// writeCIFAR10 writes data_batch_1..5.bin with perFile images each (images
// numbered across files) and test_batch.bin with testN images.
func writeCIFAR10(t *testing.T, dir string, perFile, testN int) {
	t.Helper()
	img := 0
	for f := 1; f <= 5; f++ {
		var buf bytes.Buffer
		for range perFile {
			buf.WriteByte(byte(cifar10Label(img)))
			buf.Write(planes(img, 32, 32, false))
			img++
		}
		writeFile(t, filepath.Join(dir, "data_batch_"+string(rune('0'+f))+".bin"), buf.Bytes())
	}
	var buf bytes.Buffer
	for i := range testN {
		buf.WriteByte(byte(cifar10Label(i)))
		buf.Write(planes(i, 32, 32, false))
	}
	writeFile(t, filepath.Join(dir, "test_batch.bin"), buf.Bytes())
}

// writeCIFAR100 writes split.bin with n images: coarse label i%20, fine
// label (i*7)%100.
func writeCIFAR100(t *testing.T, dir, split string, n int) {
	t.Helper()
	var buf bytes.Buffer
	for i := range n {
		buf.WriteByte(byte(i % 20))
		buf.WriteByte(byte((i * 7) % 100))
		buf.Write(planes(i, 32, 32, false))
	}
	writeFile(t, filepath.Join(dir, split+".bin"), buf.Bytes())
}

// writeSTL writes part_X.bin (column-major planes) and, when labelled,
// part_y.bin with labels 1 + i%10.
func writeSTL(t *testing.T, dir, part string, n int, labelled bool) {
	t.Helper()
	var x bytes.Buffer
	var y []byte
	for i := range n {
		x.Write(planes(i, 96, 96, true))
		y = append(y, byte(1+i%10))
	}
	writeFile(t, filepath.Join(dir, part+"_X.bin"), x.Bytes())
	if labelled {
		writeFile(t, filepath.Join(dir, part+"_y.bin"), y)
	}
}

// idxImages returns an idx3-ubyte file of n images rows x cols; pixel (x,y)
// of image i is pix(i, 0, x, y).
func idxImages(n, rows, cols int) []byte {
	var buf bytes.Buffer
	for _, v := range []uint32{idxImageMagic, uint32(n), uint32(rows), uint32(cols)} {
		binary.Write(&buf, binary.BigEndian, v)
	}
	for i := range n {
		for y := range rows {
			for x := range cols {
				buf.WriteByte(pix(i, 0, x, y))
			}
		}
	}
	return buf.Bytes()
}

// idxLabels returns an idx1-ubyte file of the given labels.
func idxLabels(labels []byte) []byte {
	var buf bytes.Buffer
	binary.Write(&buf, binary.BigEndian, uint32(idxLabelMagic))
	binary.Write(&buf, binary.BigEndian, uint32(len(labels)))
	buf.Write(labels)
	return buf.Bytes()
}

func gz(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// wantErr fails unless err is non-nil and mentions every fragment.
func wantErr(t *testing.T, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one mentioning %q", fragments)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not mention %q", err, f)
		}
	}
}

// checkRGBA checks that img is an opaque w x h RGBA image whose pixels match
// pix(i, ...) at a few positions, including corners and off-diagonal ones
// where a transposition would show.
func checkRGBA(t *testing.T, img image.Image, i, w, h int) {
	t.Helper()
	rgba, ok := img.(*image.RGBA)
	if !ok {
		t.Fatalf("image %d is %T, want *image.RGBA", i, img)
	}
	if b := rgba.Bounds(); b != image.Rect(0, 0, w, h) {
		t.Fatalf("image %d bounds %v, want %dx%d", i, b, w, h)
	}
	for _, p := range [][2]int{{0, 0}, {w - 1, 0}, {0, h - 1}, {w - 1, h - 1}, {3, 1}, {1, 3}, {w / 2, 5}} {
		x, y := p[0], p[1]
		got := rgba.RGBAAt(x, y)
		want := [4]byte{pix(i, 0, x, y), pix(i, 1, x, y), pix(i, 2, x, y), 255}
		if [4]byte{got.R, got.G, got.B, got.A} != want {
			t.Errorf("image %d pixel (%d,%d) = %v, want %v", i, x, y, got, want)
		}
	}
}

func mustOpen(t *testing.T, spec Spec) Dataset {
	t.Helper()
	ds, err := Open(spec)
	if err != nil {
		t.Fatalf("Open(%+v): %v", spec, err)
	}
	t.Cleanup(func() {
		if err := Close(ds); err != nil {
			t.Errorf("close %s: %v", ds.Name(), err)
		}
	})
	return ds
}

// isNotExist reports whether err wraps os.ErrNotExist.
func isNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }
