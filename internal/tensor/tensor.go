// Package tensor defines the float32 tensor that every backend operates on.
//
// A Tensor is a shape plus storage owned by the backend that allocated it:
// the CPU backend keeps the values in Host; a device backend keeps a device
// pointer in Dev and leaves Host nil. Layers never touch storage directly;
// they go through backend.Backend, so the same model code runs on any backend.
// Images are NCHW.
package tensor

import (
	"fmt"
	"strings"
)

// Shape is a list of dimension sizes, outermost first.
type Shape []int

// Numel returns the number of elements of a tensor of this shape.
func (s Shape) Numel() int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// Equal reports whether two shapes are identical.
func (s Shape) Equal(o Shape) bool {
	if len(s) != len(o) {
		return false
	}
	for i := range s {
		if s[i] != o[i] {
			return false
		}
	}
	return true
}

// String formats the shape as [a b c].
func (s Shape) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// Clone returns a copy of the shape that does not alias s.
func (s Shape) Clone() Shape { return append(Shape(nil), s...) }

// Tensor is a float32 tensor. Only the backend that created it may read or
// write its storage.
type Tensor struct {
	Shape Shape
	// Host holds the values for host-memory backends (len == Shape.Numel()).
	Host []float32
	// Dev is a device pointer for device backends; zero for host tensors.
	Dev uintptr
}

// Numel returns the number of elements.
func (t *Tensor) Numel() int { return t.Shape.Numel() }

// Dim returns dimension i, or 0 when the tensor has fewer dimensions.
func (t *Tensor) Dim(i int) int {
	if i < 0 || i >= len(t.Shape) {
		return 0
	}
	return t.Shape[i]
}

// NewHost allocates a zeroed host tensor. It is what the CPU backend uses;
// tests use it to build inputs.
func NewHost(shape ...int) *Tensor {
	s := Shape(shape).Clone()
	return &Tensor{Shape: s, Host: make([]float32, s.Numel())}
}

// FromHost wraps values (not copied) in a host tensor; it returns an error
// when the number of values does not match the shape.
func FromHost(values []float32, shape ...int) (*Tensor, error) {
	s := Shape(shape).Clone()
	if len(values) != s.Numel() {
		return nil, fmt.Errorf("tensor: %d values do not fill shape %v (%d elements)", len(values), s, s.Numel())
	}
	return &Tensor{Shape: s, Host: values}, nil
}

// ShapeError is returned by an op whose operands have incompatible shapes.
type ShapeError struct {
	Op     string // op name, e.g. "conv2d forward"
	What   string // which operands disagree, e.g. "weight vs input"
	Got    Shape
	Wanted Shape
}

func (e *ShapeError) Error() string {
	return fmt.Sprintf("%s: %s: got shape %v, want %v", e.Op, e.What, e.Got, e.Wanted)
}

// CheckShape returns a *ShapeError when got differs from want.
func CheckShape(op, what string, got, want Shape) error {
	if !got.Equal(want) {
		return &ShapeError{Op: op, What: what, Got: got.Clone(), Wanted: want.Clone()}
	}
	return nil
}
