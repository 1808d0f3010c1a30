// Package golden loads the PyTorch golden files in testdata/golden (written
// by tools/golden/gen.py) for Go tests and compares results against them
// with explicit tolerances. It is test support: every function takes a
// testing.TB and fails the test on a missing or malformed entry, with a hint
// on how to regenerate the files.
package golden

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"simclr/internal/safetensors"
)

// Regenerate is the command that rewrites the golden files.
const Regenerate = "/usr/bin/python3 tools/golden/gen.py (from the repository root)"

// Dir returns the absolute path of testdata/golden, found by walking up from
// the working directory (a package directory under go test) to go.mod.
func Dir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("golden: working directory: %w", err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "testdata", "golden"), nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("golden: no go.mod above %s", wd)
		}
	}
}

// File is one loaded golden file bound to a test.
type File struct {
	*safetensors.File
	Path string
	tb   testing.TB
}

// Open reads testdata/golden/name, failing the test if it cannot.
func Open(tb testing.TB, name string) *File {
	tb.Helper()
	dir, err := Dir()
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, name)
	f, err := safetensors.Read(path)
	if err != nil {
		tb.Fatalf("golden file: %v; regenerate with %s", err, Regenerate)
	}
	return &File{File: f, Path: path, tb: tb}
}

func (f *File) get(name, dtype string) *safetensors.Tensor {
	f.tb.Helper()
	t, ok := f.Get(name)
	if !ok {
		f.tb.Fatalf("golden file %s has no tensor %q; regenerate with %s", f.Path, name, Regenerate)
	}
	if t.DType != dtype {
		f.tb.Fatalf("golden file %s: tensor %q is %s, want %s", f.Path, name, t.DType, dtype)
	}
	return t
}

// F32 returns the values of a float32 tensor (not a copy).
func (f *File) F32(name string) []float32 {
	f.tb.Helper()
	return f.get(name, safetensors.F32).F32
}

// I64 returns the values of an int64 tensor (not a copy).
func (f *File) I64(name string) []int64 {
	f.tb.Helper()
	return f.get(name, safetensors.I64).I64
}

// Shape returns the shape of a tensor of either dtype.
func (f *File) Shape(name string) []int {
	f.tb.Helper()
	t, ok := f.Get(name)
	if !ok {
		f.tb.Fatalf("golden file %s has no tensor %q; regenerate with %s", f.Path, name, Regenerate)
	}
	return append([]int(nil), t.Shape...)
}

// Scalar returns the single value of a one-element float32 tensor.
func (f *File) Scalar(name string) float64 {
	f.tb.Helper()
	v := f.F32(name)
	if len(v) != 1 {
		f.tb.Fatalf("golden file %s: tensor %q has %d values, want 1", f.Path, name, len(v))
	}
	return float64(v[0])
}

// Names returns the tensor names that start with prefix, sorted.
func (f *File) Names(prefix string) []string {
	var out []string
	for _, t := range f.Tensors {
		if strings.HasPrefix(t.Name, prefix) {
			out = append(out, t.Name)
		}
	}
	sort.Strings(out)
	return out
}

// Meta decodes the JSON metadata value key into v.
func (f *File) Meta(key string, v any) {
	f.tb.Helper()
	s, ok := f.Metadata[key]
	if !ok {
		f.tb.Fatalf("golden file %s has no metadata %q; regenerate with %s", f.Path, key, Regenerate)
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		f.tb.Fatalf("golden file %s: metadata %q: %v", f.Path, key, err)
	}
}

// Tol is a comparison tolerance: an element passes when
//
//	|got - want| <= ATol*scale + RTol*|want|
//
// where scale = max(1, max|want|) over the compared tensor. Scaling ATol by
// the tensor's magnitude judges elements that are small through
// cancellation against the size of the terms that produced them, which is
// what float32 rounding error is proportional to.
type Tol struct {
	RTol, ATol float64
}

func (t Tol) String() string { return fmt.Sprintf("rtol %.0e, atol %.0e*scale", t.RTol, t.ATol) }

// MaxAbs returns max |v|, or 0 for an empty slice.
func MaxAbs(v []float32) float64 {
	m := 0.0
	for _, x := range v {
		m = math.Max(m, math.Abs(float64(x)))
	}
	return m
}

// Check returns an error describing every way got differs from want
// beyond tol: a length mismatch, a non-finite value, or elements out of
// tolerance (the worst few are listed); nil when they agree.
func Check(got, want []float32, tol Tol) error {
	if len(got) != len(want) {
		return fmt.Errorf("got %d values, want %d", len(got), len(want))
	}
	scale := math.Max(1, MaxAbs(want))
	type bad struct {
		i              int
		g, w, diff, ok float64
	}
	var bads []bad
	worst := 0.0
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(g) || math.IsInf(g, 0) {
			return fmt.Errorf("[%d] = %v, want %v (non-finite result)", i, g, w)
		}
		diff := math.Abs(g - w)
		ok := tol.ATol*scale + tol.RTol*math.Abs(w)
		if diff > ok {
			bads = append(bads, bad{i, g, w, diff, ok})
			worst = math.Max(worst, diff/ok)
		}
	}
	if len(bads) == 0 {
		return nil
	}
	sort.SliceStable(bads, func(a, b int) bool { return bads[a].diff/bads[a].ok > bads[b].diff/bads[b].ok })
	var sb strings.Builder
	for k, b := range bads {
		if k == 5 {
			fmt.Fprintf(&sb, "\n  ... and %d more", len(bads)-5)
			break
		}
		fmt.Fprintf(&sb, "\n  [%d] got %.8g want %.8g |diff| %.3g > %.3g", b.i, b.g, b.w, b.diff, b.ok)
	}
	return fmt.Errorf("%d of %d values outside %v (worst %.1fx the tolerance):%s", len(bads), len(want), tol, worst, sb.String())
}

// Compare reports a Check failure with tb.Errorf, prefixed by what, and
// returns whether the values agreed.
func Compare(tb testing.TB, what string, got, want []float32, tol Tol) bool {
	tb.Helper()
	if err := Check(got, want, tol); err != nil {
		tb.Errorf("%s: %v", what, err)
		return false
	}
	return true
}

// CompareScalar checks one value with |got-want| <= atol + rtol*|want|.
func CompareScalar(tb testing.TB, what string, got, want, rtol, atol float64) bool {
	tb.Helper()
	if math.IsNaN(got) || math.IsInf(got, 0) || math.Abs(got-want) > atol+rtol*math.Abs(want) {
		tb.Errorf("%s = %.9g, want %.9g (rtol %.0e, atol %.0e)", what, got, want, rtol, atol)
		return false
	}
	return true
}

// RelErrNorm returns ||got - want|| / ||want|| (0 when both are zero, +Inf
// when only want is).
func RelErrNorm(got, want []float32) float64 {
	var d, n float64
	for i := range want {
		e := float64(got[i]) - float64(want[i])
		d += e * e
		n += float64(want[i]) * float64(want[i])
	}
	if n == 0 {
		if d == 0 {
			return 0
		}
		return math.Inf(1)
	}
	return math.Sqrt(d / n)
}

// Norm returns the L2 norm of v in float64.
func Norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}
