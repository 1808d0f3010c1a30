package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func sampleFile() *File {
	return &File{
		Metadata: map[string]string{"format": "simclr-encoder-v1", "mean": "[0.5, 0.5]", "ünï": "cödé \"q\""},
		Tensors: []Tensor{
			NewF32("conv1.weight", []int{3, 1, 2, 2}, []float32{1, -2, 3.5, float32(math.Inf(1)), 0, -0, 1e-30, 7, 8, 9, 10, 11}),
			NewI64("bn1.num_batches_tracked", nil, []int64{42}),
			NewF32("empty", []int{0, 3}, []float32{}),
			NewI64("labels", []int{3}, []int64{-1, math.MaxInt64, math.MinInt64}),
			NewF32("bias", []int{1}, []float32{float32(math.NaN())}),
		},
	}
}

// sameFile compares two files, treating NaN bit patterns as values.
func sameFile(t *testing.T, got, want *File) {
	t.Helper()
	if len(got.Tensors) != len(want.Tensors) {
		t.Fatalf("got %d tensors, want %d", len(got.Tensors), len(want.Tensors))
	}
	for i := range want.Tensors {
		g, w := got.Tensors[i], want.Tensors[i]
		if g.Name != w.Name || g.DType != w.DType || len(g.Shape) != len(w.Shape) {
			t.Fatalf("tensor %d: got %s %s %v, want %s %s %v", i, g.Name, g.DType, g.Shape, w.Name, w.DType, w.Shape)
		}
		for j := range w.Shape {
			if g.Shape[j] != w.Shape[j] {
				t.Fatalf("tensor %s: shape %v, want %v", w.Name, g.Shape, w.Shape)
			}
		}
		if len(g.F32) != len(w.F32) || len(g.I64) != len(w.I64) {
			t.Fatalf("tensor %s: %d/%d values, want %d/%d", w.Name, len(g.F32), len(g.I64), len(w.F32), len(w.I64))
		}
		for j := range w.F32 {
			if math.Float32bits(g.F32[j]) != math.Float32bits(w.F32[j]) {
				t.Fatalf("tensor %s[%d] = %v, want %v", w.Name, j, g.F32[j], w.F32[j])
			}
		}
		for j := range w.I64 {
			if g.I64[j] != w.I64[j] {
				t.Fatalf("tensor %s[%d] = %v, want %v", w.Name, j, g.I64[j], w.I64[j])
			}
		}
	}
	if len(want.Metadata) == 0 {
		if len(got.Metadata) != 0 {
			t.Fatalf("metadata %v, want none", got.Metadata)
		}
	} else if !reflect.DeepEqual(got.Metadata, want.Metadata) {
		t.Fatalf("metadata %v, want %v", got.Metadata, want.Metadata)
	}
}

func TestRoundTrip(t *testing.T) {
	cases := map[string]*File{
		"sample":      sampleFile(),
		"no metadata": {Tensors: []Tensor{NewF32("a", []int{2}, []float32{1, 2})}},
		"empty file":  {},
		"only meta":   {Metadata: map[string]string{"k": ""}},
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.safetensors")
			if err := Write(path, f); err != nil {
				t.Fatal(err)
			}
			got, err := Read(path)
			if err != nil {
				t.Fatal(err)
			}
			sameFile(t, got, f)
			var buf bytes.Buffer
			if err := Encode(&buf, f); err != nil {
				t.Fatal(err)
			}
			if (8+binary.LittleEndian.Uint64(buf.Bytes()))%8 != 0 {
				t.Errorf("data section does not start on an 8-byte boundary")
			}
			onDisk, _ := os.ReadFile(path)
			if !bytes.Equal(onDisk, buf.Bytes()) {
				t.Errorf("Write and Encode produced different bytes")
			}
		})
	}
}

func TestGet(t *testing.T) {
	f := sampleFile()
	tt, ok := f.Get("labels")
	if !ok || tt.I64[0] != -1 {
		t.Fatalf("Get(labels) = %v, %v", tt, ok)
	}
	tt.I64[0] = 5 // Get returns a pointer into the file
	if f.Tensors[3].I64[0] != 5 {
		t.Errorf("Get did not return the stored tensor")
	}
	if _, ok := f.Get("missing"); ok {
		t.Errorf("Get(missing) reported ok")
	}
}

// TestByteLayout checks Encode against a buffer assembled by hand from the
// format description.
func TestByteLayout(t *testing.T) {
	f := &File{
		Metadata: map[string]string{"b": "2", "a": "1"},
		Tensors: []Tensor{
			NewF32("x", []int{2}, []float32{1, -2}),
			NewI64("n", []int{}, []int64{7}),
		},
	}
	hdr := `{"__metadata__":{"a":"1","b":"2"},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"n":{"dtype":"I64","shape":[],"data_offsets":[8,16]}}`
	for len(hdr)%8 != 0 {
		hdr += " "
	}
	var want []byte
	want = binary.LittleEndian.AppendUint64(want, uint64(len(hdr)))
	want = append(want, hdr...)
	want = append(want, 0x00, 0x00, 0x80, 0x3f) // 1.0f
	want = append(want, 0x00, 0x00, 0x00, 0xc0) // -2.0f
	want = append(want, 7, 0, 0, 0, 0, 0, 0, 0)
	var buf bytes.Buffer
	if err := Encode(&buf, f); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("encoded bytes differ\n got %q\nwant %q", buf.Bytes(), want)
	}
	got, err := Decode(want)
	if err != nil {
		t.Fatal(err)
	}
	sameFile(t, got, f)
}

// craft builds a file from a raw header and data section.
func craft(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func TestDecodeCorrupt(t *testing.T) {
	valid := craft(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}}`, make([]byte, 16))
	if _, err := Decode(valid); err != nil {
		t.Fatalf("baseline file rejected: %v", err)
	}
	huge := binary.LittleEndian.AppendUint64(nil, 200<<20)
	huge = append(huge, make([]byte, 64)...)
	cases := []struct {
		name string
		data []byte
		want []string // substrings the error must contain
	}{
		{"empty", nil, []string{"truncated", "8"}},
		{"short length", []byte{1, 2, 3}, []string{"truncated"}},
		{"header past end", craft(`{}`, nil)[:9], []string{"header length 2", "truncated"}},
		{"header length too big", huge, []string{"header length", "limit"}},
		{"data truncated", valid[:len(valid)-3], []string{`"b"`, "truncated"}},
		{"bad json", craft(`{"a":{"dtype":"F32",`, nil), []string{"invalid JSON"}},
		{"not an object", craft(`[1,2]`, nil), []string{"JSON object"}},
		{"trailing garbage", craft(`{} x`, nil), []string{"after the header"}},
		{"unknown dtype", craft(`{"w":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), []string{`"w"`, "unknown dtype", "Q7"}},
		{"unsupported dtype", craft(`{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 4)), []string{`"w"`, "unsupported dtype", "F16", "float32"}},
		{"offset mismatch", craft(`{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8)), []string{`"w"`, "needs 12 bytes", "span 8"}},
		{"offsets reversed", craft(`{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, make([]byte, 8)), []string{`"w"`, "end before"}},
		{"overlapping", craft(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)), []string{`"b"`, "overlap", `"a"`}},
		{"gap", craft(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, make([]byte, 12)), []string{`"b"`, "gap"}},
		{"out of range", craft(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, make([]byte, 8)), []string{`"a"`, "past the end"}},
		{"trailing bytes", craft(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 8)), []string{"trailing"}},
		{"negative dim", craft(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, make([]byte, 4)), []string{`"a"`, "dimension"}},
		{"huge shape", craft(`{"a":{"dtype":"F32","shape":[4294967295,4294967295,4294967295],"data_offsets":[0,4]}}`, make([]byte, 4)), []string{`"a"`, "too large"}},
		{"missing field", craft(`{"a":{"dtype":"F32","shape":[1]}}`, make([]byte, 4)), []string{`"a"`, "data_offsets"}},
		{"unknown field", craft(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, make([]byte, 4)), []string{`"a"`, "invalid record"}},
		{"three offsets", craft(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, make([]byte, 4)), []string{`"a"`, "[begin, end]"}},
		{"duplicate key", craft(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), []string{`"a"`, "twice"}},
		{"metadata not string", craft(`{"__metadata__":{"epoch":3}}`, nil), []string{"__metadata__", `"epoch"`, "not a string"}},
		{"metadata not object", craft(`{"__metadata__":[1]}`, nil), []string{"__metadata__"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Decode(c.data)
			if err == nil {
				t.Fatalf("Decode accepted a corrupt file: %+v", f)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestReadErrorsNameFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.safetensors")
	if _, err := Read(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Read(missing) error %v does not name the file", err)
	}
	bad := filepath.Join(dir, "bad.safetensors")
	if err := os.WriteFile(bad, craft(`{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 4)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Read(bad)
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), `"w"`) {
		t.Errorf("Read(bad) error %v does not name the file and the tensor", err)
	}
}

func TestEncodeRejectsInvalid(t *testing.T) {
	cases := []struct {
		name string
		t    []Tensor
		want string
	}{
		{"short data", []Tensor{NewF32("w", []int{2, 2}, []float32{1, 2, 3})}, `"w"`},
		{"both slices", []Tensor{{Name: "w", DType: F32, Shape: []int{1}, F32: []float32{1}, I64: []int64{1}}}, `"w"`},
		{"i64 without values", []Tensor{{Name: "n", DType: I64, Shape: []int{1}, F32: []float32{1}}}, `"n"`},
		{"bad dtype", []Tensor{{Name: "h", DType: "F16", Shape: []int{1}}}, "F16"},
		{"negative dim", []Tensor{NewF32("w", []int{-1}, nil)}, "negative"},
		{"empty name", []Tensor{NewF32("", []int{1}, []float32{1})}, "empty name"},
		{"reserved name", []Tensor{NewF32("__metadata__", []int{1}, []float32{1})}, "reserved"},
		{"duplicate", []Tensor{NewF32("w", []int{1}, []float32{1}), NewF32("w", []int{1}, []float32{2})}, "twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Encode(&bytes.Buffer{}, &File{Tensors: c.t})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Encode error %v, want one mentioning %q", err, c.want)
			}
		})
	}
	if err := Encode(&bytes.Buffer{}, nil); err == nil {
		t.Errorf("Encode(nil) succeeded")
	}
}

// listDir returns the names in dir.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	good := sampleFile()
	if err := Write(path, good); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)

	// A file that fails validation half-way through the tensor list.
	bad := &File{Tensors: []Tensor{NewF32("ok", []int{1}, []float32{1}), NewF32("broken", []int{4}, []float32{1})}}
	err := Write(path, bad)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `"broken"`) {
		t.Fatalf("Write(bad) error %v, want one naming the path and the tensor", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Errorf("a failed Write changed the existing file")
	}
	if names := listDir(t, dir); len(names) != 1 || names[0] != "model.safetensors" {
		t.Errorf("directory holds %v after a failed write, want only model.safetensors", names)
	}

	// A rename that fails: the target is a non-empty directory.
	target := filepath.Join(dir, "occupied")
	if err := os.MkdirAll(filepath.Join(target, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Write(target, good); err == nil {
		t.Errorf("Write over a non-empty directory succeeded")
	}
	if names := listDir(t, dir); len(names) != 2 {
		t.Errorf("directory holds %v after a failed rename, want no temporary files", names)
	}

	// A directory that does not exist.
	if err := Write(filepath.Join(dir, "nope", "x.safetensors"), good); err == nil {
		t.Errorf("Write into a missing directory succeeded")
	}
}

func TestDecodeDoesNotAlias(t *testing.T) {
	var buf bytes.Buffer
	if err := Encode(&buf, &File{Tensors: []Tensor{NewF32("a", []int{1}, []float32{3})}}); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	f, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 0xff
	}
	if f.Tensors[0].F32[0] != 3 {
		t.Errorf("decoded tensor aliases the input buffer")
	}
}

// TestDecodeTensorOrder checks tensors come back in data order whatever the
// key order of the header.
func TestDecodeTensorOrder(t *testing.T) {
	data := craft(`{"z":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`,
		[]byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0x40})
	f, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if f.Tensors[0].Name != "a" || f.Tensors[0].F32[0] != 1 || f.Tensors[1].Name != "z" || f.Tensors[1].F32[0] != 2 {
		t.Errorf("got %+v, want a=1 then z=2", f.Tensors)
	}
}

// FuzzDecode checks that no input makes Decode panic and that whatever it
// accepts re-encodes to an equivalent file.
func FuzzDecode(f *testing.F) {
	var buf bytes.Buffer
	_ = Encode(&buf, sampleFile())
	f.Add(buf.Bytes())
	f.Add(craft(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Decode(data)
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := Encode(&out, file); err != nil {
			t.Fatalf("re-encode of an accepted file failed: %v", err)
		}
		again, err := Decode(out.Bytes())
		if err != nil {
			t.Fatalf("decode of a re-encoded file failed: %v", err)
		}
		sameFile(t, again, file)
	})
}
