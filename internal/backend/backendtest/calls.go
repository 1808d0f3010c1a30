// Package backendtest is the table of Backend calls the error tests share:
// one valid call per op method, the bad calls generated from it (every
// dimension of every operand one larger, every operand one dimension more)
// and bad parameters. Each call carries the shape inference that judges it
// (backend.Check*) and a function that makes the same call on any
// backend.Backend, so a test can require that the inference and every
// backend accept the call or reject it with the same message. Only tests
// import it.
package backendtest

import (
	"fmt"
	"math"
	"math/rand/v2"

	"simclr/internal/backend"
	"simclr/internal/tensor"
)

// Operand is one tensor argument of a call; a nil Shape is an absent
// optional operand (the method gets a nil tensor).
type Operand struct {
	Name  string
	Shape tensor.Shape
}

// Call is one call of a Backend method.
type Call struct {
	Method   string // the Backend method, e.g. "Conv2DForward"
	Op       string // the op name its errors start with
	Variant  string // what this call changes: "valid", "x[2]+1", "stride 0", ...
	Operands []Operand
	// Infer runs the shape inference on the operands' shapes (nil for an
	// absent operand) and the call's parameters.
	Infer func(s []tensor.Shape) error
	// Run makes the call on b with the operands' tensors (nil for an absent
	// operand) and returns the method's scalar result (a loss, SumSquares,
	// Dot; 0 for the others) and error. The outputs are the operands the
	// method writes.
	Run func(b backend.Backend, t []*tensor.Tensor) (float64, error)
	// Generated marks a call made by mutating a valid call's shapes.
	Generated bool
}

// Name is the call's subtest name.
func (c Call) Name() string { return c.Method + "/" + c.Variant }

// Shapes returns the operands' shapes.
func (c Call) Shapes() []tensor.Shape {
	s := make([]tensor.Shape, len(c.Operands))
	for i, o := range c.Operands {
		s[i] = o.Shape
	}
	return s
}

// Alloc creates the call's operands on b with values in [0.5, 1.5) (valid
// for every op: positive variances, finite losses) drawn from seed, so the
// same seed gives every backend the same inputs; absent operands are nil.
// free releases them.
func (c Call) Alloc(b backend.Backend, seed uint64) (ts []*tensor.Tensor, free func(), err error) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	ts = make([]*tensor.Tensor, len(c.Operands))
	free = func() {
		for _, t := range ts {
			if t != nil {
				b.Free(t)
			}
		}
	}
	for i, o := range c.Operands {
		if o.Shape == nil {
			continue
		}
		t, err := b.New(o.Shape...)
		if err != nil {
			free()
			return nil, nil, err
		}
		ts[i] = t
		v := make([]float32, t.Numel())
		for j := range v {
			v[j] = 0.5 + rng.Float32()
		}
		if err := b.Upload(t, v); err != nil {
			free()
			return nil, nil, err
		}
	}
	return ts, free, nil
}

// named sets a call's variant.
func named(variant string, c Call) Call {
	c.Variant = variant
	return c
}

// ops builds operands from name, shape pairs.
func ops(pairs ...any) []Operand {
	o := make([]Operand, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		var s tensor.Shape
		if pairs[i+1] != nil {
			s = pairs[i+1].(tensor.Shape)
		}
		o = append(o, Operand{Name: pairs[i].(string), Shape: s})
	}
	return o
}

type shape = tensor.Shape

func err1[T any](_ T, err error) error          { return err }
func err2[T, U any](_ T, _ U, err error) error  { return err }
func f64(v float32, err error) (float64, error) { return float64(v), err }

func copyCall(dst, src shape) Call {
	return Call{Method: "Copy", Op: backend.OpCopy, Operands: ops("dst", dst, "src", src),
		Infer: func(s []shape) error { return backend.CheckCopy(s[0], s[1]) },
		Run:   func(b backend.Backend, t []*tensor.Tensor) (float64, error) { return 0, b.Copy(t[0], t[1]) }}
}

func upload(dst shape, n int) Call {
	return Call{Method: "Upload", Op: backend.OpUpload, Operands: ops("dst", dst),
		Infer: func(s []shape) error { return backend.CheckUpload(s[0], n) },
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return 0, b.Upload(t[0], make([]float32, n))
		}}
}

func download(n int, src shape) Call {
	return Call{Method: "Download", Op: backend.OpDownload, Operands: ops("src", src),
		Infer: func(s []shape) error { return backend.CheckDownload(n, s[0]) },
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return 0, b.Download(make([]float32, n), t[0])
		}}
}

func add(a, c, out shape) Call {
	return Call{Method: "Add", Op: backend.OpAdd, Operands: ops("a", a, "b", c, "out", out),
		Infer: func(s []shape) error { return backend.CheckAdd(s[0], s[1], s[2]) },
		Run:   func(b backend.Backend, t []*tensor.Tensor) (float64, error) { return 0, b.Add(t[0], t[1], t[2]) }}
}

func conv2DForward(x, w, y shape, p backend.ConvParams) Call {
	return Call{Method: "Conv2DForward", Op: backend.OpConv2DForward, Operands: ops("x", x, "w", w, "y", y),
		Infer: func(s []shape) error { return err1(backend.CheckConv2DForward(s[0], s[1], s[2], p)) },
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return 0, b.Conv2DForward(t[0], t[1], t[2], p)
		}}
}

func conv2DBackwardData(dy, w, dx shape, p backend.ConvParams) Call {
	return Call{Method: "Conv2DBackwardData", Op: backend.OpConv2DBackwardData, Operands: ops("dy", dy, "w", w, "dx", dx),
		Infer: func(s []shape) error { return err1(backend.CheckConv2DBackwardData(s[0], s[1], s[2], p)) },
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return 0, b.Conv2DBackwardData(t[0], t[1], t[2], p)
		}}
}

func conv2DBackwardFilter(x, dy, dw shape, p backend.ConvParams) Call {
	return Call{Method: "Conv2DBackwardFilter", Op: backend.OpConv2DBackwardFilter, Operands: ops("x", x, "dy", dy, "dw", dw),
		Infer: func(s []shape) error { return err1(backend.CheckConv2DBackwardFilter(s[0], s[1], s[2], p)) },
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return 0, b.Conv2DBackwardFilter(t[0], t[1], t[2], p)
		}}
}

// bnTrain is BatchNormForwardTrain (relu false) or
// BatchNormReLUForwardTrain on x and channel vectors of shape c.
func bnTrain(relu bool, x, y, c shape, momentum, eps float32) Call {
	k := Call{Method: "BatchNormForwardTrain", Op: backend.OpBatchNormForwardTrain,
		Operands: ops("x", x, "gamma", c, "beta", c, "y", y, "saveMean", c, "saveInvStd", c, "runMean", c, "runVar", c),
		Infer: func(s []shape) error {
			return err1(backend.CheckBatchNormForwardTrain(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], momentum, eps))
		},
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return 0, b.BatchNormForwardTrain(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], momentum, eps)
		}}
	if relu {
		k.Method, k.Op = "BatchNormReLUForwardTrain", backend.OpBatchNormReLUForwardTrain
		k.Infer = func(s []shape) error {
			return err1(backend.CheckBatchNormReLUForwardTrain(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], momentum, eps))
		}
		k.Run = func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return 0, b.BatchNormReLUForwardTrain(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], momentum, eps)
		}
	}
	return k
}

func bnEval(x, y, c shape, eps float32) Call {
	return Call{Method: "BatchNormForwardEval", Op: backend.OpBatchNormForwardEval,
		Operands: ops("x", x, "gamma", c, "beta", c, "runMean", c, "runVar", c, "y", y),
		Infer: func(s []shape) error {
			return err1(backend.CheckBatchNormForwardEval(s[0], s[1], s[2], s[3], s[4], s[5], eps))
		},
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return 0, b.BatchNormForwardEval(t[0], t[1], t[2], t[3], t[4], t[5], eps)
		}}
}

func bnBackward(x, c shape) Call {
	return Call{Method: "BatchNormBackward", Op: backend.OpBatchNormBackward,
		Operands: ops("dy", x, "x", x, "gamma", c, "saveMean", c, "saveInvStd", c, "dx", x, "dgamma", c, "dbeta", c),
		Infer: func(s []shape) error {
			return err1(backend.CheckBatchNormBackward(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]))
		},
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return 0, b.BatchNormBackward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7])
		}}
}

// bnApply is BatchNormApply on x and channel vectors of shape c.
func bnApply(x, y, c shape, relu bool) Call {
	return Call{Method: "BatchNormApply", Op: backend.OpBatchNormApply,
		Operands: ops("x", x, "gamma", c, "beta", c, "saveMean", c, "saveInvStd", c, "y", y),
		Infer: func(s []shape) error {
			return err1(backend.CheckBatchNormApply(s[0], s[1], s[2], s[3], s[4], s[5]))
		},
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return 0, b.BatchNormApply(t[0], t[1], t[2], t[3], t[4], t[5], relu)
		}}
}

func bnReLUBackward(x, c shape) Call {
	return Call{Method: "BatchNormReLUBackward", Op: backend.OpBatchNormReLUBackward,
		Operands: ops("dy", x, "y", x, "x", x, "gamma", c, "saveMean", c, "saveInvStd", c, "dx", x, "dgamma", c, "dbeta", c),
		Infer: func(s []shape) error {
			return err1(backend.CheckBatchNormReLUBackward(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8]))
		},
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return 0, b.BatchNormReLUBackward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8])
		}}
}

func reluForward(x, y shape) Call {
	return Call{Method: "ReLUForward", Op: backend.OpReLUForward, Operands: ops("x", x, "y", y),
		Infer: func(s []shape) error { return backend.CheckReLUForward(s[0], s[1]) },
		Run:   func(b backend.Backend, t []*tensor.Tensor) (float64, error) { return 0, b.ReLUForward(t[0], t[1]) }}
}

func reluBackward(y, dy, dx shape) Call {
	return Call{Method: "ReLUBackward", Op: backend.OpReLUBackward, Operands: ops("y", y, "dy", dy, "dx", dx),
		Infer: func(s []shape) error { return backend.CheckReLUBackward(s[0], s[1], s[2]) },
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return 0, b.ReLUBackward(t[0], t[1], t[2])
		}}
}

func maxPoolForward(x, y shape, p backend.PoolParams) Call {
	return Call{Method: "MaxPool2DForward", Op: backend.OpMaxPool2DForward, Operands: ops("x", x, "y", y),
		Infer: func(s []shape) error { return err1(backend.CheckMaxPool2DForward(s[0], s[1], p)) },
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return 0, b.MaxPool2DForward(t[0], t[1], p)
		}}
}

func maxPoolBackward(x, dy, dx shape, p backend.PoolParams) Call {
	return Call{Method: "MaxPool2DBackward", Op: backend.OpMaxPool2DBackward, Operands: ops("x", x, "dy", dy, "dx", dx),
		Infer: func(s []shape) error { return err1(backend.CheckMaxPool2DBackward(s[0], s[1], s[2], p)) },
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return 0, b.MaxPool2DBackward(t[0], t[1], t[2], p)
		}}
}

func gapForward(x, y shape) Call {
	return Call{Method: "GlobalAvgPoolForward", Op: backend.OpGlobalAvgPoolForward, Operands: ops("x", x, "y", y),
		Infer: func(s []shape) error { return err1(backend.CheckGlobalAvgPoolForward(s[0], s[1])) },
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return 0, b.GlobalAvgPoolForward(t[0], t[1])
		}}
}

func gapBackward(dy, dx shape) Call {
	return Call{Method: "GlobalAvgPoolBackward", Op: backend.OpGlobalAvgPoolBackward, Operands: ops("dy", dy, "dx", dx),
		Infer: func(s []shape) error { return err1(backend.CheckGlobalAvgPoolBackward(s[0], s[1])) },
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return 0, b.GlobalAvgPoolBackward(t[0], t[1])
		}}
}

func linearForward(x, w, bias, y any) Call {
	return Call{Method: "LinearForward", Op: backend.OpLinearForward, Operands: ops("x", x, "w", w, "b", bias, "y", y),
		Infer: func(s []shape) error { return err1(backend.CheckLinearForward(s[0], s[1], s[2], s[3])) },
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return 0, b.LinearForward(t[0], t[1], t[2], t[3])
		}}
}

func linearBackward(x, w, dy, dx, dw, db any) Call {
	return Call{Method: "LinearBackward", Op: backend.OpLinearBackward,
		Operands: ops("x", x, "w", w, "dy", dy, "dx", dx, "dw", dw, "db", db),
		Infer:    func(s []shape) error { return err1(backend.CheckLinearBackward(s[0], s[1], s[2], s[3], s[4], s[5])) },
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return 0, b.LinearBackward(t[0], t[1], t[2], t[3], t[4], t[5])
		}}
}

func l2Forward(x, y, norms shape) Call {
	return Call{Method: "L2NormalizeForward", Op: backend.OpL2NormalizeForward, Operands: ops("x", x, "y", y, "norms", norms),
		Infer: func(s []shape) error { return backend.CheckL2NormalizeForward(s[0], s[1], s[2]) },
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return 0, b.L2NormalizeForward(t[0], t[1], t[2])
		}}
}

func l2Backward(y, norms, dy, dx shape) Call {
	return Call{Method: "L2NormalizeBackward", Op: backend.OpL2NormalizeBackward,
		Operands: ops("y", y, "norms", norms, "dy", dy, "dx", dx),
		Infer:    func(s []shape) error { return backend.CheckL2NormalizeBackward(s[0], s[1], s[2], s[3]) },
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return 0, b.L2NormalizeBackward(t[0], t[1], t[2], t[3])
		}}
}

func simForward(z, s shape) Call {
	return Call{Method: "SimilarityForward", Op: backend.OpSimilarityForward, Operands: ops("z", z, "s", s),
		Infer: func(s []shape) error { return backend.CheckSimilarityForward(s[0], s[1]) },
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return 0, b.SimilarityForward(t[0], t[1])
		}}
}

func simBackward(z, ds, dz shape) Call {
	return Call{Method: "SimilarityBackward", Op: backend.OpSimilarityBackward, Operands: ops("z", z, "ds", ds, "dz", dz),
		Infer: func(s []shape) error { return backend.CheckSimilarityBackward(s[0], s[1], s[2]) },
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return 0, b.SimilarityBackward(t[0], t[1], t[2])
		}}
}

func ntxentForward(s shape, tau float32) Call {
	return Call{Method: "NTXentForward", Op: backend.OpNTXentForward, Operands: ops("s", s),
		Infer: func(s []shape) error { return err1(backend.CheckNTXentForward(s[0], tau)) },
		Run:   func(b backend.Backend, t []*tensor.Tensor) (float64, error) { return f64(b.NTXentForward(t[0], tau)) }}
}

func ntxentBackward(s, ds shape, tau float32) Call {
	return Call{Method: "NTXentBackward", Op: backend.OpNTXentBackward, Operands: ops("s", s, "ds", ds),
		Infer: func(s []shape) error { return err1(backend.CheckNTXentBackward(s[0], tau, s[1])) },
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return 0, b.NTXentBackward(t[0], tau, t[1])
		}}
}

func ntxentFusedForward(z, stats shape, tau float32) Call {
	return Call{Method: "NTXentFusedForward", Op: backend.OpNTXentFusedForward, Operands: ops("z", z, "stats", stats),
		Infer: func(s []shape) error { return err2(backend.CheckNTXentFusedForward(s[0], s[1], tau)) },
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return f64(b.NTXentFusedForward(t[0], t[1], tau))
		}}
}

func ntxentFusedBackward(z, stats, dz shape, tau float32) Call {
	return Call{Method: "NTXentFusedBackward", Op: backend.OpNTXentFusedBackward, Operands: ops("z", z, "stats", stats, "dz", dz),
		Infer: func(s []shape) error { return err2(backend.CheckNTXentFusedBackward(s[0], s[1], tau, s[2])) },
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return 0, b.NTXentFusedBackward(t[0], t[1], tau, t[2])
		}}
}

// lossAt downloads losses[slot], what an ...Into op wrote.
func lossAt(b backend.Backend, losses *tensor.Tensor, slot int) (float64, error) {
	v := make([]float32, losses.Numel())
	if err := b.Download(v, losses); err != nil {
		return 0, err
	}
	return float64(v[slot]), nil
}

func ntxentForwardInto(s, losses shape, tau float32, slot int) Call {
	return Call{Method: "NTXentForwardInto", Op: backend.OpNTXentForwardInto, Operands: ops("s", s, "losses", losses),
		Infer: func(s []shape) error { return err1(backend.CheckNTXentForwardInto(s[0], tau, s[1], slot)) },
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			if err := b.NTXentForwardInto(t[0], tau, t[1], slot); err != nil {
				return 0, err
			}
			return lossAt(b, t[1], slot)
		}}
}

func ntxentForwardBackwardInto(s, ds, losses shape, tau float32, slot int) Call {
	return Call{Method: "NTXentForwardBackwardInto", Op: backend.OpNTXentForwardBackwardInto, Operands: ops("s", s, "ds", ds, "losses", losses),
		Infer: func(s []shape) error {
			return err1(backend.CheckNTXentForwardBackwardInto(s[0], tau, s[1], s[2], slot))
		},
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			if err := b.NTXentForwardBackwardInto(t[0], tau, t[1], t[2], slot); err != nil {
				return 0, err
			}
			return lossAt(b, t[2], slot)
		}}
}

func ntxentFusedForwardInto(z, stats, losses shape, tau float32, slot int) Call {
	return Call{Method: "NTXentFusedForwardInto", Op: backend.OpNTXentFusedForwardInto, Operands: ops("z", z, "stats", stats, "losses", losses),
		Infer: func(s []shape) error { return err2(backend.CheckNTXentFusedForwardInto(s[0], s[1], tau, s[2], slot)) },
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			if err := b.NTXentFusedForwardInto(t[0], t[1], tau, t[2], slot); err != nil {
				return 0, err
			}
			return lossAt(b, t[2], slot)
		}}
}

func ceForward(logits shape, labels []int32) Call {
	return Call{Method: "SoftmaxCrossEntropyForward", Op: backend.OpSoftmaxCrossEntropyForward, Operands: ops("logits", logits),
		Infer: func(s []shape) error { return err2(backend.CheckSoftmaxCrossEntropyForward(s[0], labels)) },
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return f64(b.SoftmaxCrossEntropyForward(t[0], labels))
		}}
}

func ceBackward(logits, dlogits shape, labels []int32) Call {
	return Call{Method: "SoftmaxCrossEntropyBackward", Op: backend.OpSoftmaxCrossEntropyBackward,
		Operands: ops("logits", logits, "dlogits", dlogits),
		Infer:    func(s []shape) error { return err2(backend.CheckSoftmaxCrossEntropyBackward(s[0], labels, s[1])) },
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return 0, b.SoftmaxCrossEntropyBackward(t[0], labels, t[1])
		}}
}

func sumSquares(x shape) Call {
	return Call{Method: "SumSquares", Op: backend.OpSumSquares, Operands: ops("t", x),
		Infer: func(s []shape) error { return nil },
		Run:   func(b backend.Backend, t []*tensor.Tensor) (float64, error) { return b.SumSquares(t[0]) }}
}

func sumSquaresMulti(xs ...shape) Call {
	var pairs []any
	for i, x := range xs {
		pairs = append(pairs, fmt.Sprintf("ts[%d]", i), x)
	}
	return Call{Method: "SumSquaresMulti", Op: backend.OpSumSquaresMulti, Operands: ops(pairs...),
		Infer: func(s []shape) error { return nil },
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			v, err := b.SumSquaresMulti(t)
			s := 0.0
			for i, x := range v {
				s += float64(i+1) * x // a checksum that notices a swapped order
			}
			return s, err
		}}
}

func dot(a, c shape) Call {
	return Call{Method: "Dot", Op: backend.OpDot, Operands: ops("a", a, "b", c),
		Infer: func(s []shape) error { return backend.CheckDot(s[0], s[1]) },
		Run:   func(b backend.Backend, t []*tensor.Tensor) (float64, error) { return b.Dot(t[0], t[1]) }}
}

func momentumStep(p shape, o backend.MomentumOpts) Call {
	return Call{Method: "MomentumStep", Op: backend.OpMomentumStep, Operands: ops("p", p, "g", p, "buf", p),
		Infer: func(s []shape) error { return backend.CheckMomentumStep(s[0], s[1], s[2], o) },
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return 0, b.MomentumStep(t[0], t[1], t[2], o)
		}}
}

// larsStep is a LARSStep over len(ps) tensors, the operands named
// params[i], grads[i], bufs[i] in that order per tensor.
func larsStep(ps []shape, adapt []bool, o backend.LARSOpts) Call {
	var pairs []any
	for i, p := range ps {
		pairs = append(pairs, fmt.Sprintf("params[%d]", i), p, fmt.Sprintf("grads[%d]", i), p, fmt.Sprintf("bufs[%d]", i), p)
	}
	split := func(n int) (a, b, c []int) {
		for i := 0; i < n; i += 3 {
			a, b, c = append(a, i), append(b, i+1), append(c, i+2)
		}
		return
	}
	return Call{Method: "LARSStep", Op: backend.OpLARSStep, Operands: ops(pairs...),
		Infer: func(s []shape) error {
			pi, gi, bi := split(len(s))
			return backend.CheckLARSStep(pick(s, pi), pick(s, gi), pick(s, bi), len(adapt), o)
		},
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			pi, gi, bi := split(len(t))
			return 0, b.LARSStep(pick(t, pi), pick(t, gi), pick(t, bi), adapt, o)
		}}
}

// momentumMulti is a MomentumStepMulti over len(ps) tensors, the operands
// named params[i], grads[i], bufs[i] in that order per tensor.
func momentumMulti(ps []shape, decay []bool, o backend.MomentumOpts) Call {
	c := larsStep(ps, decay, backend.LARSOpts{})
	split := func(n int) (a, b, c []int) {
		for i := 0; i < n; i += 3 {
			a, b, c = append(a, i), append(b, i+1), append(c, i+2)
		}
		return
	}
	c.Method, c.Op = "MomentumStepMulti", backend.OpMomentumStepMulti
	c.Infer = func(s []shape) error {
		pi, gi, bi := split(len(s))
		return backend.CheckMomentumStepMulti(pick(s, pi), pick(s, gi), pick(s, bi), len(decay), o)
	}
	c.Run = func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
		pi, gi, bi := split(len(t))
		return 0, b.MomentumStepMulti(pick(t, pi), pick(t, gi), pick(t, bi), decay, o)
	}
	return c
}

func pick[T any](s []T, idx []int) []T {
	out := make([]T, len(idx))
	for k, i := range idx {
		out[k] = s[i]
	}
	return out
}

// adamWMulti is an AdamWStepMulti over len(ps) tensors, the operands
// named params[i], grads[i], ms[i], vs[i] in that order per tensor.
func adamWMulti(ps []shape, decay []bool, o backend.AdamWOpts) Call {
	var pairs []any
	for i, p := range ps {
		pairs = append(pairs, fmt.Sprintf("params[%d]", i), p, fmt.Sprintf("grads[%d]", i), p, fmt.Sprintf("ms[%d]", i), p, fmt.Sprintf("vs[%d]", i), p)
	}
	split := func(n int) (a, b, c, d []int) {
		for i := 0; i < n; i += 4 {
			a, b, c, d = append(a, i), append(b, i+1), append(c, i+2), append(d, i+3)
		}
		return
	}
	return Call{Method: "AdamWStepMulti", Op: backend.OpAdamWStepMulti, Operands: ops(pairs...),
		Infer: func(s []shape) error {
			pi, gi, mi, vi := split(len(s))
			return backend.CheckAdamWStepMulti(pick(s, pi), pick(s, gi), pick(s, mi), pick(s, vi), len(decay), o)
		},
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			pi, gi, mi, vi := split(len(t))
			return 0, b.AdamWStepMulti(pick(t, pi), pick(t, gi), pick(t, mi), pick(t, vi), decay, o)
		}}
}

func adamWStep(p shape, o backend.AdamWOpts) Call {
	return Call{Method: "AdamWStep", Op: backend.OpAdamWStep, Operands: ops("p", p, "g", p, "m", p, "v", p),
		Infer: func(s []shape) error { return backend.CheckAdamWStep(s[0], s[1], s[2], s[3], o) },
		Run: func(b backend.Backend, t []*tensor.Tensor) (float64, error) {
			return 0, b.AdamWStep(t[0], t[1], t[2], t[3], o)
		}}
}

var (
	conv1       = backend.ConvParams{Stride: 1, Pad: 1}
	pool        = backend.PoolParams{Kernel: 3, Stride: 2, Pad: 1}
	sgd         = backend.MomentumOpts{LR: 0.1, Momentum: 0.9, WeightDecay: 1e-4, TrustRatio: 1}
	lars        = backend.LARSOpts{LR: 0.1, Momentum: 0.9, WeightDecay: 1e-4, TrustCoef: 0.001}
	adamw       = backend.AdamWOpts{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Step: 1}
	labels2     = []int32{0, 2}
	bnMom       = float32(0.1)
	bnEps       = float32(1e-5)
	temperature = float32(0.5)
)

// Valid returns one valid call per op method (two for batch norm: 4-D and
// 2-D input; two for the linear ops: with and without the optional
// operands).
func Valid() []Call {
	x4, c3 := shape{2, 3, 2, 2}, shape{3}
	x2 := shape{4, 3}
	calls := []Call{
		copyCall(shape{2, 3}, shape{3, 2}),
		upload(shape{2, 3}, 6),
		download(6, shape{2, 3}),
		add(shape{2, 3}, shape{2, 3}, shape{2, 3}),
		conv2DForward(shape{2, 3, 5, 5}, shape{4, 3, 3, 3}, shape{2, 4, 5, 5}, conv1),
		conv2DBackwardData(shape{2, 4, 5, 5}, shape{4, 3, 3, 3}, shape{2, 3, 5, 5}, conv1),
		conv2DBackwardFilter(shape{2, 3, 5, 5}, shape{2, 4, 5, 5}, shape{4, 3, 3, 3}, conv1),
		bnTrain(false, x4, x4, c3, bnMom, bnEps),
		named("valid 2-D", bnTrain(false, x2, x2, c3, bnMom, bnEps)),
		bnTrain(true, x4, x4, c3, bnMom, bnEps),
		bnEval(x4, x4, c3, bnEps),
		bnBackward(x4, c3),
		named("valid 2-D", bnBackward(x2, c3)),
		bnReLUBackward(x4, c3),
		bnApply(x4, x4, c3, false),
		named("valid 2-D relu", bnApply(x2, x2, c3, true)),
		named("valid one value per channel", bnApply(shape{1, 3}, shape{1, 3}, c3, true)),
		reluForward(shape{2, 3}, shape{2, 3}),
		reluBackward(shape{2, 3}, shape{2, 3}, shape{2, 3}),
		maxPoolForward(shape{1, 2, 8, 8}, shape{1, 2, 4, 4}, pool),
		maxPoolBackward(shape{1, 2, 8, 8}, shape{1, 2, 4, 4}, shape{1, 2, 8, 8}, pool),
		gapForward(shape{2, 3, 4, 4}, shape{2, 3}),
		gapBackward(shape{2, 3}, shape{2, 3, 4, 4}),
		linearForward(shape{5, 7}, shape{3, 7}, shape{3}, shape{5, 3}),
		named("valid without b", linearForward(shape{5, 7}, shape{3, 7}, nil, shape{5, 3})),
		linearBackward(shape{5, 7}, shape{3, 7}, shape{5, 3}, shape{5, 7}, shape{3, 7}, shape{3}),
		named("valid without dx and db", linearBackward(shape{5, 7}, shape{3, 7}, shape{5, 3}, nil, shape{3, 7}, nil)),
		l2Forward(shape{4, 3}, shape{4, 3}, shape{4}),
		l2Backward(shape{4, 3}, shape{4}, shape{4, 3}, shape{4, 3}),
		simForward(shape{4, 3}, shape{4, 4}),
		simBackward(shape{4, 3}, shape{4, 4}, shape{4, 3}),
		ntxentForward(shape{4, 4}, temperature),
		ntxentBackward(shape{4, 4}, shape{4, 4}, temperature),
		ntxentFusedForward(shape{4, 3}, shape{4, 2}, temperature),
		ntxentFusedBackward(shape{4, 3}, shape{4, 2}, shape{4, 3}, temperature),
		named("valid N=1", ntxentFusedForward(shape{2, 5}, shape{2, 2}, temperature)),
		ntxentForwardInto(shape{4, 4}, shape{3}, temperature, 1),
		ntxentForwardBackwardInto(shape{4, 4}, shape{4, 4}, shape{2}, temperature, 1),
		ntxentFusedForwardInto(shape{4, 3}, shape{4, 2}, shape{3}, temperature, 2),
		named("valid one slot", ntxentFusedForwardInto(shape{2, 5}, shape{2, 2}, shape{1}, temperature, 0)),
		ceForward(shape{2, 3}, labels2),
		ceBackward(shape{2, 3}, shape{2, 3}, labels2),
		sumSquares(shape{2, 3}),
		sumSquaresMulti(shape{2, 3}, shape{5}, shape{1, 1}),
		dot(shape{2, 3}, shape{2, 3}),
		momentumStep(shape{2, 3}, sgd),
		larsStep([]shape{{2, 3}, {5}, {4, 1, 2}}, []bool{true, false, true}, lars),
		momentumMulti([]shape{{2, 3}, {5}}, []bool{true, false}, sgd),
		adamWStep(shape{2, 3}, adamw),
		adamWMulti([]shape{{2, 3}, {5}}, []bool{true, false}, adamw),
	}
	for i := range calls {
		if calls[i].Variant == "" {
			calls[i].Variant = "valid"
		}
	}
	return calls
}

// Mutations returns the calls made from c by making one operand one
// dimension larger ("x rank+1", a trailing 1) or one of its dimensions one
// larger ("x[2]+1"). Most are invalid; the shape inference decides.
func Mutations(c Call) []Call {
	var out []Call
	for i, o := range c.Operands {
		if o.Shape == nil {
			continue
		}
		mutate := func(variant string, s shape) {
			m := c
			m.Operands = append([]Operand(nil), c.Operands...)
			m.Operands[i].Shape = s
			m.Variant = c.Variant + ", " + variant
			m.Generated = true
			out = append(out, m)
		}
		mutate(o.Name+" rank+1", append(o.Shape.Clone(), 1))
		for j := range o.Shape {
			s := o.Shape.Clone()
			s[j]++
			mutate(fmt.Sprintf("%s[%d]+1", o.Name, j), s)
		}
	}
	return out
}

// BadParams returns calls with valid shapes and bad parameters or labels,
// and calls whose shapes break a rule the mutations do not reach (an
// input smaller than the kernel, one value per batch-norm channel, an odd
// similarity matrix, empty logits). Every one is invalid.
func BadParams() []Call {
	x, w, y := shape{2, 3, 5, 5}, shape{4, 3, 3, 3}, shape{2, 4, 5, 5}
	px, py := shape{1, 2, 8, 8}, shape{1, 2, 4, 4}
	x4, c3 := shape{2, 3, 2, 2}, shape{3}
	p := shape{2, 3}
	return []Call{
		named("stride 0", conv2DForward(x, w, y, backend.ConvParams{Stride: 0, Pad: 1})),
		named("padding -1", conv2DBackwardData(y, w, x, backend.ConvParams{Stride: 1, Pad: -1})),
		named("input smaller than the kernel", conv2DBackwardFilter(shape{1, 3, 2, 2}, shape{1, 4, 0, 0}, w, backend.ConvParams{Stride: 1})),
		named("kernel 0", maxPoolForward(px, py, backend.PoolParams{Kernel: 0, Stride: 2, Pad: 1})),
		named("padding over half the kernel", maxPoolBackward(px, py, px, backend.PoolParams{Kernel: 3, Stride: 2, Pad: 2})),
		named("input smaller than the window", maxPoolForward(shape{1, 2, 1, 1}, shape{1, 2, 1, 1}, backend.PoolParams{Kernel: 3, Stride: 1})),
		named("no spatial positions", gapForward(shape{2, 3, 0, 4}, shape{2, 3})),
		named("no spatial positions", gapBackward(shape{2, 3}, shape{2, 3, 4, 0})),
		named("eps 0", bnTrain(false, x4, x4, c3, bnMom, 0)),
		named("momentum 1.5", bnTrain(true, x4, x4, c3, 1.5, bnEps)),
		named("one value per channel", bnTrain(false, shape{1, 3}, shape{1, 3}, c3, bnMom, bnEps)),
		named("eps -1", bnEval(x4, x4, c3, -1)),
		named("3-D x", bnBackward(shape{2, 3, 4}, c3)),
		named("3-D x", bnApply(shape{2, 3, 4}, shape{2, 3, 4}, c3, false)),
		named("5-D x", bnApply(shape{2, 3, 1, 2, 2}, shape{2, 3, 1, 2, 2}, c3, true)),
		named("3x3 s", ntxentForward(shape{3, 3}, temperature)),
		named("temperature 0", ntxentBackward(shape{4, 4}, shape{4, 4}, 0)),
		named("3 rows of z", ntxentFusedForward(shape{3, 4}, shape{3, 2}, temperature)),
		named("D 0", ntxentFusedForward(shape{4, 0}, shape{4, 2}, temperature)),
		named("temperature NaN", ntxentFusedBackward(shape{4, 3}, shape{4, 2}, shape{4, 3}, float32(math.NaN()))),
		named("slot -1", ntxentForwardInto(shape{4, 4}, shape{3}, temperature, -1)),
		named("slot 3 of 3", ntxentFusedForwardInto(shape{4, 3}, shape{4, 2}, shape{3}, temperature, 3)),
		named("no losses", ntxentForwardInto(shape{4, 4}, shape{0}, temperature, 0)),
		named("slot 2 of 2", ntxentForwardBackwardInto(shape{4, 4}, shape{4, 4}, shape{2}, temperature, 2)),
		named("temperature -1", ntxentForwardBackwardInto(shape{4, 4}, shape{4, 4}, shape{2}, -1, 0)),
		named("temperature 0", ntxentFusedForwardInto(shape{4, 3}, shape{4, 2}, shape{3}, 0, 0)),
		named("3 labels for 2 rows", ceForward(shape{2, 3}, []int32{0, 1, 2})),
		named("label 3 of 3 classes", ceBackward(shape{2, 3}, shape{2, 3}, []int32{0, 3})),
		named("negative label", ceForward(shape{2, 3}, []int32{-1, 0})),
		named("empty logits", ceForward(shape{0, 3}, nil)),
		named("upload 5 values into 6", upload(p, 5)),
		named("download 6 values into 7", download(7, p)),
		named("trust ratio 0", momentumStep(p, backend.MomentumOpts{LR: 0.1, Momentum: 0.9})),
		named("momentum -1", momentumStep(p, backend.MomentumOpts{LR: 0.1, Momentum: -1, TrustRatio: 1})),
		named("trust coefficient 0", larsStep([]shape{p}, []bool{true}, backend.LARSOpts{LR: 0.1, Momentum: 0.9})),
		named("weight decay -1", larsStep([]shape{p}, []bool{true}, backend.LARSOpts{LR: 0.1, Momentum: 0.9, WeightDecay: -1, TrustCoef: 0.001})),
		named("2 adapt flags for 1 tensor", larsStep([]shape{p}, []bool{true, false}, lars)),
		named("trust ratio 0", momentumMulti([]shape{p}, []bool{true}, backend.MomentumOpts{LR: 0.1, Momentum: 0.9})),
		named("step 0", adamWStep(p, backend.AdamWOpts{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})),
		named("beta1 1", adamWStep(p, backend.AdamWOpts{LR: 1e-3, Beta1: 1, Beta2: 0.999, Eps: 1e-8, Step: 1})),
		named("multi step 0", adamWMulti([]shape{p}, []bool{true}, backend.AdamWOpts{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})),
		named("2 decay flags for 1 tensor", adamWMulti([]shape{p}, []bool{true, false}, adamw)),
	}
}

// All returns the valid calls, their mutations and BadParams.
func All() []Call {
	var all []Call
	for _, c := range Valid() {
		all = append(all, c)
		all = append(all, Mutations(c)...)
	}
	return append(all, BadParams()...)
}
