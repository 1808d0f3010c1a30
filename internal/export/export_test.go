package export

import (
	"bytes"
	"encoding/csv"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Headers numpy 1.24 writes for np.save of a (2, 3) float32 and a (3,)
// int64 array: 10 bytes of magic/version/length (0x76 = 118), the dict,
// spaces (21 - len("2") growth digits plus alignment) and '\n', 128 bytes.
const (
	wantHeaderF4 = "\x93NUMPY\x01\x00v\x00" + "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" + "                                                          " + "\n"
	wantHeaderI8 = "\x93NUMPY\x01\x00v\x00" + "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }" + "                                                            " + "\n"
)

func TestNPYHeaderExactBytes(t *testing.T) {
	tests := []struct {
		descr string
		shape []int
		want  string
	}{
		{"<f4", []int{2, 3}, wantHeaderF4},
		{"<i8", []int{3}, wantHeaderI8},
	}
	for _, tc := range tests {
		got := string(npyHeader(tc.descr, tc.shape))
		if got != tc.want {
			t.Errorf("npyHeader(%s, %v) =\n%q\nwant\n%q", tc.descr, tc.shape, got, tc.want)
		}
		if len(got)%64 != 0 {
			t.Errorf("header length %d is not a multiple of 64", len(got))
		}
	}
}

func TestNPYHeaderLengthIndependentOfN(t *testing.T) {
	l0 := len(npyHeader("<f4", []int{0, 128}))
	for _, n := range []int{1, 99, 123456789, math.MaxInt64} {
		if l := len(npyHeader("<f4", []int{n, 128})); l != l0 {
			t.Errorf("header for N=%d is %d bytes, for N=0 %d: Close could not patch it in place", n, l, l0)
		}
	}
}

func TestNPYWriterMatchesNumpyBytes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "emb.npy")
	w, err := NewNPY(path, 3)
	if err != nil {
		t.Fatal(err)
	}
	// Two writes of one row each: streaming must give the same file as one.
	if err := w.Write([]string{"a.png"}, []float32{0, 1, 2}, []int64{1}); err != nil {
		t.Fatal(err)
	}
	if err := w.Write([]string{"b.png"}, []float32{3, 4, 5}, []int64{-1}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// np.save(np.arange(6, dtype='<f4').reshape(2, 3)) data bytes.
	data := []byte{0, 0, 0, 0, 0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40, 0, 0, 0x80, 0x40, 0, 0, 0xa0, 0x40}
	if want := append([]byte(wantHeaderF4), data...); !bytes.Equal(got, want) {
		t.Errorf("emb.npy =\n%q\nwant\n%q", got, want)
	}
	labels, err := os.ReadFile(filepath.Join(dir, "emb.labels.npy"))
	if err != nil {
		t.Fatal(err)
	}
	wantLabels := strings.Replace(wantHeaderI8, "(3,), }  ", "(2,), }  ", 1) +
		"\x01\x00\x00\x00\x00\x00\x00\x00" + "\xff\xff\xff\xff\xff\xff\xff\xff"
	if string(labels) != wantLabels {
		t.Errorf("emb.labels.npy =\n%q\nwant\n%q", labels, wantLabels)
	}
	ids, err := os.ReadFile(filepath.Join(dir, "emb.ids.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if string(ids) != "a.png\nb.png\n" {
		t.Errorf("emb.ids.txt = %q", ids)
	}
	assertOnly(t, dir, "emb.ids.txt", "emb.labels.npy", "emb.npy")
}

func TestNPYRoundTrip(t *testing.T) {
	const dim = 5
	tests := []struct {
		name    string
		batches []int
	}{
		{"empty", nil},
		{"one batch", []int{7}},
		{"several batches", []int{3, 0, 4, 1}},
		{"large", []int{1000, 2000, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out") // no .npy suffix: one is added
			w, err := NewNPY(path, dim)
			if err != nil {
				t.Fatal(err)
			}
			var allV []float32
			var allL []int64
			var allIDs []string
			for _, n := range tc.batches {
				ids := make([]string, n)
				vecs := make([]float32, n*dim)
				labels := make([]int64, n)
				for i := range ids {
					k := len(allIDs) + i
					ids[i] = "img" + strings.Repeat("x", k%3) + string(rune('a'+k%26))
					labels[i] = int64(k%10) - 1
					for j := 0; j < dim; j++ {
						vecs[i*dim+j] = float32(math.Sin(float64(k*dim+j))) * 1e3
					}
				}
				if err := w.Write(ids, vecs, labels); err != nil {
					t.Fatal(err)
				}
				allV, allL, allIDs = append(allV, vecs...), append(allL, labels...), append(allIDs, ids...)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			v, shape, err := ReadNPYFloat32(path + ".npy")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(shape, []int{len(allIDs), dim}) {
				t.Errorf("shape %v, want [%d %d]", shape, len(allIDs), dim)
			}
			if len(v) != len(allV) || (len(v) > 0 && !reflect.DeepEqual(v, allV)) {
				t.Errorf("values differ after round trip")
			}
			l, lshape, err := ReadNPYInt64(path + ".labels.npy")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(lshape, []int{len(allIDs)}) || (len(l) > 0 && !reflect.DeepEqual(l, allL)) || len(l) != len(allL) {
				t.Errorf("labels %v shape %v, want %v", l, lshape, allL)
			}
			ids, err := os.ReadFile(path + ".ids.txt")
			if err != nil {
				t.Fatal(err)
			}
			wantIDs := ""
			for _, id := range allIDs {
				wantIDs += id + "\n"
			}
			if string(ids) != wantIDs {
				t.Errorf("ids.txt differs")
			}
		})
	}
}

func TestReadNumpyFiles(t *testing.T) {
	v, shape, err := ReadNPYFloat32("testdata/numpy_2x2_f4.npy")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(shape, []int{2, 2}) || !reflect.DeepEqual(v, []float32{1.5, -2, 0, 3.25}) {
		t.Errorf("got %v %v", v, shape)
	}
	l, lshape, err := ReadNPYInt64("testdata/numpy_3_i8.npy")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(lshape, []int{3}) || !reflect.DeepEqual(l, []int64{4, -1, 9}) {
		t.Errorf("got %v %v", l, lshape)
	}
}

func TestReadNPYErrors(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile("testdata/numpy_2x2_f4.npy")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hdrWith := func(dict string) []byte {
		h := []byte(wantHeaderF4)
		body := []byte(dict + strings.Repeat(" ", 117-len(dict)) + "\n")
		return append(append(h[:10:10], body...), make([]byte, 16)...)
	}
	tests := []struct {
		name, path, want string
	}{
		{"missing file", filepath.Join(dir, "nope.npy"), "nope.npy"},
		{"wrong dtype", "testdata/numpy_2x3_f8.npy", `dtype "<f8"`},
		{"fortran order", "testdata/numpy_2x2_f4_fortran.npy", "Fortran"},
		{"truncated data", write("trunc.npy", good[:len(good)-1]), "truncated"},
		{"extra data", write("extra.npy", append(append([]byte{}, good...), 0)), "truncated or corrupt"},
		{"truncated header", write("trunch.npy", good[:40]), "runs past the end"},
		{"bad magic", write("magic.npy", append([]byte("XNUMPY"), good[6:]...)), "not a .npy file"},
		{"empty", write("empty.npy", nil), "not a .npy file"},
		{"bad version", write("ver.npy", append(append([]byte{}, good[:6]...), append([]byte{9, 0}, good[8:]...)...)), "version 9.0"},
		{"missing shape", write("noshape.npy", hdrWith("{'descr': '<f4', 'fortran_order': False, }")), `"shape" is missing`},
		{"unknown key", write("key.npy", hdrWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'x': 1}")), `unexpected key "x"`},
		{"bad shape", write("shape.npy", hdrWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2, two), }")), "bad shape entry"},
		{"bad bool", write("bool.npy", hdrWith("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 2), }")), "fortran_order"},
		{"unterminated", write("unterm.npy", hdrWith("{'descr': '<f4")), "unterminated"},
		{"negative dim", write("neg.npy", hdrWith("{'descr': '<f4', 'fortran_order': False, 'shape': (-2, -2), }")), "negative dimension"},
		{"huge shape", write("huge.npy", hdrWith("{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775807, 4), }")), "too large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ReadNPYFloat32(tc.path)
			if err == nil {
				t.Fatalf("no error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), filepath.Base(tc.path)) {
				t.Errorf("error %q should contain %q and the file name", err, tc.want)
			}
		})
	}
	if _, _, err := ReadNPYInt64("testdata/numpy_2x2_f4.npy"); err == nil || !strings.Contains(err.Error(), `"<i8"`) {
		t.Errorf("reading float32 as int64: %v", err)
	}
}

func TestCSVLayout(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "emb.csv")
	w, err := NewCSV(path, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write([]string{"a.png", "dir/b,c.png"}, []float32{0.5, -1, 1e-7, 3}, []int64{3, -1}); err != nil {
		t.Fatal(err)
	}
	if err := w.Write([]string{"d"}, []float32{0.1, 2}, []int64{0}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "filenames,embedding_0,embedding_1,labels\n" +
		"a.png,0.5,-1,3\n" +
		"\"dir/b,c.png\",1e-07,3,-1\n" +
		"d,0.1,2,0\n"
	if string(got) != want {
		t.Errorf("csv =\n%s\nwant\n%s", got, want)
	}
	recs, err := csv.NewReader(bytes.NewReader(got)).ReadAll()
	if err != nil || len(recs) != 4 || recs[2][0] != "dir/b,c.png" {
		t.Errorf("csv does not parse back: %v %v", recs, err)
	}
	assertOnly(t, dir, "emb.csv")
}

// newWriters builds both kinds of writer for tests that apply to both.
var newWriters = []struct {
	name  string
	new   func(string, int) (Writer, error)
	file  string
	files []string
}{
	{"npy", NewNPY, "emb.npy", []string{"emb.ids.txt", "emb.labels.npy", "emb.npy"}},
	{"csv", NewCSV, "emb.csv", []string{"emb.csv"}},
}

func TestAbortLeavesNothing(t *testing.T) {
	for _, nw := range newWriters {
		t.Run(nw.name, func(t *testing.T) {
			dir := t.TempDir()
			w, err := nw.new(filepath.Join(dir, nw.file), 2)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write([]string{"x"}, []float32{1, 2}, []int64{0}); err != nil {
				t.Fatal(err)
			}
			w.Abort()
			w.Abort() // idempotent
			assertOnly(t, dir)
			if err := w.Write([]string{"x"}, []float32{1, 2}, []int64{0}); !errors.Is(err, ErrClosed) {
				t.Errorf("Write after Abort: %v, want ErrClosed", err)
			}
			if err := w.Close(); !errors.Is(err, ErrClosed) {
				t.Errorf("Close after Abort: %v, want ErrClosed", err)
			}
		})
	}
}

func TestWriteAfterCloseErrors(t *testing.T) {
	for _, nw := range newWriters {
		t.Run(nw.name, func(t *testing.T) {
			dir := t.TempDir()
			w, err := nw.new(filepath.Join(dir, nw.file), 2)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if err := w.Write([]string{"x"}, []float32{1, 2}, []int64{0}); !errors.Is(err, ErrClosed) {
				t.Errorf("Write after Close: %v, want ErrClosed", err)
			}
			if err := w.Close(); !errors.Is(err, ErrClosed) {
				t.Errorf("second Close: %v, want ErrClosed", err)
			}
			w.Abort() // after Close: must not remove the finished files
			assertOnly(t, dir, nw.files...)
		})
	}
}

func TestOldFileSurvivesUntilClose(t *testing.T) {
	for _, nw := range newWriters {
		t.Run(nw.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, nw.file)
			for _, f := range nw.files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte("old "+f), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			check := func(wantOld bool) {
				t.Helper()
				for _, f := range nw.files {
					b, err := os.ReadFile(filepath.Join(dir, f))
					if err != nil {
						t.Fatal(err)
					}
					if isOld := string(b) == "old "+f; isOld != wantOld {
						t.Errorf("%s: old content %v, want %v", f, isOld, wantOld)
					}
				}
			}
			w, err := nw.new(path, 2)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write([]string{"x"}, []float32{1, 2}, []int64{0}); err != nil {
				t.Fatal(err)
			}
			check(true)
			w.Abort()
			check(true) // an aborted export keeps the old files
			w, err = nw.new(path, 2)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write([]string{"x"}, []float32{1, 2}, []int64{0}); err != nil {
				t.Fatal(err)
			}
			check(true)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			check(false)
			assertOnly(t, dir, nw.files...)
		})
	}
}

func TestWriteRejectsBadBatches(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		name   string
		ids    []string
		vecs   []float32
		labels []int64
		want   string
		npy    bool // only the NPY writer rejects it
	}{
		{"too few values", []string{"a", "b"}, []float32{1, 2, 3}, []int64{0, 0}, "3 values for 2 ids", false},
		{"too many labels", []string{"a"}, []float32{1, 2}, []int64{0, 1}, "2 labels for 1 ids", false},
		{"NaN", []string{"a", "b"}, []float32{1, 2, 3, nan}, []int64{0, 0}, `"b" (row 1 of the batch) has NaN at column 1`, false},
		{"Inf", []string{"a"}, []float32{float32(math.Inf(1)), 2}, []int64{0}, "+Inf at column 0", false},
		{"newline in id", []string{"a\nb"}, []float32{1, 2}, []int64{0}, "line break", true},
	}
	for _, nw := range newWriters {
		for _, tc := range tests {
			t.Run(nw.name+"/"+tc.name, func(t *testing.T) {
				dir := t.TempDir()
				w, err := nw.new(filepath.Join(dir, nw.file), 2)
				if err != nil {
					t.Fatal(err)
				}
				defer w.Abort()
				err = w.Write(tc.ids, tc.vecs, tc.labels)
				if tc.npy && nw.name != "npy" {
					if err != nil {
						t.Fatalf("unexpected error %v", err)
					}
					return
				}
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want it to contain %q", err, tc.want)
				}
				// A rejected batch writes nothing: the writer stays usable.
				if err := w.Write([]string{"ok"}, []float32{1, 2}, []int64{0}); err != nil {
					t.Fatalf("write after a rejected batch: %v", err)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				if nw.name == "npy" {
					_, shape, err := ReadNPYFloat32(filepath.Join(dir, nw.file))
					if err != nil || !reflect.DeepEqual(shape, []int{1, 2}) {
						t.Errorf("after a rejected batch: shape %v err %v, want [1 2]", shape, err)
					}
				}
			})
		}
	}
}

func TestConstructorErrors(t *testing.T) {
	dir := t.TempDir()
	for _, nw := range newWriters {
		if _, err := nw.new(filepath.Join(dir, nw.file), 0); err == nil || !strings.Contains(err.Error(), "dimension 0") {
			t.Errorf("%s dim 0: %v", nw.name, err)
		}
		if _, err := nw.new("", 3); err == nil || !strings.Contains(err.Error(), "empty output path") {
			t.Errorf("%s empty path: %v", nw.name, err)
		}
		if _, err := nw.new(filepath.Join(dir, "missing", nw.file), 3); err == nil || !strings.Contains(err.Error(), "missing") {
			t.Errorf("%s missing directory: %v", nw.name, err)
		}
	}
	assertOnly(t, dir)
}

// assertOnly fails unless dir holds exactly the named files (sorted).
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if len(got) != len(names) || (len(got) > 0 && !reflect.DeepEqual(got, names)) {
		t.Errorf("directory holds %v, want %v", got, names)
	}
}

// failingWriter records calls and fails Close when told to.
type failingWriter struct {
	rows            int
	closed, aborted bool
	failClose       bool
}

func (f *failingWriter) Write(ids []string, vecs []float32, labels []int64) error {
	f.rows += len(ids)
	return nil
}

func (f *failingWriter) Close() error {
	f.closed = true
	if f.failClose {
		return errors.New("cannot draw")
	}
	return nil
}

func (f *failingWriter) Abort() { f.aborted = true }

// TestTee: every writer gets every row; a failing Close aborts the writers
// after it, so the NPY files do not appear when the writer before them fails.
func TestTee(t *testing.T) {
	for _, tc := range []struct {
		name      string
		failFirst bool
		wantFiles bool
	}{{"all succeed", false, true}, {"first fails", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			first := &failingWriter{failClose: tc.failFirst}
			npy, err := NewNPY(filepath.Join(dir, "e.npy"), 2)
			if err != nil {
				t.Fatal(err)
			}
			w := Tee(first, npy)
			defer w.Abort()
			if err := w.Write([]string{"a", "b"}, []float32{1, 2, 3, 4}, []int64{0, 1}); err != nil {
				t.Fatal(err)
			}
			err = w.Close()
			if (err == nil) != tc.wantFiles {
				t.Fatalf("Close: err = %v", err)
			}
			if first.rows != 2 || !first.closed {
				t.Fatalf("the first writer got %d rows, closed %v", first.rows, first.closed)
			}
			if tc.wantFiles {
				assertOnly(t, dir, "e.ids.txt", "e.labels.npy", "e.npy")
			} else {
				assertOnly(t, dir)
			}
		})
	}
}
