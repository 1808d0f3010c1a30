// Package cpu is the pure-Go reference implementation of backend.Backend.
//
// Every op runs on host tensors (tensor.Tensor.Host) and splits its work over
// GOMAXPROCS goroutines with a fixed chunking: chunk boundaries, and the order
// in which partial sums of reductions are combined, depend only on the shapes,
// so every result is bit-identical whatever GOMAXPROCS is. Reductions
// (batch-norm statistics, bias gradients, losses, SumSquares, Dot) accumulate
// in float64. Convolutions use im2col around gemm products with the weight
// matrix packed once per call (gemm.PackA), with scratch buffers reused
// from a per-backend pool; the input gradient of a stride-1 convolution
// whose output is as large as its input is the forward convolution of dy
// with the flipped kernel, that of a strided convolution with K > 1 is
// computed per input phase on the shifted layout (conv_dgrad_phase.go),
// other geometries use col2im. 3x3 stride-1 padding-1 convolutions with
// at least 128 channels (forward, and so the data gradient) run as Winograd
// F(2x2,3x3) (conv_winograd.go; not bit-identical to im2col, see its
// tests for the measured error). Pool buffers from 1 MiB are advised to use
// transparent huge pages on Linux (hugepage_linux.go). In TF32 or BF16
// (SetMatmulPrecision) the operands of the convolution and linear
// products are rounded to the format first, where each product reads them
// (precision.go).
//
// Each op checks that its operands are host tensors (checkHost) and then
// their shapes with the shared shape inference (backend.Check*), so its
// errors are those of every backend. Shape errors are *tensor.ShapeError
// values naming the op and both shapes.
// When an operand has the wrong number of dimensions the wanted shape shows
// -1 for each dimension of any size, e.g. "want [-1 -1 -1 -1]" for a 4-D
// tensor.
package cpu

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"simclr/internal/backend"
	"simclr/internal/tensor"
)

// Tensor is the backend's tensor type.
type Tensor = tensor.Tensor

// maxElements bounds the size of one tensor (16 Gi elements, 64 GiB).
const maxElements = 1 << 34

// Backend is the CPU implementation of backend.Backend. The zero value is
// not usable; call New. It is safe for concurrent use by several goroutines
// as long as they do not write the same tensors.
type Backend struct {
	scratch scratchPool // im2col, col2im and partial-sum buffers
	storage scratchPool // storage of freed tensors, reused by New

	mu      sync.Mutex
	owned   map[*Tensor]int64 // live tensors created by New -> bytes
	current int64
	peak    int64
	closed  bool

	// convPath chooses between the im2col, shifted and Winograd
	// convolution paths; tests set it to compare them.
	convPath convPathMode

	// bnByChannel runs the training-mode batch-norm passes over fixed
	// channel blocks (part 5's layout) instead of image chunks; tests and
	// benchmarks set it to compare the two.
	bnByChannel bool

	// precision is the backend.Precision of the matrix products' operands
	// (SetMatmulPrecision; precision.go).
	precision atomic.Int32
}

var _ backend.Backend = (*Backend)(nil)

// New returns a CPU backend.
func New() *Backend {
	return &Backend{owned: make(map[*Tensor]int64)}
}

// Name returns "cpu".
func (b *Backend) Name() string { return "cpu" }

// Close drops every pooled buffer and forgets the live tensors; later calls
// to New fail. Tensors already handed out stay valid host memory.
func (b *Backend) Close() error {
	b.mu.Lock()
	b.closed = true
	b.owned = make(map[*Tensor]int64)
	b.current = 0
	b.mu.Unlock()
	b.scratch.reset()
	b.storage.reset()
	return nil
}

// New allocates a zeroed host tensor of the given shape.
func (b *Backend) New(shape ...int) (*Tensor, error) {
	n := 1
	for i, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("cpu new: dimension %d of shape %v is negative; every size must be >= 0", i, tensor.Shape(shape))
		}
		if d > 0 && n > maxElements/d {
			return nil, fmt.Errorf("cpu new: shape %v has more than %d elements; use a smaller batch or image size", tensor.Shape(shape), int64(maxElements))
		}
		n *= d
	}
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return nil, errors.New("cpu new: backend is closed; create a new one with cpu.New")
	}
	buf := b.storage.getZeroed(n)
	t := &Tensor{Shape: tensor.Shape(shape).Clone(), Host: buf}
	bytes := int64(n) * 4
	b.mu.Lock()
	b.owned[t] = bytes
	b.current += bytes
	if b.current > b.peak {
		b.peak = b.current
	}
	b.mu.Unlock()
	return t, nil
}

// Free releases a tensor created by New: its storage goes back to a pool
// for reuse and t.Host is set to nil, so any later use of t is an error
// rather than silent aliasing. Free(nil) and tensors not created by this
// backend are ignored.
func (b *Backend) Free(t *Tensor) {
	if t == nil {
		return
	}
	b.mu.Lock()
	bytes, ok := b.owned[t]
	if ok {
		delete(b.owned, t)
		b.current -= bytes
	}
	b.mu.Unlock()
	if !ok {
		return
	}
	buf := t.Host
	t.Host = nil
	b.storage.put(buf)
}

// View returns a tensor of shape over the first elements of t's values
// (no copy). It is valid while t is; Free of a view does nothing.
func (b *Backend) View(t *Tensor, shape ...int) (*Tensor, error) {
	if err := checkHost(backend.OpView, "t", t); err != nil {
		return nil, err
	}
	if err := backend.CheckView(t.Shape, shape); err != nil {
		return nil, err
	}
	n := tensor.Shape(shape).Numel()
	return &Tensor{Shape: tensor.Shape(shape).Clone(), Host: t.Host[:n:n]}, nil
}

// PeakBytes is the largest number of bytes held at once by tensors that
// New created and Free has not released.
func (b *Backend) PeakBytes() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.peak
}

// Upload copies src into dst.
func (b *Backend) Upload(dst *Tensor, src []float32) error {
	if err := checkHost(backend.OpUpload, "dst", dst); err != nil {
		return err
	}
	if err := backend.CheckUpload(dst.Shape, len(src)); err != nil {
		return err
	}
	copy(dst.Host, src)
	return nil
}

// Download copies src into dst.
func (b *Backend) Download(dst []float32, src *Tensor) error {
	if err := checkHost(backend.OpDownload, "src", src); err != nil {
		return err
	}
	if err := backend.CheckDownload(len(dst), src.Shape); err != nil {
		return err
	}
	copy(dst, src.Host)
	return nil
}

// Zero sets every element of t to 0.
func (b *Backend) Zero(t *Tensor) error {
	if err := checkHost(backend.OpZero, "t", t); err != nil {
		return err
	}
	clear(t.Host)
	return nil
}

// Copy copies src into dst; both must hold the same number of elements.
func (b *Backend) Copy(dst, src *Tensor) error {
	if err := checkHost(backend.OpCopy, "dst src", dst, src); err != nil {
		return err
	}
	if err := backend.CheckCopy(dst.Shape, src.Shape); err != nil {
		return err
	}
	copy(dst.Host, src.Host)
	return nil
}

// Sync returns at once: every CPU op has finished when it returns.
func (b *Backend) Sync() error { return nil }

// checkHost is the cpu backend's residency check: it rejects nil tensors
// and tensors whose storage is not a host slice of the right length (device
// tensors, freed tensors). names lists the operands ts in order, separated
// by spaces; a name ending in "?" marks an optional operand, which may be
// nil. Shapes are checked afterwards by the backend package's shape
// inference.
func checkHost(op, names string, ts ...*Tensor) error {
	for _, t := range ts {
		name, rest, _ := strings.Cut(names, " ")
		names = rest
		name, optional := strings.CutSuffix(name, "?")
		if t == nil && optional {
			continue
		}
		if err := checkHostTensor(op, name, t); err != nil {
			return err
		}
	}
	return nil
}

func checkHostTensor(op, name string, t *Tensor) error {
	if t == nil {
		return fmt.Errorf("%s: %s is nil; pass a tensor created by the backend's New", op, name)
	}
	if t.Dev != 0 {
		return fmt.Errorf("%s: %s %v is a device tensor; the cpu backend needs host tensors (download it first)", op, name, t.Shape)
	}
	for i, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("%s: %s shape %v has negative dimension %d", op, name, t.Shape, i)
		}
	}
	if len(t.Host) != t.Shape.Numel() || (t.Host == nil && t.Shape.Numel() != 0) {
		return fmt.Errorf("%s: %s %v has %d host values, want %d (freed, or not created by the cpu backend?)", op, name, t.Shape, len(t.Host), t.Shape.Numel())
	}
	return nil
}
