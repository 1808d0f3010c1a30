package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// names lists the entries of dir, sorted.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriteFileReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.txt")
	for _, body := range []string{"first, longer than the second", "second"} {
		if err := WriteFile(path, []byte(body)); err != nil {
			t.Fatal(err)
		}
		if got := read(t, path); got != body {
			t.Fatalf("read %q, want %q", got, body)
		}
	}
	if got := names(t, dir); len(got) != 1 {
		t.Fatalf("directory holds %v, want only out.txt", got)
	}
}

// TestFailuresKeepOldFileAndNoTemp: every way a write can end without a
// commit leaves the previous file as it was and no temporary file.
func TestFailuresKeepOldFileAndNoTemp(t *testing.T) {
	boom := errors.New("boom")
	cases := []struct {
		name    string
		run     func(path string) error
		wantErr error // nil: any non-nil error
	}{
		{"fill fails", func(path string) error {
			return Write(path, func(w io.Writer) error {
				w.Write([]byte("half"))
				return boom
			})
		}, boom},
		{"abort", func(path string) error {
			f, err := Create(path)
			if err != nil {
				return err
			}
			f.Write([]byte("half"))
			f.Abort()
			return boom
		}, boom},
		{"abort then commit", func(path string) error {
			f, err := Create(path)
			if err != nil {
				return err
			}
			f.Write([]byte("half"))
			f.Abort()
			return f.Commit()
		}, ErrDone},
		{"CommitAll with one file already aborted", func(path string) error {
			a, err := Create(path)
			if err != nil {
				return err
			}
			b, err := Create(path + ".b")
			if err != nil {
				return err
			}
			a.Write([]byte("new"))
			b.Abort()
			return CommitAll(a, b)
		}, ErrDone},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out.txt")
			if err := WriteFile(path, []byte("good")); err != nil {
				t.Fatal(err)
			}
			err := tc.run(path)
			if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if got := read(t, path); got != "good" {
				t.Fatalf("the old file became %q", got)
			}
			if got := names(t, dir); len(got) != 1 || got[0] != "out.txt" {
				t.Fatalf("directory holds %v, want only out.txt", got)
			}
		})
	}
}

// TestRenameFailureRemovesTemp: when the final name cannot be replaced (it
// is a non-empty directory) Commit fails, naming the path, and removes the
// temporary file.
func TestRenameFailureRemovesTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out")
	if err := os.MkdirAll(filepath.Join(path, "inside"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	f.Write([]byte("data"))
	err = f.Commit()
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Commit over a directory: err = %v, want an error naming %s", err, path)
	}
	if got := names(t, dir); len(got) != 1 || got[0] != "out" {
		t.Fatalf("directory holds %v after a failed rename, want only out", got)
	}
}

// TestCommitThenAbortIsNoOp: the deferred Abort after a successful Commit
// leaves the committed file; writing or committing again is ErrDone.
func TestCommitThenAbortIsNoOp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.bin")
	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the final name exists before Commit: %v", err)
	}
	if _, err := f.WriteString("hello world"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("HELLO"), 0); err != nil { // patch a "header"
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("!")); err != nil { // appends after the patch
		t.Fatal(err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Abort()
	f.Abort()
	if got := read(t, path); got != "HELLO world!" {
		t.Fatalf("committed %q, want %q", got, "HELLO world!")
	}
	if got := names(t, dir); len(got) != 1 {
		t.Fatalf("directory holds %v, want only out.bin", got)
	}
	for name, err := range map[string]error{
		"Commit":  f.Commit(),
		"Write":   func() error { _, err := f.Write([]byte("x")); return err }(),
		"WriteAt": func() error { _, err := f.WriteAt([]byte("x"), 0); return err }(),
	} {
		if !errors.Is(err, ErrDone) {
			t.Errorf("%s after Commit: err = %v, want ErrDone", name, err)
		}
	}
}

func TestCommitAllRenamesEveryFile(t *testing.T) {
	dir := t.TempDir()
	var files []*File
	for _, n := range []string{"a", "b", "c"} {
		f, err := Create(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Abort()
		f.WriteString("file " + n)
		files = append(files, f)
	}
	if err := CommitAll(files...); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(t, dir), " "); got != "a b c" {
		t.Fatalf("directory holds %s, want a b c", got)
	}
	for _, n := range []string{"a", "b", "c"} {
		if got := read(t, filepath.Join(dir, n)); got != "file "+n {
			t.Errorf("%s holds %q", n, got)
		}
	}
}

func TestCreateErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ name, path, want string }{
		{"missing directory", filepath.Join(dir, "no", "out.txt"), "does the directory exist"},
		{"directory path", dir + "/", "names a directory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Create(tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Create(%q): err = %v, want it to say %q", tc.path, err, tc.want)
			}
		})
	}
}
