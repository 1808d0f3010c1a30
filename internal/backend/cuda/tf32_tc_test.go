//go:build cuda || cudaemu

package cuda_test

// The TF32 tensor-core rung (rung 2: gemm_tc.cuh on TcTF32, mma.sync
// m16n8k8, tc.cu NAME_tf32_tc*). In TF32 precision the cuda backend must
// compute what the CPU backend computes in TF32 (SetMatmulPrecision: the
// CPU rounds each GEMM operand with backend.RoundTF32, to nearest, ties
// away from zero, and accumulates exact products in fp32), within the fp32
// parity tolerance (only the accumulation order differs). Both backends
// get the same unrounded fp32 operands, so the rounding itself is under
// test. Run in CUDAEMU_ORDER=index, reverse and random:42.

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/backend/cuda"
	"simclr/internal/tensor"
)

// withCPUPrecision sets the (per-test) cpu backend's matmul precision.
func (e *env) withCPUPrecision(p backend.Precision) {
	e.t.Helper()
	if err := e.cpu.SetMatmulPrecision(p); err != nil {
		e.t.Fatalf("cpu SetMatmulPrecision(%s): %v", p, err)
	}
}

// tcKernelsRan lists the kernels with prefix that ran in kernels.
func tcKernelsRan(kernels map[string]int, prefix string) []string {
	var out []string
	for k := range kernels {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out
}

// checkRan fails unless kernels holds want exactly once and no other
// kernel of the family's tensor-core prefix, or (want "") the family's
// FFMA-rung kernel fallback and no tensor-core kernel.
func (e *env) checkRan(kernels map[string]int, prefix, fallback, want string) {
	e.t.Helper()
	ran := tcKernelsRan(kernels, prefix)
	switch {
	case want == "" && (len(ran) != 0 || kernels[fallback] != 1):
		e.t.Fatalf("launched %v; want the FFMA rung's %s and no %s* kernel", kernels, fallback, prefix)
	case want != "" && (len(ran) != 1 || kernels[want] != 1 || kernels[fallback] != 0):
		e.t.Fatalf("launched %v; want %s once (and not %s)", kernels, want, fallback)
	}
}

type tf32ConvCase struct {
	n, cin, h, w, cout, k, stride, pad int
	rung                               string
	want                               string // the tensor-core kernel; "" for the FFMA rung's _tf32 kernel
	split                              int    // filter gradient: pixels per split-K slice (0: the default)
}

// geom is the case's convolution parameters and output size.
func (c tf32ConvCase) geom() (p backend.ConvParams, ho, wo int) {
	return backend.ConvParams{Stride: c.stride, Pad: c.pad}, backend.ConvOutSize(c.h, c.k, c.stride, c.pad), backend.ConvOutSize(c.w, c.k, c.stride, c.pad)
}

// newTF32Env is a test's env with both backends in TF32 and the cuda
// backend on GEMM rung rung.
func newTF32Env(t *testing.T, rung string) *env {
	t.Helper()
	e := newEnv(t)
	e.withPrecision(backend.TF32)
	e.withCPUPrecision(backend.TF32)
	e.withRung(rung)
	return e
}

func (c tf32ConvCase) name() string {
	return fmt.Sprintf("%s/n%d_cin%d_%dx%d_cout%d_k%d_s%d_p%d", c.rung, c.n, c.cin, c.h, c.w, c.cout, c.k, c.stride, c.pad)
}

// TestTF32TensorCoreConvForward: Cin % 4 == 0 runs on the general gather,
// Cin % 16 == 0 on the tap-uniform kernel; the RGB stem (Cin 3) and rung
// ffma on conv2d_fwd_tf32.
func TestTF32TensorCoreConvForward(t *testing.T) {
	cases := []tf32ConvCase{
		{n: 2, cin: 4, h: 7, w: 7, cout: 12, k: 3, stride: 1, pad: 1, rung: "auto", want: "conv2d_fwd_tf32_tc_s"},      // odd image, one chunk of channels
		{n: 2, cin: 12, h: 7, w: 7, cout: 20, k: 3, stride: 2, pad: 1, rung: "auto", want: "conv2d_fwd_tf32_tc_s"},     // stride 2, three chunks per pixel
		{n: 1, cin: 8, h: 5, w: 5, cout: 130, k: 1, stride: 1, pad: 0, rung: "tc128", want: "conv2d_fwd_tf32_tc"},      // 1x1, Cout crosses the 128 tile
		{n: 2, cin: 16, h: 7, w: 7, cout: 8, k: 3, stride: 2, pad: 1, rung: "auto", want: "conv2d_fwd_tf32_tc_tap_s"},  // one tap per K tile, stride 2
		{n: 1, cin: 32, h: 6, w: 5, cout: 16, k: 1, stride: 2, pad: 0, rung: "auto", want: "conv2d_fwd_tf32_tc_tap_s"}, // 1x1 stride 2, two channel blocks, H != W
		{n: 2, cin: 16, h: 5, w: 5, cout: 8, k: 3, stride: 1, pad: 1, rung: "tcgeneral", want: "conv2d_fwd_tf32_tc_s"}, // the same on the general gather
		{n: 1, cin: 16, h: 6, w: 6, cout: 136, k: 5, stride: 1, pad: 2, rung: "tc128", want: "conv2d_fwd_tf32_tc_tap"}, // 5x5 pad 2: the tap carry across rows; 128 tile
		{n: 2, cin: 3, h: 9, w: 9, cout: 8, k: 3, stride: 2, pad: 1, rung: "auto"},                                     // RGB stem: FFMA rung
		{n: 2, cin: 16, h: 5, w: 5, cout: 8, k: 3, stride: 1, pad: 1, rung: "ffma"},                                    // the rung switch
		{n: 2, cin: 6, h: 5, w: 5, cout: 8, k: 3, stride: 1, pad: 1, rung: "auto"},                                     // Cin % 4 != 0: FFMA rung
	}
	for _, c := range cases {
		t.Run(c.name(), func(t *testing.T) {
			e := newTF32Env(t, c.rung)
			p, ho, wo := c.geom()
			x, w, y := e.rand(c.n, c.cin, c.h, c.w), e.rand(c.cout, c.cin, c.k, c.k), e.zeros(c.n, c.cout, ho, wo)
			ran := e.launched(func() { e.mustGPU("forward", e.gpu.Conv2DForward(x.g, w.g, y.g, p)) })
			e.checkRan(ran, "conv2d_fwd_tf32_tc", "conv2d_fwd_tf32", c.want)
			e.must("cpu forward", e.cpu.Conv2DForward(x.c, w.c, y.c, p), nil)
			e.check("forward", y, gemmTol(c.cin*c.k*c.k, 1))
		})
	}
}

// TestTF32TensorCoreConvBackwardData: Cout % 4 == 0 and stride 1 or 2 on
// tensor cores (Cout % 16 == 0: tap-uniform), else conv2d_bwd_data_tf32.
func TestTF32TensorCoreConvBackwardData(t *testing.T) {
	cases := []tf32ConvCase{
		{n: 2, cin: 5, h: 7, w: 7, cout: 4, k: 3, stride: 1, pad: 1, rung: "auto", want: "conv2d_bwd_data_tf32_tc_s"},
		{n: 2, cin: 3, h: 7, w: 7, cout: 12, k: 3, stride: 2, pad: 1, rung: "auto", want: "conv2d_bwd_data_tf32_tc_s"},      // stride 2, odd image
		{n: 2, cin: 3, h: 6, w: 6, cout: 8, k: 4, stride: 2, pad: 2, rung: "auto", want: "conv2d_bwd_data_tf32_tc_s"},       // even kernel, pad 2
		{n: 1, cin: 6, h: 8, w: 7, cout: 16, k: 1, stride: 2, pad: 0, rung: "auto", want: "conv2d_bwd_data_tf32_tc_tap_s"},  // 1x1 stride 2 (downsample)
		{n: 2, cin: 5, h: 7, w: 7, cout: 32, k: 3, stride: 2, pad: 1, rung: "auto", want: "conv2d_bwd_data_tf32_tc_tap_s"},  // parity, two channel blocks
		{n: 2, cin: 5, h: 6, w: 6, cout: 16, k: 3, stride: 1, pad: 1, rung: "tcgeneral", want: "conv2d_bwd_data_tf32_tc_s"}, // the general gather
		{n: 1, cin: 130, h: 4, w: 4, cout: 16, k: 3, stride: 1, pad: 1, rung: "tc128", want: "conv2d_bwd_data_tf32_tc_tap"}, // Cin crosses the 128 tile
		{n: 2, cin: 4, h: 6, w: 6, cout: 6, k: 3, stride: 1, pad: 1, rung: "auto"},                                          // Cout % 4 != 0: FFMA rung
		{n: 1, cin: 4, h: 9, w: 9, cout: 8, k: 3, stride: 3, pad: 0, rung: "auto"},                                          // stride 3: FFMA rung
		{n: 2, cin: 5, h: 6, w: 6, cout: 16, k: 3, stride: 1, pad: 1, rung: "ffma"},                                         // the rung switch
	}
	for _, c := range cases {
		t.Run(c.name(), func(t *testing.T) {
			e := newTF32Env(t, c.rung)
			p, ho, wo := c.geom()
			dy, w, dx := e.rand(c.n, c.cout, ho, wo), e.rand(c.cout, c.cin, c.k, c.k), e.zeros(c.n, c.cin, c.h, c.w)
			ran := e.launched(func() { e.mustGPU("backward data", e.gpu.Conv2DBackwardData(dy.g, w.g, dx.g, p)) })
			e.checkRan(ran, "conv2d_bwd_data_tf32_tc", "conv2d_bwd_data_tf32", c.want)
			e.must("cpu backward data", e.cpu.Conv2DBackwardData(dy.c, w.c, dx.c, p), nil)
			e.check("backward data", dx, gemmTol(c.cout*c.k*c.k, 1))
		})
	}
}

// TestTF32TensorCoreConvBackwardFilter: Cin and Cout % 4 == 0 on tensor
// cores (both % 8 == 0: paired chunks, _tap), the K-major core with
// scalar fragment loads; split-K slices that do not end on a K tile.
func TestTF32TensorCoreConvBackwardFilter(t *testing.T) {
	cases := []tf32ConvCase{
		{n: 2, cin: 4, h: 7, w: 7, cout: 4, k: 3, stride: 1, pad: 1, rung: "auto", want: "conv2d_bwd_filter_tf32_tc_s"},
		{n: 2, cin: 12, h: 7, w: 7, cout: 8, k: 3, stride: 2, pad: 1, rung: "auto", want: "conv2d_bwd_filter_tf32_tc_s"},                 // Cin % 8 != 0: unpaired; R = 108 crosses the 64 tile
		{n: 2, cin: 8, h: 7, w: 7, cout: 16, k: 3, stride: 2, pad: 1, rung: "auto", want: "conv2d_bwd_filter_tf32_tc_tap_s"},             // paired, stride 2, R = 72
		{n: 1, cin: 16, h: 4, w: 4, cout: 136, k: 3, stride: 1, pad: 1, rung: "tc128", want: "conv2d_bwd_filter_tf32_tc_tap"},            // Cout and R cross the 128 tile
		{n: 1, cin: 8, h: 9, w: 7, cout: 8, k: 1, stride: 2, pad: 0, rung: "auto", want: "conv2d_bwd_filter_tf32_tc_tap_s"},              // 1x1 stride 2, odd pixel count
		{n: 1, cin: 8, h: 13, w: 12, cout: 8, k: 1, stride: 1, pad: 0, rung: "auto", want: "conv2d_bwd_filter_tf32_tc_tap_s", split: 40}, // 156 pixels: four slices of 39
		{n: 2, cin: 8, h: 9, w: 9, cout: 8, k: 3, stride: 2, pad: 1, rung: "tcgeneral", want: "conv2d_bwd_filter_tf32_tc_s", split: 20},  // 50 pixels: three slices of 17
		{n: 2, cin: 3, h: 9, w: 9, cout: 8, k: 3, stride: 2, pad: 1, rung: "auto"},                                                       // RGB stem: FFMA rung
		{n: 2, cin: 8, h: 7, w: 7, cout: 16, k: 3, stride: 2, pad: 1, rung: "ffma"},                                                      // the rung switch
	}
	for _, c := range cases {
		t.Run(c.name(), func(t *testing.T) {
			e := newTF32Env(t, c.rung)
			setSplit(e, c.split)
			p, ho, wo := c.geom()
			x, dy, dw := e.rand(c.n, c.cin, c.h, c.w), e.rand(c.n, c.cout, ho, wo), e.zeros(c.cout, c.cin, c.k, c.k)
			ran := e.launched(func() { e.mustGPU("backward filter", e.gpu.Conv2DBackwardFilter(x.g, dy.g, dw.g, p)) })
			e.checkRan(ran, "conv2d_bwd_filter_tf32_tc", "conv2d_bwd_filter_tf32", c.want)
			if split := ran["splitk_reduce"] == 1; split != (c.split != 0) {
				t.Fatalf("launched %v; split-K (splitk_reduce) %v, want %v", ran, split, c.split != 0)
			}
			e.must("cpu backward filter", e.cpu.Conv2DBackwardFilter(x.c, dy.c, dw.c, p), nil)
			e.check("backward filter", dw, gemmTol(c.n*ho*wo, 1))
		})
	}
}

// TestTF32TensorCoreLinear: each of the three GEMMs on gemm_nt_tf32_tc
// when its reduction length (In, Out, N) is a multiple of 4, else on the
// FFMA rung's _tf32 kernel.
func TestTF32TensorCoreLinear(t *testing.T) {
	cases := []struct {
		n, in, out int
		bias       bool
		rung       string
	}{
		{40, 24, 72, true, "auto"},
		{130, 72, 136, false, "tc128"}, // crosses the 128 tile in M and N
		{36, 18, 20, true, "auto"},     // In % 4 != 0: the forward on the FFMA rung
		{33, 20, 6, false, "tc64"},     // N and Out % 4 != 0: only the forward on tensor cores
		{40, 24, 72, true, "ffma"},     // the rung switch
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/n%d_in%d_out%d", c.rung, c.n, c.in, c.out), func(t *testing.T) {
			e := newTF32Env(t, c.rung)
			x, w, dy := e.rand(c.n, c.in), e.rand(c.out, c.in), e.rand(c.n, c.out)
			var bias, db pair
			if c.bias {
				bias, db = e.rand(c.out), e.zeros(c.out)
			}
			y, dx, dw := e.zeros(c.n, c.out), e.zeros(c.n, c.in), e.zeros(c.out, c.in)
			ran := e.launched(func() {
				e.mustGPU("forward", e.gpu.LinearForward(x.g, w.g, bias.g, y.g))
				e.mustGPU("backward", e.gpu.LinearBackward(x.g, w.g, dy.g, dx.g, dw.g, db.g))
			})
			tc := "gemm_nt_tf32_tc" // these products are below 132 128x128 tiles: auto takes 64x64
			if c.rung != "tc128" {
				tc += "_s"
			}
			wantTC := 0
			for _, g := range []struct {
				k      int
				kernel string
			}{{c.in, "linear_fwd_tf32"}, {c.out, "linear_bwd_data_tf32"}, {c.n, "linear_bwd_weight_tf32"}} {
				onTC := c.rung != "ffma" && g.k%4 == 0
				want := 1
				if onTC {
					want = 0
					wantTC++
				}
				if ran[g.kernel] != want {
					t.Fatalf("launched %v; want %s %d times", ran, g.kernel, want)
				}
			}
			if got := len(tcKernelsRan(ran, "gemm_nt_tf32_tc")); (wantTC > 0) != (got == 1) || ran[tc] != wantTC {
				t.Fatalf("launched %v; want %s %d times", ran, tc, wantTC)
			}
			e.must("cpu forward", e.cpu.LinearForward(x.c, w.c, bias.c, y.c), nil)
			e.check("forward", y, gemmTol(c.in, 1))
			e.must("cpu backward", e.cpu.LinearBackward(x.c, w.c, dy.c, dx.c, dw.c, db.c), nil)
			e.check("backward data", dx, gemmTol(c.out, 1))
			e.check("backward weight", dw, gemmTol(c.n, 1))
			if c.bias {
				e.check("backward bias", db, tol{abs: 1e-5, rel: 1e-5})
			}
		})
	}
}

// setSplit sets the split-K slice length for one test (0: the default).
func setSplit(e *env, split int) {
	cuda.SetSplitKChunk(e.gpu, split)
	e.t.Cleanup(func() { cuda.SetSplitKChunk(e.gpu, 0) })
}

// tieValues returns n positive values that lie exactly halfway between
// two tf32 numbers whose lower one has an even last mantissa bit: round
// to nearest ties away from zero (cvt.rna, backend.RoundTF32) rounds them
// up, round to nearest even and truncation (what the mma does to an
// unrounded register) round them down.
func (e *env) tieValues(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		exp := uint32(126 + e.rng.IntN(2))                   // [0.5, 2)
		mant := e.rng.Uint32() & 0x7fc000                    /* bit 13 (tf32 LSB) 0 */ // kept bits
		v[i] = math.Float32frombits(exp<<23 | mant | 0x1000) // plus half a tf32 ulp
	}
	return v
}

func roundTF32Even(x float32) float32 {
	b := math.Float32bits(x)
	b += 0xfff + (b>>13)&1
	return math.Float32frombits(b &^ 0x1fff)
}

func truncTF32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ 0x1fff) }

// TestTF32RoundsNearestAway feeds every TF32 tensor-core GEMM (conv
// forward, data and filter gradients, linear forward and both gradients)
// operands that are exact ties at tf32 precision. The cuda result must
// match the CPU backend in TF32 (ties away from zero); the test first
// checks that the two wrong roundings, ties to even (cvt.rn) and no
// rounding at all (the mma truncating the register), give results far
// outside the tolerance, so either mistake in the conversion kernels would
// fail it.
func TestTF32RoundsNearestAway(t *testing.T) {
	e := newEnv(t)
	e.withPrecision(backend.TF32)
	e.withRung("auto")
	tiePair := func(shape ...int) (pair, []float32) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		v := e.tieValues(n)
		return e.make(v, shape...), v
	}
	// Each op: its reduction length k, the tensor-core kernel and how
	// often it runs, the output's and the two tie operands' shapes.
	type op struct {
		name    string
		k       int
		kernel  string
		calls   int
		shape   []int
		inShape [][]int
	}
	convP := backend.ConvParams{Stride: 1, Pad: 1}
	ops := []op{
		{"conv forward", 16 * 9, "conv2d_fwd_tf32_tc_tap_s", 1, []int{2, 8, 5, 5}, [][]int{{2, 16, 5, 5}, {8, 16, 3, 3}}},
		{"conv backward data", 16 * 9, "conv2d_bwd_data_tf32_tc_tap_s", 1, []int{2, 8, 5, 5}, [][]int{{2, 16, 5, 5}, {16, 8, 3, 3}}},
		{"conv backward filter", 2 * 25, "conv2d_bwd_filter_tf32_tc_tap_s", 1, []int{16, 8, 3, 3}, [][]int{{2, 8, 5, 5}, {2, 16, 5, 5}}},
		{"linear forward", 24, "gemm_nt_tf32_tc_s", 1, []int{12, 20}, [][]int{{12, 24}, {20, 24}}},
		// The data gradient (and the weight gradient of a zero x).
		{"linear backward data", 20, "gemm_nt_tf32_tc_s", 2, []int{12, 24}, [][]int{{20, 24}, {12, 20}}},
		{"linear backward weight", 12, "gemm_nt_tf32_tc_s", 1, []int{20, 24}, [][]int{{12, 24}, {12, 20}}},
	}
	for _, o := range ops {
		t.Run(o.name, func(t *testing.T) {
			a, av := tiePair(o.inShape[0]...)
			b, bv := tiePair(o.inShape[1]...)
			out := e.zeros(o.shape...)
			// call runs the op on the cpu or cuda backend with operands
			// ta, tb into tout.
			call := func(gpu bool, ta, tb, tout pair) error {
				pick := func(p pair) *tensor.Tensor {
					if gpu {
						return p.g
					}
					return p.c
				}
				var bk interface {
					Conv2DForward(x, w, y *tensor.Tensor, p backend.ConvParams) error
					Conv2DBackwardData(dy, w, dx *tensor.Tensor, p backend.ConvParams) error
					Conv2DBackwardFilter(x, dy, dw *tensor.Tensor, p backend.ConvParams) error
					LinearForward(x, w, b, y *tensor.Tensor) error
					LinearBackward(x, w, dy, dx, dw, db *tensor.Tensor) error
				} = e.cpu
				if gpu {
					bk = e.gpu
				}
				switch o.name {
				case "conv forward":
					return bk.Conv2DForward(pick(ta), pick(tb), pick(tout), convP)
				case "conv backward data":
					return bk.Conv2DBackwardData(pick(ta), pick(tb), pick(tout), convP)
				case "conv backward filter":
					return bk.Conv2DBackwardFilter(pick(ta), pick(tb), pick(tout), convP)
				case "linear forward":
					return bk.LinearForward(pick(ta), pick(tb), nil, pick(tout))
				case "linear backward data": // ta = w [Out, In], tb = dy [N, Out]
					x := e.zeros(o.shape...)
					dw := e.zeros(o.inShape[0]...)
					return bk.LinearBackward(pick(x), pick(ta), pick(tb), pick(tout), pick(dw), nil)
				default: // backward weight: ta = x [N, In], tb = dy [N, Out]
					w := e.zeros(o.shape...)
					return bk.LinearBackward(pick(ta), pick(w), pick(tb), nil, pick(tout), nil)
				}
			}
			// The CPU in TF32: the reference (nearest, ties away).
			e.withCPUPrecision(backend.TF32)
			if err := call(false, a, b, out); err != nil {
				t.Fatal(err)
			}
			ref, _ := e.download(out)
			tl := gemmTol(o.k, 1)
			// The two wrong roundings, on the CPU in fp32 from host-rounded
			// copies: each must miss the reference by far more than the
			// tolerance, or this test could not tell them apart.
			e.withCPUPrecision(backend.FP32)
			for _, wrong := range []struct {
				name  string
				round func(float32) float32
			}{{"ties to even", roundTF32Even}, {"no rounding (truncation)", truncTF32}} {
				ra, rb := make([]float32, len(av)), make([]float32, len(bv))
				for i, v := range av {
					ra[i] = wrong.round(v)
				}
				for i, v := range bv {
					rb[i] = wrong.round(v)
				}
				wa, wb, wout := e.make(ra, o.inShape[0]...), e.make(rb, o.inShape[1]...), e.zeros(o.shape...)
				if err := call(false, wa, wb, wout); err != nil {
					t.Fatal(err)
				}
				got, _ := e.download(wout)
				worst := 0.0
				for i := range got {
					worst = max(worst, math.Abs(float64(got[i]-ref[i]))/(tl.abs+tl.rel*math.Abs(float64(ref[i]))))
				}
				if worst < 20 {
					t.Fatalf("%s: rounding by %s misses the reference by only %.1f tolerances; the operands do not tell it apart", o.name, wrong.name, worst)
				}
			}
			// The cuda backend on the TF32 tensor-core rung.
			var err error
			ran := e.launched(func() { err = call(true, a, b, out) })
			if err != nil {
				t.Fatal(err)
			}
			if ran[o.kernel] != o.calls {
				t.Fatalf("launched %v; want %s %d times", ran, o.kernel, o.calls)
			}
			e.checkGPU(o.name, out, ref, tl)
		})
	}
}

// TestGEMMRungEnvTF32: SIMCLR_CUDA_GEMM, read by New, selects the rung in
// TF32 too: ffma keeps a convolution that rung 2 would take on rung 1's
// conv2d_fwd_tf32, auto (and unset) puts it on the tensor cores; another
// value is an error naming the variable and the choices.
func TestGEMMRungEnvTF32(t *testing.T) {
	cases := []struct {
		env, want, wantErr string
	}{
		{"ffma", "conv2d_fwd_tf32", ""},
		{"auto", "conv2d_fwd_tf32_tc_tap_s", ""},
		{"", "conv2d_fwd_tf32_tc_tap_s", ""},
		{"tensor", "", "SIMCLR_CUDA_GEMM: cuda: GEMM rung \"tensor\" not understood; use auto"},
	}
	for _, c := range cases {
		t.Run("env="+c.env, func(t *testing.T) {
			t.Setenv(cuda.GEMMRungEnv, c.env)
			b, err := cuda.New("cuda")
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("New with %s=%q: error %v, want one containing %q", cuda.GEMMRungEnv, c.env, err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if err := b.SetMatmulPrecision(backend.TF32); err != nil {
				t.Fatal(err)
			}
			mk := func(shape ...int) *tensor.Tensor {
				x, err := b.New(shape...)
				if err != nil {
					t.Fatal(err)
				}
				return x
			}
			x, w, y := mk(1, 16, 4, 4), mk(8, 16, 3, 3), mk(1, 8, 4, 4)
			b.EnableKernelTimes(true)
			if err := b.Conv2DForward(x, w, y, backend.ConvParams{Stride: 1, Pad: 1}); err != nil {
				t.Fatal(err)
			}
			kt, err := b.KernelTimes()
			if err != nil {
				t.Fatal(err)
			}
			ran := map[string]int{}
			for _, k := range kt {
				ran[k.Kernel] += k.Calls
			}
			// Exactly one multiplying kernel: the wanted one (the
			// tensor-core rung also converts x and w first).
			if ran[c.want] != 1 || ran["conv2d_fwd_tf32"]+len(tcKernelsRan(ran, "conv2d_fwd_tf32_tc")) != 1 {
				t.Fatalf("%s=%q: launched %v, want %s", cuda.GEMMRungEnv, c.env, ran, c.want)
			}
		})
	}
}
