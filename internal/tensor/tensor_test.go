package tensor

import (
	"errors"
	"strings"
	"testing"
)

func TestShape(t *testing.T) {
	tests := []struct {
		s     Shape
		numel int
		str   string
	}{
		{Shape{}, 1, "[]"},
		{Shape{3}, 3, "[3]"},
		{Shape{2, 3, 4}, 24, "[2 3 4]"},
		{Shape{5, 0}, 0, "[5 0]"},
	}
	for _, tt := range tests {
		if got := tt.s.Numel(); got != tt.numel {
			t.Errorf("%v.Numel() = %d, want %d", tt.s, got, tt.numel)
		}
		if got := tt.s.String(); got != tt.str {
			t.Errorf("String() = %q, want %q", got, tt.str)
		}
		c := tt.s.Clone()
		if !c.Equal(tt.s) {
			t.Errorf("Clone of %v is not equal", tt.s)
		}
		if len(c) > 0 {
			c[0]++
			if c.Equal(tt.s) {
				t.Errorf("Clone of %v aliases it", tt.s)
			}
		}
	}
	if (Shape{2, 3}).Equal(Shape{3, 2}) || (Shape{2}).Equal(Shape{2, 1}) {
		t.Error("Equal accepted different shapes")
	}
}

func TestFromHostAndCheckShape(t *testing.T) {
	if _, err := FromHost(make([]float32, 5), 2, 3); err == nil || !strings.Contains(err.Error(), "[2 3]") {
		t.Fatalf("FromHost with 5 values for [2 3]: err = %v", err)
	}
	x, err := FromHost(make([]float32, 6), 2, 3)
	if err != nil || x.Dim(1) != 3 || x.Dim(2) != 0 || x.Numel() != 6 {
		t.Fatalf("FromHost: %v %v", x, err)
	}
	if err := CheckShape("conv2d forward", "weight", Shape{8, 3, 3, 3}, Shape{8, 3, 3, 3}); err != nil {
		t.Fatal(err)
	}
	err = CheckShape("conv2d forward", "weight vs input", Shape{8, 1, 3, 3}, Shape{8, 3, 3, 3})
	var se *ShapeError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "conv2d forward") || !strings.Contains(err.Error(), "[8 1 3 3]") || !strings.Contains(err.Error(), "[8 3 3 3]") {
		t.Fatalf("CheckShape error %v must name the op and both shapes", err)
	}
}
