package model_test

// Golden tests: torchvision BasicBlock / Bottleneck and a CIFAR-stem
// ResNet-18 against PyTorch values from testdata/golden/blocks.safetensors,
// resnet18_small.safetensors and resnet18.safetensors (tools/golden/gen.py;
// see docs/golden.md). The references were computed in float64 from
// float32-representable inputs and weights and rounded to float32, so the
// tolerances below measure only the float32 error of this implementation.
//
// Tolerances (golden.Tol: |got-want| <= ATol*max(1,max|want|) + RTol*|want|):
//   - blockTol (rtol 1e-4, atol 5e-5): a block is 2-3 convs and 2-4 batch
//     norms deep; each layer adds ~1e-6 relative float32 error and BN
//     backward's mean subtraction loses about a digit. Measured worst error:
//     ~2e-6 relative, so the margin is ~50x.
//   - netTol (rtol 5e-4, atol 5e-4): a 17-conv ResNet compounds those
//     errors; measured worst ~2e-5 relative (width 8 and 64), margin ~25x,
//     which leaves room for a differently blocked gemm.
//   - gradNormRTol (1e-4): full L2 norms of the gradients agree to ~1e-6.
//     Any real bug (missing residual, wrong stride, dropped BN term, wrong
//     running-stat update) moves values by more than 1%.
//
// The ResNet weights come from a hash of (parameter index, element index)
// that Go reproduces bit for bit (see formulaValues), so the files need not
// hold 11M weights. A smooth fill such as sin(0.01*j) was tried first and
// rejected: it makes the network so ill-conditioned that float32 PyTorch
// itself misses the float64 gradients by 3%.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"simclr/internal/backend"
	"simclr/internal/backend/cpu"
	"simclr/internal/model"
	"simclr/internal/safetensors/golden"
	"simclr/internal/tensor"
)

var (
	blockTol = golden.Tol{RTol: 1e-4, ATol: 5e-5}
	netTol   = golden.Tol{RTol: 5e-4, ATol: 5e-4}
)

const gradNormRTol = 1e-4

// goldenBlock is the part of BasicBlock and Bottleneck the test uses.
type goldenBlock interface {
	Forward(x *tensor.Tensor, train bool) (*tensor.Tensor, error)
	Backward(dy *tensor.Tensor) (*tensor.Tensor, error)
	Params() []*model.Param
	StateDict() []model.StateEntry
}

func goldenUpload(t *testing.T, b backend.Backend, values []float32, shape ...int) *tensor.Tensor {
	t.Helper()
	x, err := b.New(shape...)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Upload(x, values); err != nil {
		t.Fatal(err)
	}
	return x
}

func goldenDownload(t *testing.T, b backend.Backend, x *tensor.Tensor) []float32 {
	t.Helper()
	out := make([]float32, x.Numel())
	if err := b.Download(out, x); err != nil {
		t.Fatal(err)
	}
	return out
}

// goldenCompare checks a backend tensor's shape and values against the
// golden tensor name.
func goldenCompare(t *testing.T, b backend.Backend, f *golden.File, what string, got *tensor.Tensor, name string, tol golden.Tol) {
	t.Helper()
	if want := tensor.Shape(f.Shape(name)); !got.Shape.Equal(want) {
		t.Errorf("%s: shape %v, golden %v", what, got.Shape, want)
		return
	}
	golden.Compare(t, what, goldenDownload(t, b, got), f.F32(name), tol)
}

func sameNames(t *testing.T, what string, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s names differ from torchvision:\n got %v\nwant %v", what, got, want)
	}
}

func TestGoldenBlocks(t *testing.T) {
	f := golden.Open(t, "blocks.safetensors")
	var cases []struct {
		Name, Kind              string
		In, Planes, Out, Stride int
		Shape                   []int
		Params, State           []string
	}
	f.Meta("cases", &cases)
	kinds := map[string]int{}
	for _, c := range cases {
		kinds[c.Kind]++
	}
	if kinds["basic"] < 2 || kinds["bottleneck"] < 2 {
		t.Fatalf("golden file has block cases %v; want stride 1 and 2 of each kind", kinds)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			b := cpu.New()
			defer b.Close()
			rng := rand.New(rand.NewPCG(1, 2))
			var blk goldenBlock
			var err error
			if c.Kind == "basic" {
				blk, err = model.NewBasicBlock(b, "", c.In, c.Planes, c.Stride, rng)
			} else {
				blk, err = model.NewBottleneck(b, "", c.In, c.Planes, c.Stride, rng)
			}
			if err != nil {
				t.Fatal(err)
			}
			pre := "block/" + c.Name + "/"
			var pnames, snames []string
			for _, p := range blk.Params() {
				pnames = append(pnames, p.Name)
			}
			sameNames(t, "parameter", pnames, c.Params)
			state := blk.StateDict()
			for _, e := range state {
				snames = append(snames, e.Name)
			}
			sameNames(t, "state_dict", snames, c.State)
			// Load PyTorch's initial state (weights and BN buffers).
			for _, e := range state {
				if e.F32 != nil {
					if err := b.Upload(e.F32, f.F32(pre+"init/"+e.Name)); err != nil {
						t.Fatalf("%s: %v", e.Name, err)
					}
				} else {
					*e.I64 = f.I64(pre + "init/" + e.Name)[0]
				}
			}
			x := goldenUpload(t, b, f.F32(pre+"x"), c.Shape...)
			y, err := blk.Forward(x, true)
			if err != nil {
				t.Fatal(err)
			}
			goldenCompare(t, b, f, "y", y, pre+"y", blockTol)
			dy := goldenUpload(t, b, f.F32(pre+"r"), f.Shape(pre+"r")...)
			dx, err := blk.Backward(dy)
			if err != nil {
				t.Fatal(err)
			}
			goldenCompare(t, b, f, "dx", dx, pre+"dx", blockTol)
			for _, p := range blk.Params() {
				goldenCompare(t, b, f, "grad "+p.Name, p.Grad, pre+"grad/"+p.Name, blockTol)
			}
			for _, e := range blk.StateDict() {
				if e.F32 != nil {
					if _, ok := f.Get(pre + "after/" + e.Name); ok {
						goldenCompare(t, b, f, "after step "+e.Name, e.F32, pre+"after/"+e.Name, blockTol)
					}
				} else if want := f.I64(pre + "after/" + e.Name)[0]; *e.I64 != want {
					t.Errorf("%s = %d after one train step, want %d", e.Name, *e.I64, want)
				}
			}
		})
	}
}

// formulaValues fills parameter k (0-based in Params order) of the given
// shape exactly as tools/golden/gen.py does (its FORMULA): a 64-bit hash of
// (k, j) mapped to s uniform in [-1, 1); conv weights s*sqrt(3/fan_in), BN
// gamma 1+0.1*s, BN beta 0.1*s, rounded to float32. Every step is an exactly
// rounded IEEE operation, so the values are bit-identical to PyTorch's.
func formulaValues(k int, name string, shape tensor.Shape) []float32 {
	out := make([]float32, shape.Numel())
	c := 1.0
	if len(shape) > 1 {
		c = math.Sqrt(3 / float64(shape[1:].Numel()))
	}
	isWeight := strings.HasSuffix(name, "weight")
	kmix := uint64(k+1) * 0xBF58476D1CE4E5B9
	for j := range out {
		x := uint64(j+1)*0x9E3779B97F4A7C15 + kmix
		x ^= x >> 31
		x *= 0x94D049BB133111EB
		x ^= x >> 29
		s := 2*(float64(x>>11)*0x1p-53) - 1
		switch {
		case len(shape) > 1:
			out[j] = float32(c * s)
		case isWeight:
			out[j] = float32(1 + float64(0.1*s)) // explicit conversion: no fused multiply-add
		default:
			out[j] = float32(0.1 * s)
		}
	}
	return out
}

func runGoldenResNet(t *testing.T, file string) {
	f := golden.Open(t, file)
	var cfg struct {
		Arch, Stem string
		Width      int
		InChannels int `json:"in_channels"`
		Batch      int
		Size       int
	}
	f.Meta("config", &cfg)
	var paramNames, gradNames, statNames []string
	f.Meta("param_names", &paramNames)
	f.Meta("grad_names", &gradNames)
	f.Meta("stat_names", &statNames)

	b := cpu.New()
	defer b.Close()
	net, err := model.NewResNet(b, model.Config{Arch: cfg.Arch, Stem: cfg.Stem, Width: cfg.Width,
		InChannels: cfg.InChannels, HeadLayers: 2, HeadOut: 128}, 1)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for k, p := range net.Params() {
		names = append(names, p.Name)
		vals := formulaValues(k, p.Name, p.Value.Shape)
		if err := b.Upload(p.Value, vals); err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		if want, ok := f.Get("param_check/" + p.Name); ok {
			for j, w := range want.F32 {
				if vals[j] != w {
					t.Fatalf("weight formula disagrees with gen.py: %s[%d] = %v, want %v", p.Name, j, vals[j], w)
				}
			}
		}
	}
	sameNames(t, "parameter", names, paramNames)
	params := map[string]*model.Param{}
	for _, p := range net.Params() {
		params[p.Name] = p
	}

	start := time.Now()
	x := goldenUpload(t, b, f.F32("x"), f.Shape("x")...)
	feat, err := net.Forward(x, true)
	if err != nil {
		t.Fatal(err)
	}
	goldenCompare(t, b, f, "train features", feat, "features", netTol)
	r := f.F32("r")
	var loss float64
	for i, v := range goldenDownload(t, b, feat) {
		loss += float64(v) * float64(r[i])
	}
	golden.CompareScalar(t, "loss sum(features*r)", loss, f.Scalar("loss"), 1e-3, 1e-3*golden.Norm(r))
	dfeat := goldenUpload(t, b, r, f.Shape("r")...)
	if err := net.Backward(dfeat); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: train forward+backward %v", file, time.Since(start))

	for _, name := range gradNames {
		p, ok := params[name]
		if !ok {
			t.Errorf("model has no parameter %s", name)
			continue
		}
		g := goldenDownload(t, b, p.Grad)
		wantNorm := f.Scalar("grad/" + name + "/norm")
		gotNorm := golden.Norm(g)
		if math.Abs(gotNorm-wantNorm) > gradNormRTol*wantNorm {
			t.Errorf("grad %s: L2 norm %.7g, want %.7g (rtol %.0e)", name, gotNorm, wantNorm, gradNormRTol)
		}
		head := f.F32("grad/" + name + "/head")
		// Judge the stored head at the scale of the whole gradient: Compare
		// scales ATol by max(1, max|head|); rescale it so the effective
		// scale is max(rms of the full gradient, max|head|).
		rms := wantNorm / math.Sqrt(float64(len(g)))
		headMax := golden.MaxAbs(head)
		tol := golden.Tol{RTol: netTol.RTol, ATol: netTol.ATol * math.Max(rms, headMax) / math.Max(1, headMax)}
		golden.Compare(t, "grad "+name+" (head)", g[:len(head)], head, tol)
	}
	state := map[string]model.StateEntry{}
	for _, e := range net.StateDict() {
		state[e.Name] = e
	}
	for _, name := range statNames {
		e, ok := state[name]
		switch {
		case !ok:
			t.Errorf("model state_dict has no %s", name)
		case e.F32 != nil:
			goldenCompare(t, b, f, "after one step "+name, e.F32, "after/"+name, netTol)
		case *e.I64 != f.I64("after/" + name)[0]:
			t.Errorf("%s = %d, want %d", name, *e.I64, f.I64("after/" + name)[0])
		}
	}
	evalFeat, err := net.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	goldenCompare(t, b, f, "eval features (updated running stats)", evalFeat, "features_eval", netTol)
}

// TestGoldenResNet18Small checks every parameter gradient and every BN
// buffer of a width-8 ResNet-18 on 8x8 inputs.
func TestGoldenResNet18Small(t *testing.T) {
	runGoldenResNet(t, "resnet18_small.safetensors")
}

// TestGoldenResNet18 checks the torchvision-width (64) ResNet-18 at batch 4,
// 16x16: features, loss, the gradients of selected parameters (first 256
// elements and full norms) and selected BN buffers.
func TestGoldenResNet18(t *testing.T) {
	if testing.Short() {
		t.Skip("width-64 ResNet-18 golden test skipped in -short mode")
	}
	runGoldenResNet(t, "resnet18.safetensors")
}
