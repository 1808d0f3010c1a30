package cpu

import (
	"errors"
	"strings"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/backend/backendtest"
	"simclr/internal/tensor"
)

// TestShapeErrorsNameTheOp calls every op with one operand of the wrong
// shape: each must return a *tensor.ShapeError naming the op and both shapes.
func TestShapeErrorsNameTheOp(t *testing.T) {
	b := New()
	n := func(shape ...int) *Tensor { return newT(t, b, nil, shape...) }
	conv := backend.ConvParams{Stride: 1, Pad: 1}
	pool := backend.PoolParams{Kernel: 3, Stride: 2, Pad: 1}
	tests := []struct {
		op   string
		call func() error
	}{
		{"add", func() error { return b.Add(n(2, 3), n(3, 2), n(2, 3)) }},
		{"add", func() error { return b.Add(n(2, 3), n(2, 3), n(6)) }},
		{"copy", func() error { return b.Copy(n(2, 3), n(5)) }},
		{"conv2d forward", func() error { return b.Conv2DForward(n(2, 3, 5, 5), n(4, 2, 3, 3), n(2, 4, 5, 5), conv) }},
		{"conv2d forward", func() error { return b.Conv2DForward(n(2, 3, 5, 5), n(4, 3, 3, 3), n(2, 4, 4, 5), conv) }},
		{"conv2d forward", func() error { return b.Conv2DForward(n(3, 5, 5), n(4, 3, 3, 3), n(2, 4, 5, 5), conv) }},
		{"conv2d backward data", func() error { return b.Conv2DBackwardData(n(2, 4, 3, 3), n(4, 3, 3, 3), n(2, 3, 5, 5), conv) }},
		{"conv2d backward filter", func() error { return b.Conv2DBackwardFilter(n(2, 3, 5, 5), n(2, 5, 5, 5), n(4, 3, 3, 3), conv) }},
		{"batchnorm forward train", func() error {
			return b.BatchNormForwardTrain(n(2, 3, 2, 2), n(4), n(3), n(2, 3, 2, 2), n(3), n(3), n(3), n(3), 0.1, 1e-5)
		}},
		{"batchnorm forward eval", func() error { return b.BatchNormForwardEval(n(2, 3), n(3), n(3), n(3), n(3), n(3, 2), 1e-5) }},
		{"batchnorm backward", func() error {
			return b.BatchNormBackward(n(2, 3), n(2, 3), n(3), n(3), n(3), n(2, 3), n(2), n(3))
		}},
		{"relu forward", func() error { return b.ReLUForward(n(2, 3), n(3, 2)) }},
		{"relu backward", func() error { return b.ReLUBackward(n(2, 3), n(2, 3), n(2, 2)) }},
		{"maxpool2d forward", func() error { return b.MaxPool2DForward(n(1, 2, 8, 8), n(1, 2, 3, 3), pool) }},
		{"maxpool2d backward", func() error { return b.MaxPool2DBackward(n(1, 2, 8, 8), n(1, 2, 4, 4), n(1, 2, 8, 7), pool) }},
		{"global avgpool forward", func() error { return b.GlobalAvgPoolForward(n(2, 3, 4, 4), n(3, 2)) }},
		{"global avgpool backward", func() error { return b.GlobalAvgPoolBackward(n(2, 4), n(2, 3, 4, 4)) }},
		{"linear forward", func() error { return b.LinearForward(n(5, 7), n(3, 6), nil, n(5, 3)) }},
		{"linear forward", func() error { return b.LinearForward(n(5, 7), n(3, 7), n(4), n(5, 3)) }},
		{"linear backward", func() error { return b.LinearBackward(n(5, 7), n(3, 7), n(5, 3), n(5, 7), n(3, 7), n(2)) }},
		{"linear backward", func() error { return b.LinearBackward(n(5, 7), n(3, 7), n(5, 3), n(7, 5), n(3, 7), nil) }},
		{"l2 normalize forward", func() error { return b.L2NormalizeForward(n(4, 3), n(4, 3), n(3)) }},
		{"l2 normalize backward", func() error { return b.L2NormalizeBackward(n(4, 3), n(4), n(4, 2), n(4, 3)) }},
		{"similarity forward", func() error { return b.SimilarityForward(n(4, 3), n(3, 3)) }},
		{"similarity backward", func() error { return b.SimilarityBackward(n(4, 3), n(4, 4), n(3, 4)) }},
		{"nt-xent forward", func() error { _, err := b.NTXentForward(n(4, 2), 0.5); return err }},
		{"nt-xent backward", func() error { return b.NTXentBackward(n(4, 4), 0.5, n(2, 4)) }},
		{"softmax cross-entropy backward", func() error {
			return b.SoftmaxCrossEntropyBackward(n(2, 3), []int32{0, 1}, n(3, 2))
		}},
		{"dot", func() error { _, err := b.Dot(n(3), n(4)); return err }},
		{"momentum step", func() error { return b.MomentumStep(n(3), n(3), n(4), backend.MomentumOpts{LR: 1, TrustRatio: 1}) }},
		{"adamw step", func() error {
			return b.AdamWStep(n(3), n(3), n(3), n(2), backend.AdamWOpts{LR: 1, Beta1: 0.9, Beta2: 0.99, Step: 1})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.op, func(t *testing.T) {
			err := tc.call()
			var se *tensor.ShapeError
			if !errors.As(err, &se) {
				t.Fatalf("got %v (%T), want a *tensor.ShapeError", err, err)
			}
			msg := err.Error()
			if se.Op != tc.op || !strings.HasPrefix(msg, tc.op+":") || !strings.Contains(msg, "got shape") || !strings.Contains(msg, "want") {
				t.Fatalf("error %q does not name op %q and both shapes", msg, tc.op)
			}
		})
	}
}

// TestRejectsNilAndForeignTensors: nil, device, freed and short tensors are
// errors (never panics) that name the op and the operand.
func TestRejectsNilAndForeignTensors(t *testing.T) {
	b := New()
	good := newT(t, b, nil, 2, 3)
	freed := newT(t, b, nil, 2, 3)
	b.Free(freed)
	device := &Tensor{Shape: tensor.Shape{2, 3}, Dev: 0xdead}
	short := &Tensor{Shape: tensor.Shape{2, 3}, Host: make([]float32, 5)}
	tests := []struct {
		name, want string
		call       func() error
	}{
		{"nil x", "relu forward: x is nil", func() error { return b.ReLUForward(nil, good) }},
		{"nil y", "relu forward: y is nil", func() error { return b.ReLUForward(good, nil) }},
		{"device", "device tensor", func() error { return b.ReLUForward(device, good) }},
		{"freed", "relu forward: y", func() error { return b.ReLUForward(good, freed) }},
		{"short", "5 host values", func() error { return b.Zero(short) }},
		{"nil weight", "linear forward: w is nil", func() error { return b.LinearForward(good, nil, nil, good) }},
		{"nil dw", "linear backward: dw is nil", func() error { return b.LinearBackward(good, good, newT(t, b, nil, 2, 2), nil, nil, nil) }},
		{"nil s", "nt-xent forward: s is nil", func() error { _, err := b.NTXentForward(nil, 0.5); return err }},
		{"nil logits", "softmax cross-entropy forward: logits is nil", func() error {
			_, err := b.SoftmaxCrossEntropyForward(nil, nil)
			return err
		}},
		{"upload length", "upload: source has 2 values", func() error { return b.Upload(good, []float32{1, 2}) }},
		{"download length", "download: destination has 7 values", func() error { return b.Download(make([]float32, 7), good) }},
		{"nil conv", "conv2d backward filter: x is nil", func() error {
			return b.Conv2DBackwardFilter(nil, good, good, backend.ConvParams{Stride: 1})
		}},
		{"nil bn", "batchnorm backward: saveInvStd is nil", func() error {
			c := newT(t, b, nil, 3)
			return b.BatchNormBackward(good, good, c, c, nil, good, c, c)
		}},
		{"nil sum", "sum squares: t is nil", func() error { _, err := b.SumSquares(nil); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestMemoryAccounting(t *testing.T) {
	b := New()
	if b.Name() != "cpu" {
		t.Fatalf("Name = %q", b.Name())
	}
	a, err := b.New(10, 10) // 400 bytes
	must(t, err)
	c, err := b.New(25) // 100 bytes
	must(t, err)
	if got := b.PeakBytes(); got != 500 {
		t.Fatalf("PeakBytes = %d, want 500", got)
	}
	a.Host[3] = 7
	b.Free(a)
	if a.Host != nil {
		t.Fatal("Free left Host set")
	}
	b.Free(a)            // double free is ignored
	b.Free(nil)          // and so is nil
	d, err := b.New(100) // reuses a's storage: must come back zeroed
	must(t, err)
	for i, v := range d.Host {
		if v != 0 {
			t.Fatalf("reused storage not zeroed at %d: %v", i, v)
		}
	}
	if got := b.PeakBytes(); got != 500 {
		t.Fatalf("PeakBytes after free+new = %d, want 500", got)
	}
	e, err := b.New(2, 0, 3)
	must(t, err)
	if e.Numel() != 0 || len(e.Host) != 0 {
		t.Fatalf("empty tensor has %d values", len(e.Host))
	}
	if _, err := b.New(3, -1); err == nil {
		t.Fatal("negative dimension accepted")
	}
	if _, err := b.New(1<<20, 1<<20, 1<<20); err == nil {
		t.Fatal("overflowing shape accepted")
	}
	must(t, b.Upload(c, make([]float32, 25)))
	dst := make([]float32, 25)
	c.Host[24] = 3
	must(t, b.Download(dst, c))
	if dst[24] != 3 {
		t.Fatal("Download did not copy")
	}
	must(t, b.Zero(c))
	if c.Host[24] != 0 {
		t.Fatal("Zero did not clear")
	}
	must(t, b.Sync())
	must(t, b.Close())
	if _, err := b.New(3); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("New after Close: %v", err)
	}
}

// TestSharedCallTable makes every call of the shared table
// (backendtest.All: one valid call per op, the bad calls generated from it,
// bad parameters) on the cpu backend: it must fail exactly when the shape
// inference does, with the inference's message.
func TestSharedCallTable(t *testing.T) {
	b := New()
	for i, c := range backendtest.All() {
		t.Run(c.Name(), func(t *testing.T) {
			want := c.Infer(c.Shapes())
			ts, free, err := c.Alloc(b, uint64(i))
			if err != nil {
				t.Fatal(err)
			}
			defer free()
			_, got := c.Run(b, ts)
			if errText(got) != errText(want) {
				t.Fatalf("cpu error %q, shape inference %q", errText(got), errText(want))
			}
			var se *tensor.ShapeError
			if errors.As(want, &se) && !errors.As(got, &se) {
				t.Fatalf("cpu error %q is not a *tensor.ShapeError", got)
			}
		})
	}
}

// errText is err's message, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestViews: View shares storage, Free of a view is harmless, bad shapes
// are errors (backendtest.CheckViews, which the cuda backend also runs).
func TestViews(t *testing.T) {
	backendtest.CheckViews(t, New())
}
