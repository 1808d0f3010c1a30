package backend_test

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/backend/backendtest"
	"simclr/internal/tensor"
)

type shape = tensor.Shape

// TestInfer: valid input shapes give the output shapes of the forward ops.
func TestInfer(t *testing.T) {
	tests := []struct {
		name  string
		infer func() (shape, error)
		want  shape
	}{
		{"conv 3x3 same", func() (shape, error) {
			return backend.InferConv2D(shape{2, 3, 5, 5}, shape{4, 3, 3, 3}, backend.ConvParams{Stride: 1, Pad: 1})
		}, shape{2, 4, 5, 5}},
		{"conv 3x3 stride 2 odd", func() (shape, error) {
			return backend.InferConv2D(shape{1, 2, 7, 6}, shape{5, 2, 3, 3}, backend.ConvParams{Stride: 2, Pad: 1})
		}, shape{1, 5, 4, 3}},
		{"conv 7x7 stem", func() (shape, error) {
			return backend.InferConv2D(shape{2, 3, 32, 32}, shape{64, 3, 7, 7}, backend.ConvParams{Stride: 2, Pad: 3})
		}, shape{2, 64, 16, 16}},
		{"conv 1x1 downsample", func() (shape, error) {
			return backend.InferConv2D(shape{2, 8, 9, 9}, shape{16, 8, 1, 1}, backend.ConvParams{Stride: 2})
		}, shape{2, 16, 5, 5}},
		{"conv empty batch", func() (shape, error) {
			return backend.InferConv2D(shape{0, 3, 5, 5}, shape{4, 3, 3, 3}, backend.ConvParams{Stride: 1})
		}, shape{0, 4, 3, 3}},
		{"maxpool stem", func() (shape, error) {
			return backend.InferMaxPool2D(shape{2, 64, 16, 16}, backend.PoolParams{Kernel: 3, Stride: 2, Pad: 1})
		}, shape{2, 64, 8, 8}},
		{"maxpool odd", func() (shape, error) {
			return backend.InferMaxPool2D(shape{1, 1, 5, 4}, backend.PoolParams{Kernel: 2, Stride: 2})
		}, shape{1, 1, 2, 2}},
		{"global avgpool", func() (shape, error) { return backend.InferGlobalAvgPool(shape{2, 512, 4, 4}) }, shape{2, 512}},
		{"linear", func() (shape, error) { return backend.InferLinear(shape{5, 7}, shape{3, 7}) }, shape{5, 3}},
		{"l2 normalize y", func() (shape, error) { y, _, err := backend.InferL2Normalize(shape{4, 3}); return y, err }, shape{4, 3}},
		{"l2 normalize norms", func() (shape, error) { _, n, err := backend.InferL2Normalize(shape{4, 3}); return n, err }, shape{4}},
		{"similarity", func() (shape, error) { return backend.InferSimilarity(shape{6, 128}) }, shape{6, 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.infer()
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestInferErrors: bad inputs give an error naming the op and no shape.
func TestInferErrors(t *testing.T) {
	tests := []struct {
		name, want string
		infer      func() (shape, error)
	}{
		{"conv rank", "conv2d forward: w must be 4-D", func() (shape, error) {
			return backend.InferConv2D(shape{2, 3, 5, 5}, shape{4, 3, 3}, backend.ConvParams{Stride: 1})
		}},
		{"conv padding", "conv2d forward: padding -1 must be >= 0", func() (shape, error) {
			return backend.InferConv2D(shape{2, 3, 5, 5}, shape{4, 3, 3, 3}, backend.ConvParams{Stride: 1, Pad: -1})
		}},
		{"maxpool small", "maxpool2d forward: x [1 1 2 2] with padding 0 is smaller than the 3x3 window", func() (shape, error) {
			return backend.InferMaxPool2D(shape{1, 1, 2, 2}, backend.PoolParams{Kernel: 3, Stride: 1})
		}},
		{"global avgpool empty", "global avgpool forward: x [2 3 0 0] has no spatial positions to average", func() (shape, error) {
			return backend.InferGlobalAvgPool(shape{2, 3, 0, 0})
		}},
		{"linear features", "linear forward: w (columns must match x's features)", func() (shape, error) {
			return backend.InferLinear(shape{5, 7}, shape{3, 6})
		}},
		{"l2 normalize rank", "l2 normalize forward: x must be 2-D [N,D]", func() (shape, error) {
			y, _, err := backend.InferL2Normalize(shape{4, 3, 1})
			return y, err
		}},
		{"similarity rank", "similarity forward: z must be 2-D [M,D]", func() (shape, error) {
			return backend.InferSimilarity(shape{6})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.infer()
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %v, want one starting with %q", err, tt.want)
			}
			if got != nil {
				t.Fatalf("shape %v returned with the error", got)
			}
		})
	}
}

// TestCheckErrors: each kind of bad input gives an error that names the
// op, the argument and the fix (or the valid range); shape disagreements
// are *tensor.ShapeError values with both shapes.
func TestCheckErrors(t *testing.T) {
	conv := backend.ConvParams{Stride: 1, Pad: 1}
	pool := backend.PoolParams{Kernel: 3, Stride: 2, Pad: 1}
	c3 := shape{3}
	tests := []struct {
		name  string
		err   error
		shape bool     // a *tensor.ShapeError
		want  []string // substrings after the "op: " prefix
	}{
		{"conv x rank", err1(backend.CheckConv2DForward(shape{3, 5, 5}, shape{4, 3, 3, 3}, shape{2, 4, 5, 5}, conv)), true,
			[]string{"x must be 4-D [N,Cin,H,W]", "got shape [3 5 5], want [-1 -1 -1 -1]"}},
		{"conv channels", err1(backend.CheckConv2DForward(shape{2, 3, 5, 5}, shape{4, 2, 3, 3}, shape{2, 4, 5, 5}, conv)), true,
			[]string{"w (square kernel over x's 3 channels)", "got shape [4 2 3 3], want [4 3 3 3]"}},
		{"conv non-square kernel", err1(backend.CheckConv2DBackwardFilter(shape{2, 3, 5, 5}, shape{2, 4, 5, 5}, shape{4, 3, 3, 2}, conv)), true,
			[]string{"dw (square kernel over x's 3 channels)"}},
		{"conv output", err1(backend.CheckConv2DForward(shape{2, 3, 5, 5}, shape{4, 3, 3, 3}, shape{2, 4, 4, 5}, conv)), true,
			[]string{"y: got shape [2 4 4 5], want [2 4 5 5]"}},
		{"conv backward data dy", err1(backend.CheckConv2DBackwardData(shape{2, 4, 3, 3}, shape{4, 3, 3, 3}, shape{2, 3, 5, 5}, conv)), true,
			[]string{"dy: got shape [2 4 3 3], want [2 4 5 5]"}},
		{"conv stride", err1(backend.CheckConv2DForward(shape{2, 3, 5, 5}, shape{4, 3, 3, 3}, shape{2, 4, 5, 5}, backend.ConvParams{})), false,
			[]string{"stride 0 must be >= 1"}},
		{"conv small input", err1(backend.CheckConv2DForward(shape{1, 3, 2, 2}, shape{4, 3, 3, 3}, shape{1, 4, 0, 0}, backend.ConvParams{Stride: 1})), false,
			[]string{"x [1 3 2 2] with padding 0 is smaller than the 3x3 kernel", "use a larger input or more padding"}},
		{"bn x rank", err1(backend.CheckBatchNormForwardTrain(shape{2, 3, 4}, c3, c3, shape{2, 3, 4}, c3, c3, c3, c3, 0.1, 1e-5)), true,
			[]string{"x must be [N,C,H,W] or [N,C]"}},
		{"bn gamma", err1(backend.CheckBatchNormForwardTrain(shape{2, 3}, shape{4}, c3, shape{2, 3}, c3, c3, c3, c3, 0.1, 1e-5)), true,
			[]string{"gamma: got shape [4], want [3]"}},
		{"bn one value", err1(backend.CheckBatchNormReLUForwardTrain(shape{1, 3}, c3, c3, shape{1, 3}, c3, c3, c3, c3, 0.1, 1e-5)), false,
			[]string{"x [1 3] has 1 value per channel", "use a larger batch"}},
		{"bn momentum", err1(backend.CheckBatchNormForwardTrain(shape{2, 3}, c3, c3, shape{2, 3}, c3, c3, c3, c3, 2, 1e-5)), false,
			[]string{"momentum 2 must lie in [0, 1]"}},
		{"bn eval eps", err1(backend.CheckBatchNormForwardEval(shape{2, 3}, c3, c3, c3, c3, shape{2, 3}, 0)), false,
			[]string{"eps 0 must be positive and finite"}},
		{"bn running stats", backend.CheckRunningStats([]float32{0, 1}, []float32{1, -1}, 1e-5), false,
			[]string{"running statistics of channel 1 are invalid", "reload the checkpoint"}},
		{"bn+relu backward y", err1(backend.CheckBatchNormReLUBackward(shape{2, 3}, shape{3, 2}, shape{2, 3}, c3, c3, c3, shape{2, 3}, c3, c3)), true,
			[]string{"y: got shape [3 2], want [2 3]"}},
		{"bn apply saveInvStd", err1(backend.CheckBatchNormApply(shape{2, 3, 4, 4}, c3, c3, c3, shape{2}, shape{2, 3, 4, 4})), true,
			[]string{"saveInvStd: got shape [2], want [3]"}},
		{"bn apply y", err1(backend.CheckBatchNormApply(shape{2, 3}, c3, c3, c3, c3, shape{2, 3, 1, 1})), true,
			[]string{"y: got shape [2 3 1 1], want [2 3]"}},
		{"maxpool window", err1(backend.CheckMaxPool2DForward(shape{1, 2, 8, 8}, shape{1, 2, 4, 4}, backend.PoolParams{Kernel: 2, Stride: 2, Pad: 2})), false,
			[]string{"padding 2 must be at most half the kernel size 2"}},
		{"maxpool dy", err1(backend.CheckMaxPool2DBackward(shape{1, 2, 8, 8}, shape{1, 2, 3, 3}, shape{1, 2, 8, 8}, pool)), true,
			[]string{"dy: got shape [1 2 3 3], want [1 2 4 4]"}},
		{"gap empty", err1(backend.CheckGlobalAvgPoolForward(shape{2, 3, 0, 4}, shape{2, 3})), false,
			[]string{"x [2 3 0 4] has no spatial positions to average"}},
		{"linear features", err1(backend.CheckLinearForward(shape{5, 7}, shape{3, 6}, nil, shape{5, 3})), true,
			[]string{"w (columns must match x's features): got shape [3 6], want [3 7]"}},
		{"linear bias", err1(backend.CheckLinearForward(shape{5, 7}, shape{3, 7}, shape{4}, shape{5, 3})), true,
			[]string{"b: got shape [4], want [3]"}},
		{"linear db", err1(backend.CheckLinearBackward(shape{5, 7}, shape{3, 7}, shape{5, 3}, nil, shape{3, 7}, shape{2})), true,
			[]string{"db: got shape [2], want [3]"}},
		{"l2 norms", backend.CheckL2NormalizeForward(shape{4, 3}, shape{4, 3}, shape{3}), true,
			[]string{"norms: got shape [3], want [4]"}},
		{"similarity ds", backend.CheckSimilarityBackward(shape{4, 3}, shape{3, 3}, shape{4, 3}), true,
			[]string{"ds: got shape [3 3], want [4 4]"}},
		{"nt-xent square", err1(backend.CheckNTXentForward(shape{4, 2}, 0.5)), true,
			[]string{"s (must be square): got shape [4 2], want [4 4]"}},
		{"nt-xent odd", err1(backend.CheckNTXentForward(shape{3, 3}, 0.5)), false,
			[]string{"s [3 3] must be [2N,2N] with N >= 1 (two views per example)"}},
		{"nt-xent tau", err1(backend.CheckNTXentBackward(shape{4, 4}, 0, shape{4, 4})), false,
			[]string{"temperature 0 must be positive and finite"}},
		{"nt-xent fused z rank", err2(backend.CheckNTXentFusedForward(shape{4}, shape{4, 2}, 0.5)), true,
			[]string{"z must be 2-D [2N,D]"}},
		{"nt-xent fused odd", err2(backend.CheckNTXentFusedForward(shape{5, 3}, shape{5, 2}, 0.5)), false,
			[]string{"z [5 3] must be [2N,D] with N >= 1 (two views per example) and D >= 1"}},
		{"nt-xent fused stats", err2(backend.CheckNTXentFusedForward(shape{4, 3}, shape{4}, 0.5)), true,
			[]string{"stats: got shape [4], want [4 2]"}},
		{"nt-xent fused dz", err2(backend.CheckNTXentFusedBackward(shape{4, 3}, shape{4, 2}, 0.5, shape{4, 4})), true,
			[]string{"dz: got shape [4 4], want [4 3]"}},
		{"nt-xent fused tau", err2(backend.CheckNTXentFusedBackward(shape{4, 3}, shape{4, 2}, float32(math.Inf(1)), shape{4, 3})), false,
			[]string{"temperature +Inf must be positive and finite"}},
		{"ce labels count", err2(backend.CheckSoftmaxCrossEntropyForward(shape{2, 3}, []int32{0})), false,
			[]string{"1 labels for 2 rows of logits [2 3]; pass one label per row"}},
		{"ce label range", err2(backend.CheckSoftmaxCrossEntropyBackward(shape{2, 3}, []int32{0, 3}, shape{2, 3})), false,
			[]string{"label 3 of row 1 is outside [0,3)", "class count"}},
		{"ce dlogits", err2(backend.CheckSoftmaxCrossEntropyBackward(shape{2, 3}, []int32{0, 1}, shape{3, 2})), true,
			[]string{"dlogits: got shape [3 2], want [2 3]"}},
		{"loss input NaN", backend.FirstNonFinite(backend.OpNTXentForward, "s", []float32{0, 1, float32(math.NaN()), 0}, 2), false,
			[]string{"s[1,0] is NaN", "lower the learning rate"}},
		{"add out", backend.CheckAdd(shape{2, 3}, shape{2, 3}, shape{6}), true, []string{"out: got shape [6], want [2 3]"}},
		{"copy count", backend.CheckCopy(shape{2, 3}, shape{5}), true, []string{"dst vs src (element count)"}},
		{"upload count", backend.CheckUpload(shape{2, 3}, 2), false, []string{"source has 2 values but tensor [2 3] holds 6"}},
		{"dot", backend.CheckDot(shape{3}, shape{4}), true, []string{"b: got shape [4], want [3]"}},
		{"momentum buf", backend.CheckMomentumStep(shape{3}, shape{3}, shape{4}, backend.MomentumOpts{TrustRatio: 1}), true,
			[]string{"buf: got shape [4], want [3]"}},
		{"momentum trust ratio", backend.CheckMomentumStep(shape{3}, shape{3}, shape{3}, backend.MomentumOpts{}), false,
			[]string{"trust ratio 0 must be positive and finite (plain SGD passes 1)"}},
		{"adamw step", backend.CheckAdamWStep(shape{3}, shape{3}, shape{3}, shape{3}, backend.AdamWOpts{Beta1: 0.9, Beta2: 0.99}), false,
			[]string{"step 0 must count from 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("no error")
			}
			msg := tt.err.Error()
			op, rest, ok := strings.Cut(msg, ": ")
			if !ok || !isOpName(op) {
				t.Errorf("error %q does not start with an op name", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(rest, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			var se *tensor.ShapeError
			if got := errors.As(tt.err, &se); got != tt.shape {
				t.Errorf("error %q: *tensor.ShapeError %v, want %v", msg, got, tt.shape)
			}
		})
	}
}

// acceptedMutations are the generated calls (backendtest.Mutations) that
// are valid: the op does not constrain that dimension.
var acceptedMutations = map[string]bool{
	"Copy/valid, dst rank+1":                             true, // same element count
	"Copy/valid, src rank+1":                             true,
	"Upload/valid, dst rank+1":                           true,
	"Download/valid, src rank+1":                         true,
	"GlobalAvgPoolForward/valid, x[2]+1":                 true, // any H, W
	"GlobalAvgPoolForward/valid, x[3]+1":                 true,
	"GlobalAvgPoolBackward/valid, dx[2]+1":               true,
	"GlobalAvgPoolBackward/valid, dx[3]+1":               true,
	"SimilarityForward/valid, z[1]+1":                    true, // any D
	"NTXentFusedForward/valid, z[1]+1":                   true, // any D
	"NTXentFusedForward/valid N=1, z[1]+1":               true,
	"NTXentFusedForwardInto/valid, z[1]+1":               true, // any D
	"NTXentFusedForwardInto/valid one slot, z[1]+1":      true,
	"NTXentForwardInto/valid, losses[0]+1":               true, // any K > slot
	"NTXentForwardBackwardInto/valid, losses[0]+1":       true,
	"NTXentFusedForwardInto/valid, losses[0]+1":          true,
	"NTXentFusedForwardInto/valid one slot, losses[0]+1": true,
	"SoftmaxCrossEntropyForward/valid, logits[1]+1":      true, // more classes
	"SumSquares/valid, t rank+1":                         true, // any shape
	"SumSquares/valid, t[0]+1":                           true,
	"SumSquares/valid, t[1]+1":                           true,
	"SumSquaresMulti/valid, ts[0] rank+1":                true, // any shapes
	"SumSquaresMulti/valid, ts[0][0]+1":                  true,
	"SumSquaresMulti/valid, ts[0][1]+1":                  true,
	"SumSquaresMulti/valid, ts[1] rank+1":                true,
	"SumSquaresMulti/valid, ts[1][0]+1":                  true,
	"SumSquaresMulti/valid, ts[2] rank+1":                true,
	"SumSquaresMulti/valid, ts[2][0]+1":                  true,
	"SumSquaresMulti/valid, ts[2][1]+1":                  true,
	"LinearForward/valid without b, x rank+1":            false,
	"SoftmaxCrossEntropyBackward/valid, logits[1]+1":     false, // dlogits disagrees
	"NTXentForward/valid, s rank+1":                      false,
	"BatchNormForwardTrain/valid 2-D, x rank+1":          false, // 3-D is neither layout
	"BatchNormBackward/valid 2-D, x rank+1":              false,
	"L2NormalizeForward/valid, x[1]+1":                   false, // y disagrees
	"MaxPool2DForward/valid, x[2]+1":                     false, // 9 rows pool to 5
	"Conv2DForward/valid, x[2]+1":                        false,
	"Conv2DBackwardFilter/valid, dw[3]+1":                false, // not square
	"LinearBackward/valid without dx and db, dy rank+1":  false,
}

// TestGeneratedCalls runs the shape inference over the shared table: the
// valid calls pass, every generated mutation is rejected unless listed in
// acceptedMutations (which also pins a few that must be rejected), every
// bad-parameter call is rejected, and every error starts with the call's
// op name; shape errors name both shapes.
func TestGeneratedCalls(t *testing.T) {
	rejected := map[string]int{}
	seen := map[string]bool{}
	for _, c := range backendtest.All() {
		err := c.Infer(c.Shapes())
		name := c.Name()
		seen[name] = true
		wantErr := c.Variant != "valid" && !strings.HasPrefix(c.Variant, "valid ") || c.Generated
		if accept, ok := acceptedMutations[name]; ok {
			wantErr = !accept
		}
		if (err != nil) != wantErr {
			t.Errorf("%s %v: error %v, want error %v", name, c.Shapes(), err, wantErr)
			continue
		}
		if err == nil {
			continue
		}
		rejected[c.Method]++
		msg := err.Error()
		if !strings.HasPrefix(msg, c.Op+": ") {
			t.Errorf("%s: error %q does not start with %q", name, msg, c.Op+": ")
		}
		var se *tensor.ShapeError
		if errors.As(err, &se) && (se.Op != c.Op || !strings.Contains(msg, "got shape") || !strings.Contains(msg, "want")) {
			t.Errorf("%s: shape error %q does not name the op and both shapes", name, msg)
		}
	}
	for name := range acceptedMutations {
		if !seen[name] {
			t.Errorf("acceptedMutations lists %s, which the table does not generate", name)
		}
	}
	for _, m := range opMethods() {
		if m != "SumSquares" && m != "SumSquaresMulti" && rejected[m] == 0 {
			t.Errorf("no call of %s is rejected: the table does not exercise its checks", m)
		}
	}
}

// noShapeChecks are the Backend methods without operands to check against
// each other: the table has no call of them.
var noShapeChecks = map[string]bool{"Name": true, "Close": true, "New": true, "Free": true, "View": true, "Zero": true, "Sync": true, "PeakBytes": true,
	"SetMatmulPrecision": true, "MatmulPrecision": true}

// opMethods returns the Backend methods the shared table must cover.
func opMethods() []string {
	var ms []string
	it := reflect.TypeOf((*backend.Backend)(nil)).Elem()
	for i := 0; i < it.NumMethod(); i++ {
		if m := it.Method(i).Name; !noShapeChecks[m] {
			ms = append(ms, m)
		}
	}
	return ms
}

// TestTableCoversBackend: every Backend method with operands has a valid
// call in the shared table, so the error parity tests reach it.
func TestTableCoversBackend(t *testing.T) {
	have := map[string]bool{}
	for _, c := range backendtest.Valid() {
		have[c.Method] = true
		if _, ok := reflect.TypeOf((*backend.Backend)(nil)).Elem().MethodByName(c.Method); !ok {
			t.Errorf("table call %s names no Backend method", c.Name())
		}
	}
	for _, m := range opMethods() {
		if !have[m] {
			t.Errorf("Backend.%s has no call in backendtest.Valid()", m)
		}
	}
}

func isOpName(s string) bool {
	for _, c := range backendtest.Valid() {
		if c.Op == s {
			return true
		}
	}
	return false
}

func err1[T any](_ T, err error) error         { return err }
func err2[T, U any](_ T, _ U, err error) error { return err }
