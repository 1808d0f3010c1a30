package data

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	_ "image/jpeg" // register the JPEG decoder for image.Decode
	_ "image/png"  // register the PNG decoder for image.Decode
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// maxFolderPixels bounds the size of one decoded folder image (64 Mpixel), so
// that a huge or corrupt header cannot exhaust memory.
const maxFolderPixels = 1 << 26

// folderDataset is a directory of PNG/JPEG images, either one sub-folder per
// class (labelled) or a flat folder (unlabelled). Images are decoded lazily.
type folderDataset struct {
	name    string
	root    string
	files   []string // paths relative to root, slash-separated
	labels  []int    // nil when unlabelled
	classes []string
}

// isImageFile reports whether name has a .png, .jpg or .jpeg extension.
func isImageFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

func isHidden(name string) bool { return strings.HasPrefix(name, ".") }

func openFolder(spec Spec, split string) (Dataset, error) {
	const format = FormatFolder
	if err := checkSplit(format, split, "train", "test"); err != nil {
		return nil, err
	}
	root := spec.Path
	if st, err := os.Stat(filepath.Join(root, split)); err == nil && st.IsDir() {
		root = filepath.Join(root, split)
	} else if split != "train" {
		return nil, fmt.Errorf("folder data set: split %s needs the directory %s (data.path/%s holding class sub-folders or images); create it or point data.path at the images with split train",
			split, filepath.Join(spec.Path, split), split)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("folder data set: %w; data.path must be a directory of class sub-folders (root/<class>/*.png|jpg|jpeg) or of images", err)
	}
	d := &folderDataset{name: format + "/" + split, root: root}
	var loose, classDirs []string
	for _, e := range entries {
		switch {
		case isHidden(e.Name()):
		case e.IsDir():
			classDirs = append(classDirs, e.Name())
		case isImageFile(e.Name()):
			loose = append(loose, e.Name())
		}
	}
	switch {
	case len(classDirs) > 0 && len(loose) > 0:
		return nil, fmt.Errorf("folder data set: %s mixes class sub-folders (%s, ...) with %d loose images (%s, ...); move the images into class folders, or use a folder of images only for unlabelled data",
			root, classDirs[0], len(loose), loose[0])
	case len(classDirs) > 0:
		d.labels = []int{}
		for c, class := range classDirs {
			files, err := listImages(root, class)
			if err != nil {
				return nil, err
			}
			if len(files) == 0 {
				return nil, fmt.Errorf("folder data set: class folder %s has no .png/.jpg/.jpeg images; add images or remove the folder (class indices follow the sorted folder names)",
					filepath.Join(root, class))
			}
			d.classes = append(d.classes, class)
			d.files = append(d.files, files...)
			for range files {
				d.labels = append(d.labels, c)
			}
		}
	case len(loose) > 0:
		d.files = loose
	default:
		return nil, fmt.Errorf("folder data set: no .png/.jpg/.jpeg images or class sub-folders in %s (data.path)", root)
	}
	if spec.SkipBad {
		d.dropBad(spec.Limit, spec.Warn)
		if len(d.files) == 0 {
			return nil, fmt.Errorf("folder data set: every image in %s failed to decode", root)
		}
	}
	return d, nil
}

// listImages returns the image files under root/class, recursively, as
// slash-separated paths relative to root in lexical order.
func listImages(root, class string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(filepath.Join(root, class), func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if isHidden(e.Name()) && path != filepath.Join(root, class) {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !e.IsDir() && isImageFile(e.Name()) {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("folder data set: list %s: %w", filepath.Join(root, class), err)
	}
	return files, nil
}

// dropBad decodes every image (in parallel) and removes those that fail,
// writing one warning line for each to warn. With limit > 0 it stops once
// limit good images are found.
func (d *folderDataset) dropBad(limit int, warn io.Writer) {
	if warn == nil {
		warn = io.Discard
	}
	workers := runtime.GOMAXPROCS(0)
	chunk := 32 * workers
	var files []string
	var labels []int
	for start := 0; start < len(d.files); start += chunk {
		end := min(start+chunk, len(d.files))
		errs := make([]error, end-start)
		var wg sync.WaitGroup
		next := make(chan int)
		for range workers {
			wg.Go(func() {
				for k := range next {
					_, errs[k-start] = d.decode(k)
				}
			})
		}
		for k := start; k < end; k++ {
			next <- k
		}
		close(next)
		wg.Wait()
		for k := start; k < end; k++ {
			if err := errs[k-start]; err != nil {
				fmt.Fprintf(warn, "warning: data.skip_bad: skipping %s: %v\n", filepath.Join(d.root, filepath.FromSlash(d.files[k])), err)
				continue
			}
			files = append(files, d.files[k])
			if d.labels != nil {
				labels = append(labels, d.labels[k])
			}
			if limit > 0 && len(files) == limit {
				break
			}
		}
		if limit > 0 && len(files) == limit {
			break
		}
	}
	d.files = files
	if d.labels != nil {
		d.labels = labels
	}
}

// decodeError wraps the reason an image cannot be decoded.
type decodeError struct{ err error }

func (e *decodeError) Error() string { return e.err.Error() }
func (e *decodeError) Unwrap() error { return e.err }

// decode reads and decodes image k as opaque RGBA.
func (d *folderDataset) decode(k int) (*image.RGBA, error) {
	path := filepath.Join(d.root, filepath.FromSlash(d.files[k]))
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, &decodeError{err}
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return nil, &decodeError{fmt.Errorf("not a decodable PNG/JPEG: %w", err)}
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxFolderPixels {
		return nil, &decodeError{fmt.Errorf("image size %dx%d is empty or too large (limit %d pixels)", cfg.Width, cfg.Height, maxFolderPixels)}
	}
	img, _, err := image.Decode(bytes.NewReader(raw))
	if err != nil {
		return nil, &decodeError{fmt.Errorf("not a decodable PNG/JPEG: %w", err)}
	}
	return toOpaqueRGBA(img), nil
}

// toOpaqueRGBA converts any image to an RGBA image at the origin with every
// alpha 255; translucent pixels end up composited over black.
func toOpaqueRGBA(src image.Image) *image.RGBA {
	b := src.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(dst, dst.Bounds(), src, b.Min, draw.Src)
	for i := 3; i < len(dst.Pix); i += 4 {
		dst.Pix[i] = 0xff
	}
	return dst
}

func (d *folderDataset) Name() string           { return d.name }
func (d *folderDataset) Len() int               { return len(d.files) }
func (d *folderDataset) Classes() []string      { return d.classes }
func (d *folderDataset) Channels() int          { return 3 }
func (d *folderDataset) NativeSize() (w, h int) { return 0, 0 }

func (d *folderDataset) Image(i int) (image.Image, error) {
	if i < 0 || i >= len(d.files) {
		return nil, indexError(d.name, i, len(d.files))
	}
	img, err := d.decode(i)
	if err != nil {
		return nil, fmt.Errorf("folder data set: cannot read %s: %w; fix or delete the file, or set data.skip_bad: true to skip undecodable images",
			filepath.Join(d.root, filepath.FromSlash(d.files[i])), err)
	}
	return img, nil
}

func (d *folderDataset) Label(i int) int {
	if d.labels == nil || i < 0 || i >= len(d.labels) {
		return Unlabelled
	}
	return d.labels[i]
}

func (d *folderDataset) ID(i int) string {
	if i < 0 || i >= len(d.files) {
		return ""
	}
	return d.files[i]
}
