package safetensors

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// goldenDir holds the files written by tools/golden/gen.py.
var goldenDir = filepath.Join("..", "..", "testdata", "golden")

// TestReadPythonWritten reads the file the golden generator's own
// safetensors writer produced and checks every value, proving the two
// implementations agree on the format.
func TestReadPythonWritten(t *testing.T) {
	f, err := Read(filepath.Join(goldenDir, "format_check.safetensors"))
	if err != nil {
		t.Fatalf("%v (regenerate with: /usr/bin/python3 tools/golden/gen.py)", err)
	}
	matrix := make([]float32, 12)
	for i := range matrix {
		matrix[i] = 0.5*float32(i) - 2
	}
	want := &File{
		Metadata: map[string]string{"writer": "tools/golden/gen.py", "unicode": "grüße ✓", "json": `{"a": [1, 2]}`},
		Tensors: []Tensor{
			NewF32("f32_matrix", []int{3, 4}, matrix),
			NewI64("i64_vector", []int{5}, []int64{-3, 0, 7, 1 << 40, -(1 << 62)}),
			NewF32("f32_scalar", []int{}, []float32{3.25}),
			NewI64("i64_scalar", []int{}, []int64{42}),
			NewF32("f32_empty", []int{0, 3}, []float32{}),
			NewF32("f32_specials", []int{5}, []float32{float32(math.Inf(1)), float32(math.Inf(-1)),
				float32(math.Copysign(0, -1)), 1e-40, math.MaxFloat32}),
		},
	}
	sameFile(t, f, want)
}

// goWritten is the file whose bytes are committed as
// testdata/golden/go_written.safetensors; tools/golden/gen.py reads it back
// with its own reader and checks these values.
func goWritten() *File {
	return &File{
		Metadata: map[string]string{"writer": "internal/safetensors", "note": "grüße"},
		Tensors: []Tensor{
			NewF32("weights", []int{2, 3}, []float32{-1, -0.5, 0, 0.5, 1, 1.5}),
			NewI64("steps", []int{2}, []int64{7, -(1 << 40)}),
			NewF32("scalar", []int{}, []float32{1.5}),
		},
	}
}

// TestGoWrittenFile keeps the committed Go-written file in sync with the
// encoder. Set SIMCLR_WRITE_GOLDEN=1 to rewrite it.
func TestGoWrittenFile(t *testing.T) {
	path := filepath.Join(goldenDir, "go_written.safetensors")
	if os.Getenv("SIMCLR_WRITE_GOLDEN") == "1" {
		if err := Write(path, goWritten()); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := Encode(&buf, goWritten()); err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create it with: SIMCLR_WRITE_GOLDEN=1 go test ./internal/safetensors -run TestGoWrittenFile)", err)
	}
	if !bytes.Equal(committed, buf.Bytes()) {
		t.Fatalf("%s is stale: the encoder now writes different bytes (rewrite with SIMCLR_WRITE_GOLDEN=1)", path)
	}
}
