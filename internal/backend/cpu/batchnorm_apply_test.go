package cpu

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/tensor"
)

// bnApplyShapes are the shapes of the BatchNormApply tests: odd spatial
// sizes (S = 15, 49, 1), S a multiple of 8 (the vectorised body of
// vec.Affine alone), [N,C] input, one channel, and {37, 2, 2, 1}'s 13 image
// chunks with a partial last one.
var bnApplyShapes = [][]int{{3, 4, 5, 3}, {2, 3, 7, 7}, {4, 2, 4, 4}, {5, 3, 1, 1}, {6, 4}, {33, 5}, {2, 1, 3, 5}, {37, 2, 2, 1}}

// TestBatchNormApplyReproducesForward: after BatchNormForwardTrain and
// BatchNormReLUForwardTrain, BatchNormApply with the statistics they saved
// writes their y bit for bit, in both layouts of the training forward
// (image chunks, channel blocks) and with y aliasing x; it leaves the
// running statistics, the saved statistics and x alone. The comparison
// can see a few ulps: Apply with saveInvStd 4 ulps larger in one
// channel changes y there.
func TestBatchNormApplyReproducesForward(t *testing.T) {
	for _, shape := range bnApplyShapes {
		for _, relu := range []bool{false, true} {
			for _, byChannel := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s relu=%v byChannel=%v", shapeName(shape), relu, byChannel), func(t *testing.T) {
					b := New()
					b.bnByChannel = byChannel
					bn := newBN(t, b, 11, shape...)
					// beta around 0 so that the ReLU clips part of the outputs.
					for i := range bn.beta.Host {
						bn.beta.Host[i] -= 0.5
					}
					for i := range bn.runMean.Host {
						bn.runMean.Host[i] = 0.25 * float32(i+1)
						bn.runVar.Host[i] = 1.5
					}
					train := b.BatchNormForwardTrain
					if relu {
						train = b.BatchNormReLUForwardTrain
					}
					must(t, train(bn.x, bn.gamma, bn.beta, bn.y, bn.mean, bn.invStd, bn.runMean, bn.runVar, 0.1, 1e-5))
					snap := func(ts ...*Tensor) [][]float32 {
						var out [][]float32
						for _, x := range ts {
							out = append(out, slices.Clone(x.Host))
						}
						return out
					}
					before := snap(bn.x, bn.gamma, bn.beta, bn.mean, bn.invStd, bn.runMean, bn.runVar)

					y := newT(t, b, nil, shape...)
					must(t, b.BatchNormApply(bn.x, bn.gamma, bn.beta, bn.mean, bn.invStd, y, relu))
					sameBitsCPU(t, "apply y", y.Host, bn.y.Host)
					names := []string{"x", "gamma", "beta", "saveMean", "saveInvStd", "runMean", "runVar"}
					for i, v := range snap(bn.x, bn.gamma, bn.beta, bn.mean, bn.invStd, bn.runMean, bn.runVar) {
						sameBitsCPU(t, "apply changed "+names[i], v, before[i])
					}

					// In place: y aliasing x.
					xy := newT(t, b, slices.Clone(bn.x.Host), shape...)
					must(t, b.BatchNormApply(xy, bn.gamma, bn.beta, bn.mean, bn.invStd, xy, relu))
					sameBitsCPU(t, "apply in place y", xy.Host, bn.y.Host)

					if relu {
						zeros := 0
						for _, v := range bn.y.Host {
							if v == 0 {
								zeros++
							}
						}
						if zeros == 0 || zeros == len(bn.y.Host) {
							t.Fatalf("%d of %d outputs are 0: the test does not exercise the ReLU", zeros, len(bn.y.Host))
						}
					}

					// 4 ulps of saveInvStd in channel 0 show in y (one can round to
					// the same scale).
					inv := newT(t, b, slices.Clone(bn.invStd.Host), shape[1])
					for range 4 {
						inv.Host[0] = math.Nextafter32(inv.Host[0], float32(math.Inf(1)))
					}
					must(t, b.BatchNormApply(bn.x, bn.gamma, bn.beta, bn.mean, inv, y, relu))
					if slices.Equal(bits(y.Host), bits(bn.y.Host)) {
						t.Error("apply with saveInvStd 4 ulps larger in channel 0 gave the same y: the comparison cannot see a few ulps")
					}
				})
			}
		}
	}
}

// sameBitsCPU fails the test unless got and want hold the same float32
// bit patterns, naming the first few elements that differ.
func sameBitsCPU(t *testing.T, name string, got, want []float32) {
	t.Helper()
	bad := 0
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			if bad < 3 {
				t.Errorf("%s: element %d: %g (%#08x), want %g (%#08x)", name, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			}
			bad++
		}
	}
	if bad > 3 {
		t.Errorf("%s: %d of %d elements differ", name, bad, len(want))
	}
}

// TestBatchNormApplyRejectsBadOperands: nil, device and freed tensors and
// wrong shapes are errors that name the op and the operand (never a panic),
// and y is left alone.
func TestBatchNormApplyRejectsBadOperands(t *testing.T) {
	b := New()
	x := newT(t, b, nil, 2, 3, 4, 4)
	y := newT(t, b, nil, 2, 3, 4, 4)
	c3 := func() *Tensor { return newT(t, b, constOnes(3), 3) }
	gamma, beta, mean, inv := c3(), c3(), c3(), c3()
	freed := c3()
	b.Free(freed)
	device := &tensor.Tensor{Shape: tensor.Shape{3}, Dev: 0x1000}
	for _, tc := range []struct {
		name                string
		x, g, be, m, s, out *Tensor
		want                []string
		shapeErr            bool
	}{
		{"nil x", nil, gamma, beta, mean, inv, y, []string{"x is nil", "New"}, false},
		{"nil saveInvStd", x, gamma, beta, mean, nil, y, []string{"saveInvStd is nil"}, false},
		{"device gamma", x, device, beta, mean, inv, y, []string{"gamma [3] is a device tensor", "download it first"}, false},
		{"freed saveMean", x, gamma, beta, freed, inv, y, []string{"saveMean [3] has 0 host values", "freed"}, false},
		{"saveMean [4]", x, gamma, beta, newT(t, b, nil, 4), inv, y, []string{"saveMean: got shape [4], want [3]"}, true},
		{"y [2 3 4 5]", x, gamma, beta, mean, inv, newT(t, b, nil, 2, 3, 4, 5), []string{"y: got shape [2 3 4 5], want [2 3 4 4]"}, true},
		{"3-D x", newT(t, b, nil, 2, 3, 4), gamma, beta, mean, inv, newT(t, b, nil, 2, 3, 4), []string{"x must be [N,C,H,W] or [N,C]"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range y.Host {
				y.Host[i] = 7
			}
			err := b.BatchNormApply(tc.x, tc.g, tc.be, tc.m, tc.s, tc.out, true)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, backend.OpBatchNormApply+": ") {
				t.Errorf("error %q does not start with %q", msg, backend.OpBatchNormApply)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			var se *tensor.ShapeError
			if got := errors.As(err, &se); got != tc.shapeErr {
				t.Errorf("error %q: *tensor.ShapeError %v, want %v", msg, got, tc.shapeErr)
			}
			for i, v := range y.Host {
				if v != 7 {
					t.Fatalf("y[%d] = %g after a rejected call", i, v)
				}
			}
		})
	}
}
