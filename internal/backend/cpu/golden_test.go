package cpu_test

// Golden tests: every backend op against PyTorch values from
// testdata/golden/{ops,ntxent}.safetensors (tools/golden/gen.py; see
// docs/golden.md). The references were computed in float64 from
// float32-representable inputs and rounded to float32, so they are exact to
// float32 precision and the tolerances below measure only this backend's
// float32 rounding.
//
// Tolerances (golden.Tol: |got-want| <= ATol*max(1,max|want|) + RTol*|want|):
//   - opTol (rtol 1e-4, atol 1e-5): single ops. Each output is a sum of at
//     most a few hundred float32 products, whose rounding error is ~1e-6 of
//     the magnitude of the terms; 1e-4/1e-5 leaves a 10x margin yet catches
//     any wrong index, sign or missing term (those are O(1) relative errors).
//   - bnTol (rtol 1e-4, atol 2e-5): batch-norm backward subtracts two means
//     of products from dy, a cancellation that loses about one more digit.
//   - lossTol (rtol 1e-5, atol 1e-6): scalar losses accumulated in float64.

import (
	"fmt"
	"math"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/backend/cpu"
	"simclr/internal/safetensors/golden"
	"simclr/internal/tensor"
)

var (
	opTol = golden.Tol{RTol: 1e-4, ATol: 1e-5}
	bnTol = golden.Tol{RTol: 1e-4, ATol: 2e-5}
)

const (
	lossRTol = 1e-5
	lossATol = 1e-6
)

// gt is a test bound to one backend and one golden file.
type gt struct {
	t *testing.T
	b backend.Backend
	f *golden.File
}

// load uploads a golden tensor into a new backend tensor of its shape.
func (g *gt) load(name string) *tensor.Tensor {
	g.t.Helper()
	return g.upload(g.f.F32(name), g.f.Shape(name)...)
}

func (g *gt) upload(values []float32, shape ...int) *tensor.Tensor {
	g.t.Helper()
	x, err := g.b.New(shape...)
	if err != nil {
		g.t.Fatal(err)
	}
	if err := g.b.Upload(x, values); err != nil {
		g.t.Fatal(err)
	}
	return x
}

// alloc returns a new tensor filled with NaN, so that an op which forgets to
// write an element is caught.
func (g *gt) alloc(shape ...int) *tensor.Tensor {
	g.t.Helper()
	x, err := g.b.New(shape...)
	if err != nil {
		g.t.Fatal(err)
	}
	nan := make([]float32, x.Numel())
	for i := range nan {
		nan[i] = float32(math.NaN())
	}
	if err := g.b.Upload(x, nan); err != nil {
		g.t.Fatal(err)
	}
	return x
}

func (g *gt) down(x *tensor.Tensor) []float32 {
	g.t.Helper()
	out := make([]float32, x.Numel())
	if err := g.b.Download(out, x); err != nil {
		g.t.Fatal(err)
	}
	return out
}

// check compares backend tensor got with golden tensor name.
func (g *gt) check(what string, got *tensor.Tensor, name string, tol golden.Tol) {
	g.t.Helper()
	if want := g.f.Shape(name); !got.Shape.Equal(want) {
		g.t.Errorf("%s: shape %v, golden %v", what, got.Shape, tensor.Shape(want))
		return
	}
	golden.Compare(g.t, what, g.down(got), g.f.F32(name), tol)
}

func (g *gt) must(err error) {
	g.t.Helper()
	if err != nil {
		g.t.Fatal(err)
	}
}

func newGT(t *testing.T, file string) *gt {
	b := cpu.New()
	t.Cleanup(func() { b.Close() })
	return &gt{t: t, b: b, f: golden.Open(t, file)}
}

func TestGoldenConv2D(t *testing.T) {
	g0 := newGT(t, "ops.safetensors")
	var cases struct {
		Conv []struct {
			Name                            string
			N, Cin, Cout, K, Stride, Pad, H int
			W                               int
		}
	}
	g0.f.Meta("cases", &cases)
	if len(cases.Conv) < 5 {
		t.Fatalf("only %d conv cases in the golden file", len(cases.Conv))
	}
	for _, c := range cases.Conv {
		t.Run(c.Name, func(t *testing.T) {
			g := &gt{t: t, b: g0.b, f: g0.f}
			pre := "conv/" + c.Name + "/"
			p := backend.ConvParams{Stride: c.Stride, Pad: c.Pad}
			x, w, dy := g.load(pre+"x"), g.load(pre+"w"), g.load(pre+"r")
			ho := backend.ConvOutSize(c.H, c.K, c.Stride, c.Pad)
			wo := backend.ConvOutSize(c.W, c.K, c.Stride, c.Pad)
			y := g.alloc(c.N, c.Cout, ho, wo)
			g.must(g.b.Conv2DForward(x, w, y, p))
			g.check("y", y, pre+"y", opTol)
			dx := g.alloc(c.N, c.Cin, c.H, c.W)
			g.must(g.b.Conv2DBackwardData(dy, w, dx, p))
			g.check("dx", dx, pre+"dx", opTol)
			dw := g.alloc(c.Cout, c.Cin, c.K, c.K)
			g.must(g.b.Conv2DBackwardFilter(x, dy, dw, p))
			g.check("dw", dw, pre+"dw", opTol)
		})
	}
}

func TestGoldenBatchNorm(t *testing.T) {
	g0 := newGT(t, "ops.safetensors")
	var cases struct {
		BN []struct {
			Name     string
			Train    bool
			Shape    []int
			Momentum float32
			Eps      float32
		}
	}
	g0.f.Meta("cases", &cases)
	train := 0
	for _, c := range cases.BN {
		t.Run(c.Name, func(t *testing.T) {
			g := &gt{t: t, b: g0.b, f: g0.f}
			pre := "bn/" + c.Name + "/"
			ch := c.Shape[1]
			x, gamma, beta := g.load(pre+"x"), g.load(pre+"gamma"), g.load(pre+"beta")
			rm, rv := g.load(pre+"running_mean"), g.load(pre+"running_var")
			y := g.alloc(c.Shape...)
			if !c.Train {
				g.must(g.b.BatchNormForwardEval(x, gamma, beta, rm, rv, y, c.Eps))
				g.check("eval y", y, pre+"y", opTol)
				return
			}
			mean, invStd := g.alloc(ch), g.alloc(ch)
			g.must(g.b.BatchNormForwardTrain(x, gamma, beta, y, mean, invStd, rm, rv, c.Momentum, c.Eps))
			g.check("train y", y, pre+"y", opTol)
			g.check("running_mean", rm, pre+"new_running_mean", opTol)
			g.check("running_var (unbiased)", rv, pre+"new_running_var", opTol)
			dy := g.load(pre + "r")
			dx, dgamma, dbeta := g.alloc(c.Shape...), g.alloc(ch), g.alloc(ch)
			g.must(g.b.BatchNormBackward(dy, x, gamma, mean, invStd, dx, dgamma, dbeta))
			g.check("dx", dx, pre+"dx", bnTol)
			g.check("dgamma", dgamma, pre+"dgamma", bnTol)
			g.check("dbeta", dbeta, pre+"dbeta", bnTol)
		})
		if c.Train {
			train++
		}
	}
	if train < 2 || len(cases.BN) < 4 {
		t.Fatalf("golden file has %d BN cases (%d train); want 2-D and 4-D, train and eval", len(cases.BN), train)
	}
}

func TestGoldenReLU(t *testing.T) {
	g := newGT(t, "ops.safetensors")
	x := g.load("relu/x")
	y := g.alloc(x.Shape...)
	g.must(g.b.ReLUForward(x, y))
	g.check("relu y", y, "relu/y", opTol)
	dx := g.alloc(x.Shape...)
	g.must(g.b.ReLUBackward(y, g.load("relu/r"), dx))
	g.check("relu dx", dx, "relu/dx", opTol)
}

func TestGoldenMaxPool(t *testing.T) {
	g0 := newGT(t, "ops.safetensors")
	var cases struct {
		Maxpool []struct {
			Name           string
			Shape          []int
			K, Stride, Pad int
		}
	}
	g0.f.Meta("cases", &cases)
	if len(cases.Maxpool) == 0 {
		t.Fatal("no max-pool cases in the golden file")
	}
	for _, c := range cases.Maxpool {
		t.Run(c.Name, func(t *testing.T) {
			g := &gt{t: t, b: g0.b, f: g0.f}
			pre := "maxpool/" + c.Name + "/"
			p := backend.PoolParams{Kernel: c.K, Stride: c.Stride, Pad: c.Pad}
			x := g.load(pre + "x")
			y := g.alloc(g.f.Shape(pre + "y")...)
			g.must(g.b.MaxPool2DForward(x, y, p))
			g.check("y", y, pre+"y", opTol)
			dx := g.alloc(c.Shape...)
			g.must(g.b.MaxPool2DBackward(x, g.load(pre+"r"), dx, p))
			g.check("dx", dx, pre+"dx", opTol)
		})
	}
}

func TestGoldenGlobalAvgPool(t *testing.T) {
	g := newGT(t, "ops.safetensors")
	x := g.load("avgpool/x")
	y := g.alloc(x.Dim(0), x.Dim(1))
	g.must(g.b.GlobalAvgPoolForward(x, y))
	g.check("avgpool y", y, "avgpool/y", opTol)
	dx := g.alloc(x.Shape...)
	g.must(g.b.GlobalAvgPoolBackward(g.load("avgpool/r"), dx))
	g.check("avgpool dx", dx, "avgpool/dx", opTol)
}

func TestGoldenLinear(t *testing.T) {
	for _, name := range []string{"bias", "nobias"} {
		t.Run(name, func(t *testing.T) {
			g := newGT(t, "ops.safetensors")
			pre := "linear/" + name + "/"
			x, w, dy := g.load(pre+"x"), g.load(pre+"w"), g.load(pre+"r")
			var b, db *tensor.Tensor
			if name == "bias" {
				b, db = g.load(pre+"b"), g.alloc(w.Dim(0))
			}
			y := g.alloc(x.Dim(0), w.Dim(0))
			g.must(g.b.LinearForward(x, w, b, y))
			g.check("y", y, pre+"y", opTol)
			dx, dw := g.alloc(x.Shape...), g.alloc(w.Shape...)
			g.must(g.b.LinearBackward(x, w, dy, dx, dw, db))
			g.check("dx", dx, pre+"dx", opTol)
			g.check("dw", dw, pre+"dw", opTol)
			if db != nil {
				g.check("db", db, pre+"db", opTol)
			}
		})
	}
}

func TestGoldenL2Normalize(t *testing.T) {
	g := newGT(t, "ops.safetensors")
	x := g.load("normalize/x")
	rows, d := x.Dim(0), x.Dim(1)
	y, norms := g.alloc(rows, d), g.alloc(rows)
	g.must(g.b.L2NormalizeForward(x, y, norms))
	g.check("normalize y", y, "normalize/y", opTol)
	dx := g.alloc(rows, d)
	g.must(g.b.L2NormalizeBackward(y, norms, g.load("normalize/r"), dx))
	// Rows differ in scale by 1e6 (x rows scaled 1e-3 and 1e3), and so do
	// their gradients: compare row by row so each row is judged at its own
	// scale.
	got, want := g.down(dx), g.f.F32("normalize/dx")
	for i := 0; i < rows; i++ {
		golden.Compare(t, fmt.Sprintf("normalize dx row %d", i), got[i*d:(i+1)*d], want[i*d:(i+1)*d],
			golden.Tol{RTol: 1e-4, ATol: 1e-5 * math.Min(1, golden.MaxAbs(want[i*d:(i+1)*d]))})
	}
}

func TestGoldenSimilarity(t *testing.T) {
	g := newGT(t, "ops.safetensors")
	z := g.load("similarity/z")
	m := z.Dim(0)
	s := g.alloc(m, m)
	g.must(g.b.SimilarityForward(z, s))
	g.check("s", s, "similarity/s", opTol)
	dz := g.alloc(z.Shape...)
	g.must(g.b.SimilarityBackward(z, g.load("similarity/r"), dz))
	g.check("dz (ds not symmetric)", dz, "similarity/dz", opTol)
}

func TestGoldenSoftmaxCrossEntropy(t *testing.T) {
	for _, name := range []string{"plain", "large_logits"} {
		t.Run(name, func(t *testing.T) {
			g := newGT(t, "ops.safetensors")
			pre := "xent/" + name + "/"
			logits := g.load(pre + "logits")
			var labels []int32
			for _, l := range g.f.I64(pre + "labels") {
				labels = append(labels, int32(l))
			}
			loss, err := g.b.SoftmaxCrossEntropyForward(logits, labels)
			g.must(err)
			golden.CompareScalar(t, "loss", float64(loss), g.f.Scalar(pre+"loss"), lossRTol, lossATol)
			dl := g.alloc(logits.Shape...)
			g.must(g.b.SoftmaxCrossEntropyBackward(logits, labels, dl))
			g.check("dlogits", dl, pre+"dlogits", opTol)
		})
	}
}

type ntxentCase struct {
	Name      string
	N, D      int
	Tau       float32
	Symmetric bool
}

func TestGoldenNTXent(t *testing.T) {
	g0 := newGT(t, "ntxent.safetensors")
	var cases []ntxentCase
	g0.f.Meta("cases", &cases)
	taus := map[float32]bool{}
	for _, c := range cases {
		taus[c.Tau] = true
	}
	if len(cases) < 12 || !taus[0.05] {
		t.Fatalf("golden file has %d NT-Xent cases (taus %v); want N in {2,5,16} x tau in {0.05,0.1,0.5,1}", len(cases), taus)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			g := &gt{t: t, b: g0.b, f: g0.f}
			pre := "ntxent/" + c.Name + "/"
			m := 2 * c.N
			if c.Symmetric {
				// The full chain z -> L2 normalise -> s = zn zn^T -> NT-Xent.
				z := g.load(pre + "z")
				zn, norms, s := g.alloc(m, c.D), g.alloc(m), g.alloc(m, m)
				g.must(g.b.L2NormalizeForward(z, zn, norms))
				g.must(g.b.SimilarityForward(zn, s))
				loss, err := g.b.NTXentForward(s, c.Tau)
				g.must(err)
				golden.CompareScalar(t, "chain loss", float64(loss), g.f.Scalar(pre+"loss"), lossRTol, lossATol)
				ds, dzn, dz := g.alloc(m, m), g.alloc(m, c.D), g.alloc(m, c.D)
				g.must(g.b.NTXentBackward(s, c.Tau, ds))
				g.must(g.b.SimilarityBackward(zn, ds, dzn))
				g.must(g.b.L2NormalizeBackward(zn, norms, dzn, dz))
				g.check("chain dz", dz, pre+"dz", opTol)
			}
			// The loss of a given similarity matrix alone.
			s := g.load(pre + "s")
			loss, err := g.b.NTXentForward(s, c.Tau)
			g.must(err)
			golden.CompareScalar(t, "loss(s)", float64(loss), g.f.Scalar(pre+"s_loss"), lossRTol, lossATol)
			ds := g.alloc(m, m)
			g.must(g.b.NTXentBackward(s, c.Tau, ds))
			g.check("ds", ds, pre+"ds", opTol)
		})
	}
}

// TestGoldenNTXentFused: the fused op from the normalised zn against
// PyTorch's loss, row log-sum-exps and gradient w.r.t. zn (2N = 140: not
// a multiple of any tile; and N = 1).
func TestGoldenNTXentFused(t *testing.T) {
	g0 := newGT(t, "ntxent.safetensors")
	var cases []ntxentCase
	g0.f.Meta("fused_cases", &cases)
	if len(cases) < 2 {
		t.Fatalf("golden file has %d fused NT-Xent cases, want 2 (regenerate with tools/golden/gen.py)", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			g := &gt{t: t, b: g0.b, f: g0.f}
			pre := "ntxent/" + c.Name + "/"
			m := 2 * c.N
			zn := g.load(pre + "zn")
			stats, dzn := g.alloc(m, 2), g.alloc(m, c.D)
			loss, err := g.b.NTXentFusedForward(zn, stats, c.Tau)
			g.must(err)
			golden.CompareScalar(t, "loss", float64(loss), g.f.Scalar(pre+"loss"), lossRTol, lossATol)
			sv := g.down(stats)
			lse := make([]float32, m)
			for i := range lse {
				lse[i] = float32(float64(sv[2*i]) + float64(sv[2*i+1]))
			}
			golden.Compare(t, "lse", lse, g.f.F32(pre+"lse"), golden.Tol{RTol: 1e-6, ATol: 1e-7})
			g.must(g.b.NTXentFusedBackward(zn, stats, c.Tau, dzn))
			g.check("dzn", dzn, pre+"dzn", opTol)
		})
	}
}
