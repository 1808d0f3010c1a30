// Package probe measures how good frozen features are: a linear classifier
// trained on them (the SimCLR linear-evaluation protocol) and a weighted
// k-nearest-neighbour classifier (the InstDisc/SimCLR training monitor).
//
// Features are host float32 matrices [N, D] in row-major order; labels are
// int32 class indices in [0, classes). Accuracies are percentages (0-100).
package probe

import (
	"fmt"
	"math"
)

// checkSet validates one feature matrix and its labels.
func checkSet(set string, x []float32, y []int32, dim, classes int) error {
	if len(y) == 0 {
		return fmt.Errorf("probe: the %s set is empty; extract features for at least one sample", set)
	}
	if len(x) != len(y)*dim {
		return fmt.Errorf("probe: %s features have %d values, want %d labels x dimension %d = %d; features and labels must come from the same samples", set, len(x), len(y), dim, len(y)*dim)
	}
	for i, l := range y {
		if l < 0 || int(l) >= classes {
			return fmt.Errorf("probe: %s label %d at index %d is outside [0, %d); set the number of classes to cover every label", set, l, i, classes)
		}
	}
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("probe: %s feature at row %d, column %d is %v; the encoder produced non-finite features", set, i/dim, i%dim, v)
		}
	}
	return nil
}

// checkDims validates the shared sizes.
func checkDims(dim, classes int) error {
	if dim < 1 {
		return fmt.Errorf("probe: feature dimension %d must be >= 1", dim)
	}
	if classes < 2 {
		return fmt.Errorf("probe: %d classes; a classifier needs at least 2", classes)
	}
	return nil
}
