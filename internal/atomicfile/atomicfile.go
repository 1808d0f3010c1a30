// Package atomicfile writes files so that readers never see a partial one:
// the data goes to a temporary file in the same directory, which Commit
// flushes, syncs and renames over the final name, then syncs the directory
// so the rename survives a crash. At any moment the final name holds either
// the previous file or the complete new one, and Abort (or a failed Commit)
// removes the temporary file.
//
// The temporary file is created with mode 0666 and the process umask
// applies, as for any file a program creates (0644 under the usual umask
// 022), so outputs are readable by other users and containers as the
// umask allows.
//
// The usual pattern:
//
//	f, err := atomicfile.Create(path)
//	if err != nil {
//		return err
//	}
//	defer f.Abort() // removes the temporary file unless Commit succeeded
//	if _, err := f.Write(data); err != nil {
//		return err
//	}
//	return f.Commit()
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// ErrDone is returned by Write, WriteAt and Commit on a file that was
// already committed or aborted.
var ErrDone = errors.New("atomic file is already committed or aborted")

// Perm is the mode the temporary file is created with, before the umask.
const Perm fs.FileMode = 0o666

// bufferSize is the write buffer of a File: large enough that streaming
// writers (embeddings, tensors) make few system calls.
const bufferSize = 1 << 20

// File is an output file being written under a temporary name next to its
// final path. Writes are buffered. It is not safe for concurrent use.
type File struct {
	path   string // final name
	f      *os.File
	w      *bufio.Writer
	closed bool // the *os.File was closed (Commit's first phase ran)
	done   bool // committed or aborted
}

// Create opens a new temporary file in the directory of path (which must
// exist) for a file that Commit will move to path. An existing file at
// path is untouched until Commit.
func Create(path string) (*File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if base == "" {
		return nil, fmt.Errorf("create %q: the path names a directory; give a file name", path)
	}
	var lastErr error
	for try := 0; try < 100; try++ {
		name := filepath.Join(dir, "."+base+".tmp-"+strconv.FormatUint(uint64(rand.Uint32()), 36))
		// O_EXCL: never reuse an existing file; mode 0666 so the kernel
		// applies the umask (os.CreateTemp would give 0600).
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, Perm)
		if err == nil {
			return &File{path: path, f: f, w: bufio.NewWriterSize(f, bufferSize)}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("create temporary file for %s (does the directory exist and is it writable?): %w", path, err)
		}
		lastErr = err
	}
	return nil, fmt.Errorf("create temporary file for %s: 100 names taken; remove stale .%s.tmp-* files: %w", path, base, lastErr)
}

// Name is the final path the file is committed to.
func (f *File) Name() string { return f.path }

// TempName is the temporary file's path.
func (f *File) TempName() string { return f.f.Name() }

// Write appends p (buffered).
func (f *File) Write(p []byte) (int, error) {
	if f.done || f.closed {
		return 0, fmt.Errorf("write %s: %w", f.path, ErrDone)
	}
	return f.w.Write(p)
}

// WriteString appends s (buffered).
func (f *File) WriteString(s string) (int, error) {
	if f.done || f.closed {
		return 0, fmt.Errorf("write %s: %w", f.path, ErrDone)
	}
	return f.w.WriteString(s)
}

// WriteAt flushes the buffer and overwrites len(p) bytes at offset off,
// for patching a header once the length of the data is known. Later
// Writes still append at the end.
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	if f.done || f.closed {
		return 0, fmt.Errorf("write %s: %w", f.path, ErrDone)
	}
	if err := f.w.Flush(); err != nil {
		return 0, fmt.Errorf("write %s: %w", f.path, err)
	}
	return f.f.WriteAt(p, off)
}

// Commit flushes the buffer, syncs and closes the temporary file, renames
// it over the final path and syncs the directory. On error the temporary
// file is removed and the final path is left as it was. Abort after a
// successful Commit does nothing.
func (f *File) Commit() error {
	if err := f.finish(); err != nil {
		return err
	}
	return f.rename()
}

// Abort closes and removes the temporary file, leaving the final path as
// it was. It does nothing after Commit or a previous Abort, so it is meant
// to be deferred right after Create.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	if !f.closed {
		f.closed = true
		_ = f.f.Close()
	}
	_ = os.Remove(f.f.Name()) // best effort: nothing more can be done if this fails
}

// finish is Commit's first phase: flush, sync and close, keeping the
// temporary name. On error the file is aborted.
func (f *File) finish() error {
	if f.done || f.closed {
		return fmt.Errorf("commit %s: %w", f.path, ErrDone)
	}
	err := f.w.Flush()
	if err == nil {
		err = f.f.Sync()
	}
	f.closed = true
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		f.Abort()
		return fmt.Errorf("write %s (is the disk full?): %w", f.path, err)
	}
	return nil
}

// rename is Commit's second phase: move the closed temporary file over the
// final name and make the rename durable. On error the file is aborted.
func (f *File) rename() error {
	if f.done {
		return fmt.Errorf("commit %s: %w", f.path, ErrDone)
	}
	if err := os.Rename(f.f.Name(), f.path); err != nil {
		f.Abort()
		return fmt.Errorf("move %s into place: %w", f.path, err)
	}
	f.done = true
	syncDir(filepath.Dir(f.path))
	return nil
}

// CommitAll commits several files as one output: every file is flushed,
// synced and closed first, and only when all of that succeeded are they
// renamed, in order. This keeps the window in which some final names hold
// new files and others old ones to the renames alone. On error the files
// not yet renamed are removed.
func CommitAll(files ...*File) error {
	for i, f := range files {
		if err := f.finish(); err != nil {
			for _, g := range files[i+1:] {
				g.Abort()
			}
			for _, g := range files[:i] {
				g.Abort()
			}
			return err
		}
	}
	for i, f := range files {
		if err := f.rename(); err != nil {
			for _, g := range files[i+1:] {
				g.Abort()
			}
			return err
		}
	}
	return nil
}

// syncDir makes a rename durable where the platform allows it (best
// effort: some file systems refuse to sync a directory, and the data
// itself is already synced).
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// Write calls fill with a writer on a new atomic file for path and commits
// it when fill succeeds. On any error the temporary file is removed and
// path is left as it was.
func Write(path string, fill func(w io.Writer) error) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := fill(f); err != nil {
		return err
	}
	return f.Commit()
}

// WriteFile writes data to path atomically.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
