package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"simclr/internal/backend"
)

// precOp is one op whose products take reduced-precision operands.
type precOp struct {
	name   string
	shapes [][]int // of the inputs
	// operand[i] says whether input i is rounded (a product operand); the
	// others (the bias) stay fp32.
	operand []bool
	// fp32Out[j] says whether output j does not come from a product (the
	// bias gradient) and so must equal the FP32 op on the original inputs.
	fp32Out []bool
	run     func(t *testing.T, b *Backend, in []*Tensor) [][]float32
}

// precOps returns the convolutions of case c and the linear ops.
func precOps(c convCase) []precOp {
	p := backend.ConvParams{Stride: c.stride, Pad: c.pad}
	ho := backend.ConvOutSize(c.h, c.k, c.stride, c.pad)
	wo := backend.ConvOutSize(c.w, c.k, c.stride, c.pad)
	xs, ws, ys := []int{c.n, c.cin, c.h, c.w}, []int{c.cout, c.cin, c.k, c.k}, []int{c.n, c.cout, ho, wo}
	n, in, out := 37, 19, 23
	return []precOp{
		{"conv forward", [][]int{xs, ws}, []bool{true, true}, []bool{false},
			func(t *testing.T, b *Backend, v []*Tensor) [][]float32 {
				y := randT(t, b, 99, 100, ys...)
				must(t, b.Conv2DForward(v[0], v[1], y, p))
				return [][]float32{y.Host}
			}},
		{"conv backward data", [][]int{ys, ws}, []bool{true, true}, []bool{false},
			func(t *testing.T, b *Backend, v []*Tensor) [][]float32 {
				dx := randT(t, b, 99, 100, xs...)
				must(t, b.Conv2DBackwardData(v[0], v[1], dx, p))
				return [][]float32{dx.Host}
			}},
		{"conv backward filter", [][]int{xs, ys}, []bool{true, true}, []bool{false},
			func(t *testing.T, b *Backend, v []*Tensor) [][]float32 {
				dw := randT(t, b, 99, 100, ws...)
				must(t, b.Conv2DBackwardFilter(v[0], v[1], dw, p))
				return [][]float32{dw.Host}
			}},
		{"linear forward", [][]int{{n, in}, {out, in}, {out}}, []bool{true, true, false}, []bool{false},
			func(t *testing.T, b *Backend, v []*Tensor) [][]float32 {
				y := randT(t, b, 99, 100, n, out)
				must(t, b.LinearForward(v[0], v[1], v[2], y))
				return [][]float32{y.Host}
			}},
		{"linear backward", [][]int{{n, in}, {out, in}, {n, out}}, []bool{true, true, true}, []bool{false, false, true},
			func(t *testing.T, b *Backend, v []*Tensor) [][]float32 {
				dx, dw, db := randT(t, b, 97, 100, n, in), randT(t, b, 98, 100, out, in), randT(t, b, 99, 100, out)
				must(t, b.LinearBackward(v[0], v[1], v[2], dx, dw, db))
				return [][]float32{dx.Host, dw.Host, db.Host}
			}},
	}
}

// precInputs returns random inputs of op's shapes on b, with some exact
// bfloat16 ties among them so that the rounding mode matters.
func precInputs(t *testing.T, b *Backend, op precOp) []*Tensor {
	in := make([]*Tensor, len(op.shapes))
	for i, s := range op.shapes {
		in[i] = randT(t, b, uint64(10+i), 1, s...)
		for j := 0; j < len(in[i].Host); j += 7 {
			u := math.Float32bits(in[i].Host[j])
			in[i].Host[j] = math.Float32frombits(u&0xffff0000 | 0x8000) // a tie
		}
	}
	return in
}

// roundedCopy returns new tensors on b holding in, with the operands
// rounded by the scalar reference (backend.Precision.Round).
func roundedCopy(t *testing.T, b *Backend, op precOp, in []*Tensor, p backend.Precision) []*Tensor {
	out := make([]*Tensor, len(in))
	for i, x := range in {
		v := slices.Clone(x.Host)
		if op.operand[i] {
			for j := range v {
				v[j] = p.Round(v[j])
			}
		}
		out[i] = newT(t, b, v, x.Shape...)
	}
	return out
}

var precConvCases = []convCase{
	{2, 3, 4, 5, 5, 3, 1, 1},   // same width: data gradient as a flipped forward
	{2, 1, 3, 7, 9, 3, 2, 1},   // strided: col2im
	{2, 4, 3, 5, 6, 1, 1, 0},   // 1x1
	{3, 2, 3, 24, 24, 3, 1, 1}, // one image per gemm
	{17, 1, 2, 4, 4, 3, 2, 1},  // several filter-gradient chunks
}

// TestMatmulPrecisionIsFP32OnRoundedOperands: in TF32 and BF16 each op
// equals, bit for bit, the FP32 op applied to operands rounded by the
// scalar backend.RoundTF32/RoundBF16 (on every convolution path, with the
// input rounded whole or block by block of images), the bias and bias
// gradient stay fp32, and the inputs are left as they were.
func TestMatmulPrecisionIsFP32OnRoundedOperands(t *testing.T) {
	type namedOp struct {
		name string
		op   precOp
		conv bool
	}
	var ops []namedOp
	for i, c := range precConvCases {
		all := precOps(c)
		for _, op := range all[:3] {
			ops = append(ops, namedOp{fmt.Sprintf("%s/%v", op.name, c), op, true})
		}
		if i == 0 {
			for _, op := range all[3:] {
				ops = append(ops, namedOp{op.name, op, false})
			}
		}
	}
	defer func(v int) { roundBlockFloats = v }(roundBlockFloats)
	for _, block := range []int{roundBlockFloats, 1} { // 1: one im2col group per rounded block
		roundBlockFloats = block
		for _, no := range ops {
			op := no.op
			for _, p := range []backend.Precision{backend.TF32, backend.BF16} {
				for _, mode := range []convPathMode{convAuto, convIm2col, convShifted} {
					if !no.conv && mode != convAuto {
						continue // linear ops have no conv path
					}
					t.Run(fmt.Sprintf("%s/%v/%v/block%d", no.name, p, mode, block), func(t *testing.T) {
						b := New()
						b.convPath = mode
						must(t, b.SetMatmulPrecision(p))
						in := precInputs(t, b, op)
						orig := make([][]uint32, len(in))
						for i, x := range in {
							orig[i] = bits(x.Host)
						}
						got := op.run(t, b, in)
						for i, x := range in {
							if !slices.Equal(bits(x.Host), orig[i]) {
								t.Fatalf("input %d was modified", i)
							}
						}
						ref := New()
						ref.convPath = mode
						wantRounded := op.run(t, ref, roundedCopy(t, ref, op, in, p))
						wantFP32 := op.run(t, ref, in)
						for j := range got {
							want := wantRounded[j]
							if op.fp32Out[j] {
								want = wantFP32[j]
							}
							if i := firstDiff(got[j], want); i >= 0 {
								t.Fatalf("output %d [%d] = %.9g, want %.9g (FP32 on rounded operands)", j, i, got[j][i], want[i])
							}
						}
					})
				}
			}
		}
	}
}

// firstDiff returns the first index where the bits of a and b differ, or -1.
func firstDiff(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// TestMatmulPrecisionChangesResults: on random data TF32 and BF16 results
// differ from FP32 (the rounding is applied), by about the format's unit
// roundoff, not more.
func TestMatmulPrecisionChangesResults(t *testing.T) {
	for _, op := range precOps(precConvCases[3]) {
		for _, tc := range []struct {
			p    backend.Precision
			ulp  float64 // unit roundoff of the format
			name string
		}{{backend.TF32, 0x1p-11, "tf32"}, {backend.BF16, 0x1p-8, "bf16"}} {
			t.Run(op.name+"/"+tc.name, func(t *testing.T) {
				ref := New()
				in := precInputs(t, ref, op)
				want := op.run(t, ref, in)
				b := New()
				must(t, b.SetMatmulPrecision(tc.p))
				got := op.run(t, b, in)
				// The product outputs (not db) must differ somewhere, and
				// each by at most 2u * sum|a||b| <= a loose bound relative
				// to the largest |want|.
				for j := range got {
					if op.fp32Out[j] {
						continue
					}
					diff, scale := 0.0, 0.0
					for i := range got[j] {
						diff = max(diff, math.Abs(float64(got[j][i]-want[j][i])))
						scale = max(scale, math.Abs(float64(want[j][i])))
					}
					if diff == 0 {
						t.Fatalf("output %d equals FP32 bit for bit: the operands were not rounded", j)
					}
					if diff > 4*tc.ulp*scale*8 {
						t.Fatalf("output %d differs from FP32 by up to %.3g (scale %.3g): more than rounding explains", j, diff, scale)
					}
				}
			})
		}
	}
}

// TestMatmulPrecisionFP32Default: a new backend multiplies in FP32, and
// setting FP32 back after BF16 gives the FP32 results again.
func TestMatmulPrecisionFP32Default(t *testing.T) {
	b := New()
	if p := b.MatmulPrecision(); p != backend.FP32 {
		t.Fatalf("new backend precision %v, want fp32", p)
	}
	op := precOps(precConvCases[0])[0]
	in := precInputs(t, b, op)
	first := op.run(t, b, in)[0]
	must(t, b.SetMatmulPrecision(backend.BF16))
	if p := b.MatmulPrecision(); p != backend.BF16 {
		t.Fatalf("precision after SetMatmulPrecision(bf16) = %v", p)
	}
	if firstDiff(op.run(t, b, in)[0], first) < 0 {
		t.Fatal("bf16 result equals fp32")
	}
	must(t, b.SetMatmulPrecision(backend.FP32))
	if i := firstDiff(op.run(t, b, in)[0], first); i >= 0 {
		t.Fatalf("fp32 after bf16 differs at %d", i)
	}
	if err := b.SetMatmulPrecision(backend.Precision(7)); err == nil {
		t.Fatal("SetMatmulPrecision(7) accepted")
	}
}

// TestMatmulPrecisionDeterministic: the reduced-precision ops are
// bit-identical with GOMAXPROCS 1 and 4 (the operands are large enough to
// be rounded in several chunks).
func TestMatmulPrecisionDeterministic(t *testing.T) {
	c := convCase{19, 6, 8, 24, 24, 3, 2, 1}
	for _, p := range []backend.Precision{backend.TF32, backend.BF16} {
		runAll := func() [][]float32 {
			var outs [][]float32
			for _, op := range precOps(c) {
				b := New()
				must(t, b.SetMatmulPrecision(p))
				outs = append(outs, op.run(t, b, precInputs(t, b, op))...)
			}
			return outs
		}
		prev := runtime.GOMAXPROCS(1)
		one := runAll()
		runtime.GOMAXPROCS(4)
		four := runAll()
		runtime.GOMAXPROCS(prev)
		for i := range one {
			if j := firstDiff(one[i], four[i]); j >= 0 {
				t.Fatalf("%v: output %d differs at %d between GOMAXPROCS 1 and 4", p, i, j)
			}
		}
	}
}

// TestRoundSlicesMatchScalar: the slice rounding loops equal
// backend.RoundBF16 and backend.RoundTF32 on special values (zeros,
// subnormals, ties, the largest finite values, infinities, NaNs) and on
// random bit patterns.
func TestRoundSlicesMatchScalar(t *testing.T) {
	special := []uint32{0, 0x80000000, 1, 0x8000, 0x7fff, 0x00018000, 0x00800000, 0x3f808000, 0x3f818000,
		0x3f801000, 0x3f803000, 0xbf801000, 0x7f7fffff, 0xff7fffff, 0x7f7f8000, 0x7f800000, 0xff800000,
		0x7f800001, 0xffc00000, 0x7fffffff, 0x7f80f000}
	rng := rand.New(rand.NewPCG(1, 2))
	src := make([]float32, 0, len(special)+1<<16)
	for _, u := range special {
		src = append(src, math.Float32frombits(u))
	}
	for range 1 << 16 {
		src = append(src, math.Float32frombits(rng.Uint32()))
	}
	for _, p := range []backend.Precision{backend.TF32, backend.BF16} {
		dst := make([]float32, len(src))
		roundInto(p, dst, src)
		for i, v := range src {
			if got, want := math.Float32bits(dst[i]), math.Float32bits(p.Round(v)); got != want {
				t.Fatalf("%v: %#08x rounds to %#08x, scalar %#08x", p, math.Float32bits(v), got, want)
			}
		}
	}
}
