package export

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
)

// tempFile is an output file written under a temporary name in the
// directory of its final name and renamed over it once complete.
type tempFile struct {
	final string
	f     *os.File
	w     *bufio.Writer
}

// createTemp opens a temporary file next to final.
func createTemp(final string) (*tempFile, error) {
	dir, base := filepath.Split(final)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create temporary file for %s: %w", final, err)
	}
	return &tempFile{final: final, f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

// finish flushes and syncs the data and closes the file, keeping its
// temporary name.
func (t *tempFile) finish() error {
	if err := t.w.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", t.final, err)
	}
	if err := t.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", t.final, err)
	}
	if err := t.f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", t.final, err)
	}
	return nil
}

// rename moves the finished temporary file over its final name.
func (t *tempFile) rename() error {
	if err := os.Rename(t.f.Name(), t.final); err != nil {
		return fmt.Errorf("rename %s to %s: %w", t.f.Name(), t.final, err)
	}
	syncDir(filepath.Dir(t.final))
	return nil
}

// remove closes (if still open) and deletes the temporary file.
func (t *tempFile) remove() {
	_ = t.f.Close()
	_ = os.Remove(t.f.Name()) // best effort: nothing more can be done if this fails
}

// syncDir makes a rename durable where the platform allows it (best
// effort: some file systems refuse to sync a directory).
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// commitAll finishes every file, then renames them in order. On failure the
// temporaries that were not renamed yet are removed.
func commitAll(files []*tempFile) error {
	for i, t := range files {
		if err := t.finish(); err != nil {
			for _, u := range files[i:] {
				u.remove()
			}
			for _, u := range files[:i] {
				_ = os.Remove(u.f.Name())
			}
			return err
		}
	}
	for i, t := range files {
		if err := t.rename(); err != nil {
			for _, u := range files[i:] {
				_ = os.Remove(u.f.Name())
			}
			return err
		}
	}
	return nil
}
