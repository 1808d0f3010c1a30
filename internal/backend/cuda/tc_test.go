//go:build cuda || cudaemu

package cuda_test

// The tensor-core rung (gemm_tc.cuh) in BF16: the same rounded operands
// as the FFMA rung's _bf16 kernels, so both must agree within the fp32
// accumulation-order tolerance, and both with the fp32 CPU backend on
// host-rounded operands. Run in index and reverse CUDAEMU_ORDER.

import (
	"fmt"
	"strings"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/backend/cuda"
)

// withRung sets the shared cuda backend's GEMM rung for one test.
func (e *env) withRung(r string) {
	e.t.Helper()
	if err := e.gpu.SetGEMMRung(r); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if err := e.gpu.SetGEMMRung("auto"); err != nil {
			e.t.Error(err)
		}
	})
}

// launched returns the kernels launched by f (kernel timing on).
func (e *env) launched(f func()) map[string]int {
	e.t.Helper()
	e.gpu.ResetKernelTimes()
	e.gpu.EnableKernelTimes(true)
	f()
	e.gpu.EnableKernelTimes(false)
	kt, err := e.gpu.KernelTimes()
	if err != nil {
		e.t.Fatal(err)
	}
	e.gpu.ResetKernelTimes()
	out := map[string]int{}
	for _, k := range kt {
		out[k.Kernel] += k.Calls
	}
	return out
}

// copyPair is a fresh pair holding the cuda tensor of p's values.
func (e *env) gpuValues(p pair) []float32 {
	_, g := e.download(p)
	return g
}

func TestTensorCoreLinear(t *testing.T) {
	cases := []struct {
		n, in, out int
		bias       bool
		rung       string
	}{
		{40, 24, 72, true, "tc64"},
		{40, 24, 72, true, "tc128"},
		{130, 72, 136, false, "tc128"}, // crosses the 128 tile in M and N
		{66, 16, 70, true, "tc64"},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/n%d_in%d_out%d", c.rung, c.n, c.in, c.out), func(t *testing.T) {
			e := newEnv(t)
			e.withPrecision(backend.BF16)
			x, w := e.operand(backend.BF16, c.n, c.in), e.operand(backend.BF16, c.out, c.in)
			var bias pair
			if c.bias {
				bias = e.rand(c.out)
			}
			dyv := e.values(c.n*c.out, -1, 1)
			dyr := make([]float32, len(dyv))
			for i, v := range dyv {
				dyr[i] = backend.RoundBF16(v)
			}
			dy := e.split(dyr, dyv, c.n, c.out)
			run := func(rung string) (y, dx, dw pair, kernels map[string]int) {
				if err := e.gpu.SetGEMMRung(rung); err != nil {
					t.Fatal(err)
				}
				y, dx, dw = e.zeros(c.n, c.out), e.zeros(c.n, c.in), e.zeros(c.out, c.in)
				kernels = e.launched(func() {
					e.mustGPU("forward", e.gpu.LinearForward(x.g, w.g, bias.g, y.g))
					e.mustGPU("backward", e.gpu.LinearBackward(x.g, w.g, dy.g, dx.g, dw.g, nil))
				})
				return
			}
			e.withRung(c.rung)
			yF, dxF, dwF, kF := run("ffma")
			yT, dxT, dwT, kT := run(c.rung)
			// Each GEMM runs on tensor cores when its reduction length is a
			// multiple of 8 (forward In, data gradient Out, weight
			// gradient N), else on the FFMA rung's _bf16 kernel.
			tcKernel := "gemm_nt_bf16_tc"
			if c.rung == "tc64" {
				tcKernel += "_s"
			}
			wantTC := 0
			for _, g := range []struct {
				k      int
				kernel string
			}{{c.in, "linear_fwd_bf16"}, {c.out, "linear_bwd_data_bf16"}, {c.n, "linear_bwd_weight_bf16"}} {
				want := 0
				if g.k%8 == 0 {
					wantTC++
				} else {
					want = 1
				}
				if kT[g.kernel] != want || kF[g.kernel] != 1 {
					t.Fatalf("rung %s launched %v (want %s %d times), rung ffma %v", c.rung, kT, g.kernel, want, kF)
				}
			}
			if kT[tcKernel] != wantTC {
				t.Fatalf("rung %s launched %v, want %s %d times", c.rung, kT, tcKernel, wantTC)
			}
			// Tensor cores against the FFMA rung (same rounded operands).
			e.checkGPU("forward", yT, e.gpuValues(yF), gemmTol(c.in, 1))
			e.checkGPU("backward data", dxT, e.gpuValues(dxF), gemmTol(c.out, 1))
			e.checkGPU("backward weight", dwT, e.gpuValues(dwF), gemmTol(c.n, 1))
			// And against the CPU on host-rounded operands.
			e.must("cpu forward", e.cpu.LinearForward(x.c, w.c, bias.c, yT.c), nil)
			e.check("forward vs cpu", yT, gemmTol(c.in, 1))
			e.must("cpu backward", e.cpu.LinearBackward(x.c, w.c, dy.c, dxT.c, dwT.c, nil), nil)
			e.check("backward data vs cpu", dxT, gemmTol(c.out, 1))
			e.check("backward weight vs cpu", dwT, gemmTol(c.n, 1))
		})
	}
}

func TestTensorCoreConvForward(t *testing.T) {
	cases := []struct {
		n, cin, h, w, cout, k, stride, pad int
		rung                               string
		want                               string // the tensor-core kernel (Cin % 8 == 0; _tap: Cin % 32 == 0), "" for the FFMA fallback
	}{
		{2, 8, 6, 6, 12, 3, 1, 1, "tc64", "conv2d_fwd_bf16_tc_s"},
		{2, 16, 7, 7, 20, 3, 2, 1, "tc64", "conv2d_fwd_bf16_tc_s"},
		{1, 24, 5, 5, 8, 1, 1, 0, "tc128", "conv2d_fwd_bf16_tc"},
		{2, 8, 9, 9, 130, 3, 1, 1, "tc128", "conv2d_fwd_bf16_tc"},      // Cout crosses the 128 tile
		{2, 3, 9, 9, 8, 3, 2, 1, "tc64", ""},                           // RGB stem: FFMA fallback
		{2, 32, 5, 5, 8, 3, 1, 1, "tc64", "conv2d_fwd_bf16_tc_tap_s"},  // one tap per K tile, rows past N
		{2, 32, 5, 5, 8, 3, 1, 1, "tcgeneral", "conv2d_fwd_bf16_tc_s"}, // the same on the general gather
		{1, 64, 7, 7, 12, 3, 2, 1, "tc128", "conv2d_fwd_bf16_tc_tap"},  // two channel blocks per tap, stride 2
		{2, 32, 6, 5, 16, 1, 2, 0, "tc64", "conv2d_fwd_bf16_tc_tap_s"}, // 1x1 stride 2 (downsample), H != W
		{1, 32, 6, 6, 8, 5, 1, 2, "auto", "conv2d_fwd_bf16_tc_tap_s"},  // 5x5, pad 2: the tap carry across rows
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/n%d_cin%d_%dx%d_cout%d_k%d_s%d_p%d", c.rung, c.n, c.cin, c.h, c.w, c.cout, c.k, c.stride, c.pad), func(t *testing.T) {
			e := newEnv(t)
			e.withPrecision(backend.BF16)
			e.withRung(c.rung)
			p := backend.ConvParams{Stride: c.stride, Pad: c.pad}
			ho := backend.ConvOutSize(c.h, c.k, c.stride, c.pad)
			wo := backend.ConvOutSize(c.w, c.k, c.stride, c.pad)
			x, w := e.operand(backend.BF16, c.n, c.cin, c.h, c.w), e.operand(backend.BF16, c.cout, c.cin, c.k, c.k)
			yT, yF := e.zeros(c.n, c.cout, ho, wo), e.zeros(c.n, c.cout, ho, wo)
			kT := e.launched(func() { e.mustGPU("forward", e.gpu.Conv2DForward(x.g, w.g, yT.g, p)) })
			if err := e.gpu.SetGEMMRung("ffma"); err != nil {
				t.Fatal(err)
			}
			e.mustGPU("forward ffma", e.gpu.Conv2DForward(x.g, w.g, yF.g, p))
			tcRan := false
			for k := range kT {
				if strings.HasPrefix(k, "conv2d_fwd_bf16_tc") {
					tcRan = true
				}
			}
			if tcRan != (c.want != "") || (c.want == "" && kT["conv2d_fwd_bf16"] != 1) || (c.want != "" && kT[c.want] != 1) {
				t.Fatalf("launched %v; want %q (\"\": conv2d_fwd_bf16)", kT, c.want)
			}
			k := c.cin * c.k * c.k
			e.checkGPU("forward vs ffma", yT, e.gpuValues(yF), gemmTol(k, 1))
			e.must("cpu forward", e.cpu.Conv2DForward(x.c, w.c, yT.c, p), nil)
			e.check("forward vs cpu", yT, gemmTol(k, 1))
		})
	}
}

func TestTensorCoreConvBackwardData(t *testing.T) {
	cases := []struct {
		n, cin, h, w, cout, k, stride, pad int
		rung                               string
		want                               string // the tensor-core kernel (Cout % 8 == 0, stride 1 or 2; _tap: Cout % 32 == 0), "" for FFMA
	}{
		{2, 5, 6, 6, 8, 3, 1, 1, "tc64", "conv2d_bwd_data_bf16_tc_s"},
		{2, 4, 7, 7, 16, 3, 2, 1, "tc64", "conv2d_bwd_data_bf16_tc_s"},     // stride 2, odd image
		{1, 6, 8, 8, 24, 1, 2, 0, "tc128", "conv2d_bwd_data_bf16_tc"},      // 1x1 stride 2 (downsample)
		{2, 3, 6, 6, 8, 4, 2, 2, "tc64", "conv2d_bwd_data_bf16_tc_s"},      // even kernel, pad 2
		{1, 130, 4, 4, 8, 3, 1, 1, "tc128", "conv2d_bwd_data_bf16_tc"},     // Cin crosses the 128 tile
		{2, 4, 6, 6, 6, 3, 1, 1, "tc64", ""},                               // Cout % 8 != 0: FFMA
		{1, 4, 9, 9, 8, 3, 3, 0, "tc64", ""},                               // stride 3: FFMA
		{2, 5, 6, 6, 32, 3, 1, 1, "tc64", "conv2d_bwd_data_bf16_tc_tap_s"}, // one tap per K tile
		{2, 5, 6, 6, 32, 3, 1, 1, "tcgeneral", "conv2d_bwd_data_bf16_tc_s"},
		{2, 4, 7, 7, 32, 3, 2, 1, "tc64", "conv2d_bwd_data_bf16_tc_tap_s"}, // stride 2, odd image: parity
		{1, 6, 8, 7, 64, 1, 2, 0, "tc128", "conv2d_bwd_data_bf16_tc_tap"},  // 1x1 stride 2, two channel blocks
		{2, 3, 6, 6, 32, 4, 2, 2, "auto", "conv2d_bwd_data_bf16_tc_tap_s"}, // even kernel, pad 2
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/n%d_cin%d_%dx%d_cout%d_k%d_s%d_p%d", c.rung, c.n, c.cin, c.h, c.w, c.cout, c.k, c.stride, c.pad), func(t *testing.T) {
			e := newEnv(t)
			e.withPrecision(backend.BF16)
			e.withRung(c.rung)
			p := backend.ConvParams{Stride: c.stride, Pad: c.pad}
			ho := backend.ConvOutSize(c.h, c.k, c.stride, c.pad)
			wo := backend.ConvOutSize(c.w, c.k, c.stride, c.pad)
			dy, w := e.operand(backend.BF16, c.n, c.cout, ho, wo), e.operand(backend.BF16, c.cout, c.cin, c.k, c.k)
			dxT, dxF := e.zeros(c.n, c.cin, c.h, c.w), e.zeros(c.n, c.cin, c.h, c.w)
			kT := e.launched(func() { e.mustGPU("backward data", e.gpu.Conv2DBackwardData(dy.g, w.g, dxT.g, p)) })
			if err := e.gpu.SetGEMMRung("ffma"); err != nil {
				t.Fatal(err)
			}
			e.mustGPU("backward data ffma", e.gpu.Conv2DBackwardData(dy.g, w.g, dxF.g, p))
			tcRan := false
			for k := range kT {
				if strings.HasPrefix(k, "conv2d_bwd_data_bf16_tc") {
					tcRan = true
				}
			}
			if tcRan != (c.want != "") || (c.want == "" && kT["conv2d_bwd_data_bf16"] != 1) || (c.want != "" && kT[c.want] != 1) {
				t.Fatalf("launched %v; want %q (\"\": conv2d_bwd_data_bf16)", kT, c.want)
			}
			k := c.cout * c.k * c.k
			e.checkGPU("backward data vs ffma", dxT, e.gpuValues(dxF), gemmTol(k, 1))
			e.must("cpu backward data", e.cpu.Conv2DBackwardData(dy.c, w.c, dxT.c, p), nil)
			e.check("backward data vs cpu", dxT, gemmTol(k, 1))
		})
	}
}

func TestTensorCoreConvBackwardFilter(t *testing.T) {
	cases := []struct {
		n, cin, h, w, cout, k, stride, pad int
		rung                               string
		want                               string // the tensor-core kernel (Cin and Cout % 8 == 0; _tap: % 16 == 0), "" for FFMA
		split                              int    // pixels per split-K slice (0: the default, 16384; -1: the default, and split-K expected)
	}{
		{2, 8, 6, 6, 8, 3, 1, 1, "tc64", "conv2d_bwd_filter_bf16_tc_s", 0},
		{2, 16, 7, 7, 8, 3, 2, 1, "tc64", "conv2d_bwd_filter_bf16_tc_s", 0},         // stride 2, R = 144 crosses the 64 tile
		{1, 8, 8, 8, 24, 1, 2, 0, "tc128", "conv2d_bwd_filter_bf16_tc", 0},          // 1x1 stride 2
		{1, 16, 4, 4, 136, 3, 1, 1, "tc128", "conv2d_bwd_filter_bf16_tc", 0},        // Cout and R cross the 128 tile
		{2, 3, 9, 9, 8, 3, 2, 1, "tc64", "", 0},                                     // RGB stem: FFMA
		{2, 16, 7, 7, 16, 3, 2, 1, "tc64", "conv2d_bwd_filter_bf16_tc_tap_s", 0},    // paired chunks, stride 2, R = 144 crosses the 64 tile
		{2, 16, 7, 7, 16, 3, 2, 1, "tcgeneral", "conv2d_bwd_filter_bf16_tc_s", 0},   // the same unpaired
		{1, 16, 4, 4, 144, 3, 1, 1, "tc128", "conv2d_bwd_filter_bf16_tc_tap", 0},    // Cout and R cross the 128 tile
		{1, 32, 9, 7, 16, 1, 2, 0, "auto", "conv2d_bwd_filter_bf16_tc_tap_s", 0},    // 1x1 stride 2, odd pixel count
		{1, 8, 13, 12, 8, 1, 1, 0, "tc64", "conv2d_bwd_filter_bf16_tc_s", 40},       // N*Ho*Wo = 156: four split-K slices of 39 pixels (not on a K tile)
		{2, 16, 9, 9, 16, 3, 2, 1, "tc64", "conv2d_bwd_filter_bf16_tc_tap_s", 20},   // 50 pixels: three slices of 17
		{2, 16, 9, 9, 16, 3, 2, 1, "tcgeneral", "conv2d_bwd_filter_bf16_tc_s", 20},  // the same unpaired
		{1, 16, 32, 32, 16, 1, 1, 0, "tc64", "conv2d_bwd_filter_bf16_tc_tap_s", -1}, // 1024 pixels, one tile: tcFilterSplits makes 2 slices
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/n%d_cin%d_%dx%d_cout%d_k%d_s%d_p%d", c.rung, c.n, c.cin, c.h, c.w, c.cout, c.k, c.stride, c.pad), func(t *testing.T) {
			e := newEnv(t)
			e.withPrecision(backend.BF16)
			e.withRung(c.rung)
			p := backend.ConvParams{Stride: c.stride, Pad: c.pad}
			ho := backend.ConvOutSize(c.h, c.k, c.stride, c.pad)
			wo := backend.ConvOutSize(c.w, c.k, c.stride, c.pad)
			cuda.SetSplitKChunk(e.gpu, max(c.split, 0))
			t.Cleanup(func() { cuda.SetSplitKChunk(e.gpu, 0) })
			x, dy := e.operand(backend.BF16, c.n, c.cin, c.h, c.w), e.operand(backend.BF16, c.n, c.cout, ho, wo)
			dwT, dwF := e.zeros(c.cout, c.cin, c.k, c.k), e.zeros(c.cout, c.cin, c.k, c.k)
			kT := e.launched(func() { e.mustGPU("backward filter", e.gpu.Conv2DBackwardFilter(x.g, dy.g, dwT.g, p)) })
			if err := e.gpu.SetGEMMRung("ffma"); err != nil {
				t.Fatal(err)
			}
			e.mustGPU("backward filter ffma", e.gpu.Conv2DBackwardFilter(x.g, dy.g, dwF.g, p))
			tcRan := false
			for k := range kT {
				if strings.HasPrefix(k, "conv2d_bwd_filter_bf16_tc") {
					tcRan = true
				}
			}
			if tcRan != (c.want != "") || (c.want == "" && kT["conv2d_bwd_filter_bf16"] != 1) || (c.want != "" && kT[c.want] != 1) {
				t.Fatalf("launched %v; want %q (\"\": conv2d_bwd_filter_bf16)", kT, c.want)
			}
			if split := kT["splitk_reduce"] == 1; split != (c.split != 0) {
				t.Fatalf("launched %v; split-K (splitk_reduce) %v, want %v", kT, split, c.split != 0)
			}
			k := c.n * ho * wo
			e.checkGPU("backward filter vs ffma", dwT, e.gpuValues(dwF), gemmTol(k, 1))
			e.must("cpu backward filter", e.cpu.Conv2DBackwardFilter(x.c, dy.c, dwT.c, p), nil)
			e.check("backward filter vs cpu", dwT, gemmTol(k, 1))
		})
	}
}

// TestTCFilterSplits: the tensor-core filter gradient splits a product of
// few tiles further (up to 64 slices of at least 512 pixels) until it has
// 132 blocks, and leaves the others at the FFMA rung's split.
func TestTCFilterSplits(t *testing.T) {
	cases := []struct {
		m, n, total, splits, chunk int
		wantSplits, wantChunk      int
	}{
		{128, 64, 262144, 16, 16384, 64, 4096},   // 1x1 downsample 64 -> 128 at b512: 2 tiles
		{256, 128, 65536, 4, 16384, 17, 3856},    // 128 -> 256: 8 tiles
		{512, 256, 16384, 1, 16384, 5, 3277},     // 256 -> 512: 32 tiles
		{512, 2304, 16384, 1, 16384, 1, 16384},   // 288 tiles: enough
		{64, 576, 1048576, 16, 65536, 16, 65536}, // 9 tiles x 16 = 144 blocks: enough
		{16, 16, 1024, 1, 1024, 2, 512},          // limited by 512 pixels per slice
		{16, 16, 1000, 1, 1000, 1, 1000},         // too few pixels to split
	}
	for _, c := range cases {
		s, ch := cuda.TCFilterSplits(c.m, c.n, c.total, c.splits, c.chunk)
		if s != c.wantSplits || ch != c.wantChunk {
			t.Errorf("tcFilterSplits(%d, %d, %d, %d, %d) = %d, %d; want %d, %d", c.m, c.n, c.total, c.splits, c.chunk, s, ch, c.wantSplits, c.wantChunk)
		}
		if s > 1 && (ch*(s-1) >= c.total || ch*s < c.total) {
			t.Errorf("%d slices of %d do not cover %d pixels exactly", s, ch, c.total)
		}
	}
}
