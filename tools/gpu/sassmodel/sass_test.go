package main

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
)

func loadSample(t *testing.T) map[string]*Kernel {
	t.Helper()
	f, err := os.Open("testdata/sample_sm90.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ks, err := ParseSASS(f)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]*Kernel{}
	for i := range ks {
		m[ks[i].Name] = &ks[i]
	}
	return m
}

// The sample is nvcc 11.8's cuobjdump -sass of two sm_90 kernels:
// sumsq_partial (a grid-stride loop at 0xf0..0x160, then a call to the
// noinline block_sum_f64) and relu_fwd.
func TestParseSample(t *testing.T) {
	ks := loadSample(t)
	if len(ks) != 2 || ks["sumsq_partial"] == nil || ks["relu_fwd"] == nil {
		t.Fatalf("kernels %v, want sumsq_partial and relu_fwd", ks)
	}
	k := ks["sumsq_partial"]
	if k.Arch != "sm_90" {
		t.Errorf("arch %q, want sm_90", k.Arch)
	}
	// 0x0a0 is printed as an encoding only (an opcode this cuobjdump does
	// not decode): one undecoded instruction, the rest 16 bytes apart.
	if k.Undecoded != 1 {
		t.Errorf("undecoded %d, want 1 (address 0x0a0)", k.Undecoded)
	}
	if got, want := len(k.Insts)+k.Undecoded, k.Size/16; got != want {
		t.Errorf("%d decoded + %d undecoded instructions, but the code is %d bytes (%d slots)", len(k.Insts), k.Undecoded, k.Size, want)
	}
	first := k.Insts[0]
	if first.Addr != 0 || first.Opcode != "LDC" || first.Pred != "" {
		t.Errorf("first instruction %+v, want LDC at 0", first)
	}
	var br Inst
	for _, in := range k.Insts {
		if in.Addr == 0x160 {
			br = in
		}
	}
	if br.Base() != "BRA" || br.Pred != "@!P0" || br.Target != 0xf0 {
		t.Errorf("instruction at 0x160: %+v, want @!P0 BRA to 0xf0", br)
	}
}

func TestMainLoop(t *testing.T) {
	ks := loadSample(t)
	k := ks["sumsq_partial"]
	l, mix, ok := k.MainLoop()
	if !ok || l != (Loop{0xf0, 0x160}) {
		t.Fatalf("main loop %+v (ok %v), want [0xf0, 0x160]", l, ok)
	}
	// LDC, IMAD.WIDE, LDG, IMAD.IADD, ISETP, F2F, DFMA, BRA.
	want := Mix{"CONST": 1, "INT": 3, "LDG": 1, "CVT": 1, "FP64": 1, "CTRL": 1}
	if mix.Total() != 8 {
		t.Errorf("loop body %d instructions (%v), want 8", mix.Total(), mix)
	}
	for c, n := range want {
		if mix[c] != n {
			t.Errorf("loop body %s: %d, want %d (%v)", c, mix[c], n, mix)
		}
	}
	// relu_fwd's only loop; the self-branch after EXIT is no loop.
	r := ks["relu_fwd"]
	if ls := r.Loops(); len(ls) != 1 || ls[0] != (Loop{0xb0, 0x150}) {
		t.Errorf("relu_fwd loops %v, want [{0xb0 0x150}]", ls)
	}
}

// TestModelBounds: a relu_fwd launch over 2^26 elements is memory-bound
// at 2*4*2^26 bytes / bandwidth; a grid smaller than the SM count gets
// that fraction of the machine.
func TestModelBounds(t *testing.T) {
	ks := loadSample(t)
	n := 1 << 26
	l := Launch{Op: "relu forward", Kernel: "relu_fwd", Grid: [3]int{65535, 1, 1}, Block: [3]int{256, 1, 1}, Shapes: [][]int{{n}}}
	m := Build(ks, []Launch{l, {Kernel: "<dtoh>"}}, H100, 512)
	if len(m.Rows) != 1 || m.Syncs != 1 {
		t.Fatalf("rows %v syncs %d", m.Rows, m.Syncs)
	}
	r := m.Rows[0]
	wantMem := 8 * float64(n) / (H100.BWGBs * 1e9)
	if math.Abs(r.MemS-wantMem) > 1e-12 || r.Bound != "memory" {
		t.Errorf("memory time %g (bound %s), want %g, memory-bound", r.MemS, r.Bound, wantMem)
	}
	if want := wantMem + H100.LaunchUs*1e-6 + H100.SyncUs*1e-6; math.Abs(m.StepS-want) > 1e-12 {
		t.Errorf("step %g s, want %g", m.StepS, want)
	}
	small := l
	small.Grid = [3]int{66, 1, 1}
	m2 := Build(ks, []Launch{small}, H100, 512)
	if got := m2.Rows[0].MemS; math.Abs(got-2*wantMem) > 1e-12 {
		t.Errorf("66 blocks on 132 SMs: memory time %g, want twice %g", got, wantMem)
	}
}

// TestMainLoopVector: for a float4 kernel (elemsPerTrip), mainLoop takes
// the loop with the 128-bit loads, not a scalar loop with more loads (the
// second stage over chunks that nvcc unrolled), and warpInstrs charges its
// body once per 16 elements and lane.
func TestMainLoopVector(t *testing.T) {
	line := func(addr int, text string) string {
		return fmt.Sprintf("        /*%04x*/                   %s ;                /* 0x000000000000000000000000000000 */\n", addr, text)
	}
	src := "code for sm_90\n\t\tFunction : bn_sq_partial\n"
	a := 0
	add := func(text string) { src += line(a, text); a += 16 }
	add("MOV R1, c[0x0][0x28]")
	scalarStart := a // a scalar loop with three loads
	add("LDG.E.64 R2, [R4.64]")
	add("LDG.E.64 R6, [R4.64+0x8]")
	add("LDG.E.64 R8, [R4.64+0x10]")
	add("DADD R2, R2, R6")
	add(fmt.Sprintf("@P0 BRA 0x%x", scalarStart))
	vecStart := a // the float4 loop: two 128-bit loads
	add("LDG.E.128 R12, [R10.64]")
	add("LDG.E.128 R16, [R10.64+0x1000]")
	add("DADD R2, R2, R12")
	add("DADD R2, R2, R13")
	add("IADD3 R10, R10, 0x2000, RZ")
	add(fmt.Sprintf("@P1 BRA 0x%x", vecStart))
	add("EXIT")
	ks, err := ParseSASS(strings.NewReader(src))
	if err != nil || len(ks) != 1 {
		t.Fatalf("parse: %v, %d kernels", err, len(ks))
	}
	k := &ks[0]
	mix, ok := mainLoop(k)
	if !ok || mix.Total() != 6 || mix["LDG"] != 2 {
		t.Fatalf("main loop mix %v (ok %v), want the 6-instruction float4 loop with 2 LDG", mix, ok)
	}
	if _, m, _ := k.MainLoop(); m["LDG"] != 3 {
		t.Fatalf("MainLoop's own choice %v, want the scalar loop with 3 LDG (what mainLoop overrides)", m)
	}
	l := Launch{Kernel: "bn_sq_partial", Grid: [3]int{1, 1, 1}, Block: [3]int{32, 1, 1}, Shapes: [][]int{{32 * 16 * 10}}}
	// One warp: straight code (all minus both loops: 2) + the scalar
	// loop once (5) + 10 trips of the float4 loop (6 each).
	if got, want := warpInstrs(k, l, 0), 2.0+5+10*6; got != want {
		t.Errorf("warp instructions %v, want %v", got, want)
	}
}

// TestBaseKernel: the precision, small-tile and tap-uniform suffixes name
// the same work, so a _tap launch gets the general kernel's FLOPs and bytes.
func TestBaseKernel(t *testing.T) {
	cases := []struct{ kernel, want string }{
		{"conv2d_fwd_bf16", "conv2d_fwd"},
		{"conv2d_fwd_bf16_tc_s", "conv2d_fwd_bf16_tc"},
		{"conv2d_fwd_bf16_tc_tap", "conv2d_fwd_bf16_tc"},
		{"conv2d_bwd_data_bf16_tc_tap_s", "conv2d_bwd_data_bf16_tc"},
		{"conv2d_bwd_filter_bf16_tc_tap_s", "conv2d_bwd_filter_bf16_tc"},
		{"nchw_to_nhwc_bf16", "nchw_to_nhwc_bf16"},
		{"conv2d_fwd_tf32", "conv2d_fwd"},
		{"conv2d_fwd_tf32_tc_tap_s", "conv2d_fwd_tf32_tc"},
		{"gemm_nt_tf32_tc_s", "gemm_nt_tf32_tc"},
		{"convert_tf32", "convert_tf32"},
		{"nchw_to_nhwc_tf32", "nchw_to_nhwc_tf32"},
	}
	for _, c := range cases {
		if got := baseKernel(c.kernel); got != c.want {
			t.Errorf("baseKernel(%q) = %q, want %q", c.kernel, got, c.want)
		}
	}
	shapes := [][]int{{2, 32, 8, 8}, {16, 32, 3, 3}, {2, 16, 8, 8}}
	gen := Launch{Kernel: "conv2d_fwd_bf16_tc_s", Grid: [3]int{2, 1, 1}, Shapes: shapes}
	tap := Launch{Kernel: "conv2d_fwd_bf16_tc_tap_s", Grid: [3]int{2, 1, 1}, Shapes: shapes}
	if flops(tap) != flops(gen) || flops(tap) != 2*2*16*8*8*32*9 || bytesOf(tap) != bytesOf(gen) || bytesOf(tap) == 0 {
		t.Errorf("_tap launch: %g FLOP, %g bytes; general: %g FLOP, %g bytes", flops(tap), bytesOf(tap), flops(gen), bytesOf(gen))
	}
}

// TestTF32TensorCoreModel: a kernel whose loop has HMMA.1688.F32.TF32 is
// modelled with 1024 multiply-adds per HMMA (twice the trips of the bf16
// HMMA.16816 for the same work), at the TF32 tensor rate (half the bf16
// rate), and its operands as 4-byte elements.
func TestTF32TensorCoreModel(t *testing.T) {
	kernel := func(name, hmma string) *Kernel {
		line := func(addr int, text string) string {
			return fmt.Sprintf("        /*%04x*/                   %s ;                /* 0x000000000000000000000000000000 */\n", addr, text)
		}
		src := "code for sm_90\n\t\tFunction : " + name + "\n" + line(0, "MOV R1, c[0x0][0x28]") + line(16, hmma+" R4, R8, R12, R4") +
			line(32, hmma+" R4, R8, R12, R4") + line(48, "@P0 BRA 0x10") + line(64, "EXIT")
		ks, err := ParseSASS(strings.NewReader(src))
		if err != nil || len(ks) != 1 {
			t.Fatalf("parse: %v, %d kernels", err, len(ks))
		}
		return &ks[0]
	}
	bf := kernel("conv2d_fwd_bf16_tc_s", "HMMA.16816.F32.BF16")
	tf := kernel("conv2d_fwd_tf32_tc_s", "HMMA.1688.F32.TF32")
	if bf.TF32() || !tf.TF32() || bf.HMMAMacs() != 2048 || tf.HMMAMacs() != 1024 {
		t.Fatalf("TF32 %v %v, HMMAMacs %d %d", bf.TF32(), tf.TF32(), bf.HMMAMacs(), tf.HMMAMacs())
	}
	shapes := [][]int{{64, 64, 16, 16}, {64, 64, 3, 3}, {64, 64, 16, 16}}
	lb := Launch{Kernel: bf.Name, Grid: [3]int{264, 1, 1}, Block: [3]int{128, 1, 1}, Shapes: shapes}
	lt := lb
	lt.Kernel = tf.Name
	fl := flops(lb)
	if fl != flops(lt) || fl != 2*64*64*16*16*64*9 {
		t.Fatalf("flops bf16 %g, tf32 %g", fl, flops(lt))
	}
	// The straight code (MOV, EXIT) once per warp, the loop (HMMA, HMMA,
	// BRA) once per two HMMA of work.
	warps := 264.0 * 128 / 32
	if got, want := warpInstrs(tf, lt, fl), warps*2+fl/2/(2*1024)*3; got != want {
		t.Errorf("tf32 warp instructions %g, want %g", got, want)
	}
	if got, want := warpInstrs(bf, lb, fl), warps*2+fl/2/(2*2048)*3; got != want {
		t.Errorf("bf16 warp instructions %g, want %g", got, want)
	}
	if got, want := bytesOf(lt)-bytesOf(lb), 2*(numel(shapes[0])+numel(shapes[1])); got != want {
		t.Errorf("tf32 operands move %g more bytes than bf16, want %g", got, want)
	}
	ks := map[string]*Kernel{bf.Name: bf, tf.Name: tf}
	mb, mt := Build(ks, []Launch{lb}, H100, 512), Build(ks, []Launch{lt}, H100, 512)
	if want := fl / (float64(H100.SMs*H100.TF32FLOP) * H100.ClockGHz * 1e9); math.Abs(mt.Rows[0].FP32S-want) > 1e-15 || math.Abs(mt.Rows[0].FP32S-2*mb.Rows[0].FP32S) > 1e-15 {
		t.Errorf("tf32 tensor time %g s, want %g (twice bf16's %g)", mt.Rows[0].FP32S, want, mb.Rows[0].FP32S)
	}
}
