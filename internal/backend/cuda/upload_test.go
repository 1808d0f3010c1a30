//go:build cuda || cudaemu

package cuda

import (
	"fmt"
	"math"
	"testing"
)

func downloadTensor(t *testing.T, b *Backend, x *Tensor) []float32 {
	t.Helper()
	out := make([]float32, x.Numel())
	if err := b.Download(out, x); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameValues(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: [%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

func pattern(n, seed int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32((i*7+seed*13)%101) - 50
	}
	return v
}

// TestUploadThenUse: a kernel queued after Upload reads the uploaded
// values (ReLU of a pattern with negative and positive values).
func TestUploadThenUse(t *testing.T) {
	b, _ := newCountingBackend(t)
	src := pattern(1000, 1)
	x := newFilled(t, b, nil, 1000)
	y := newFilled(t, b, nil, 1000)
	if err := b.Upload(x, src); err != nil {
		t.Fatal(err)
	}
	if err := b.ReLUForward(x, y); err != nil {
		t.Fatal(err)
	}
	want := make([]float32, len(src))
	for i, v := range src {
		want[i] = max(v, 0)
	}
	sameValues(t, "relu of the upload", downloadTensor(t, b, y), want)
}

// TestUploadCallerSliceFree: the caller overwrites its slice right after
// Upload (and uploads the changed slice to another tensor); each tensor
// holds the values the slice had at its Upload.
func TestUploadCallerSliceFree(t *testing.T) {
	b, _ := newCountingBackend(t)
	const n = 4099
	xs := make([]*Tensor, 4)
	for i := range xs { // allocate first: the uploads then run back to back
		xs[i] = newFilled(t, b, nil, n)
	}
	src := pattern(n, 0)
	var wants [][]float32
	for i := range xs {
		if err := b.Upload(xs[i], src); err != nil {
			t.Fatal(err)
		}
		wants = append(wants, append([]float32(nil), src...))
		for j := range src { // reuse the slice at once
			src[j] = float32(-(i + 1))
		}
	}
	for i, x := range xs {
		sameValues(t, fmt.Sprintf("tensor %d", i), downloadTensor(t, b, x), wants[i])
	}
}

// TestUploadManySizes: a run of uploads of different sizes (two larger
// than a staging buffer, copied in pieces through both buffers, and
// growing and shrinking pieces) into distinct tensors, downloaded only at
// the end. The staging buffers are capped at 256 KiB here so that the
// pieces come from small tensors.
func TestUploadManySizes(t *testing.T) {
	old := stageMaxBytes
	stageMaxBytes = 256 << 10
	t.Cleanup(func() { stageMaxBytes = old })
	b, _ := newCountingBackend(t)
	sizes := []int{1, 3, 1000, 70000, 3*64<<10 + 12345, 5, 16384, 300001, 2}
	xs := make([]*Tensor, len(sizes))
	for i, n := range sizes {
		xs[i] = newFilled(t, b, nil, n)
	}
	for i, n := range sizes {
		if err := b.Upload(xs[i], pattern(n, i)); err != nil {
			t.Fatalf("upload %d of %d values: %v", i, n, err)
		}
	}
	for i, n := range sizes {
		sameValues(t, fmt.Sprintf("upload %d (%d values)", i, n), downloadTensor(t, b, xs[i]), pattern(n, i))
	}
}

// TestUploadOrdering: uploads, kernels, Download and Sync keep stream
// order: a kernel queued between two uploads into the same tensor sees
// the first; a Download right after an Upload sees it; after Sync the
// staging buffers are idle and the data is in place.
func TestUploadOrdering(t *testing.T) {
	b, _ := newCountingBackend(t)
	const n = 777
	a, c := pattern(n, 2), pattern(n, 3)
	x := newFilled(t, b, nil, n)
	y := newFilled(t, b, nil, n)
	if err := b.Upload(x, a); err != nil {
		t.Fatal(err)
	}
	if err := b.Copy(y, x); err != nil { // queued after the first upload
		t.Fatal(err)
	}
	if err := b.Upload(x, c); err != nil {
		t.Fatal(err)
	}
	sameValues(t, "x after the second upload", downloadTensor(t, b, x), c)
	sameValues(t, "y (copied between the uploads)", downloadTensor(t, b, y), a)
	for i := range 5 {
		if err := b.Upload(x, pattern(n, 10+i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	sameValues(t, "x after Sync", downloadTensor(t, b, x), pattern(n, 14))
}
