package main

import (
	"math"
	"sort"
	"strings"
)

// Launch is one recorded kernel launch (internal/backend/cuda
// launchlog_test.go writes them); Kernel "<dtoh>" is a host read.
type Launch struct {
	Op     string  `json:"op"`
	Kernel string  `json:"kernel"`
	Grid   [3]int  `json:"grid"`
	Block  [3]int  `json:"block"`
	Shapes [][]int `json:"shapes"`
}

// GPU is the machine the model divides by.
type GPU struct {
	Name       string
	SMs        int
	ClockGHz   float64 // boost clock the FP32 peak is quoted at
	FP32Lanes  int     // FP32 lanes per SM (FFMA per clock)
	TensorFLOP int     // dense BF16 tensor-core FLOP per clock per SM
	TF32FLOP   int     // dense TF32 tensor-core FLOP per clock per SM
	Schedulers int     // warp schedulers per SM, one instruction per clock each
	BWGBs      float64 // DRAM bandwidth, GB/s
	LaunchUs   float64 // assumed gap per kernel launch, µs
	SyncUs     float64 // assumed cost of one host round trip (queue drain + copy), µs
}

// H100 SXM5 and H200 (same SM array, HBM3e). TensorFLOP: the datasheet's
// 989 TFLOPS dense BF16 at 132 SMs and 1.83 GHz is 4096 FLOP per clock per
// SM (1024 per sub-partition); TF32FLOP: its 495 TFLOPS dense TF32, half
// that (an HMMA.1688.F32.TF32, 1024 multiply-adds, issues at the rate of
// an HMMA.16816.F32.BF16 with 2048).
var (
	H100 = GPU{Name: "H100 SXM", SMs: 132, ClockGHz: 1.98, FP32Lanes: 128, TensorFLOP: 4096, TF32FLOP: 2048, Schedulers: 4, BWGBs: 3350, LaunchUs: 1, SyncUs: 10}
	H200 = GPU{Name: "H200", SMs: 132, ClockGHz: 1.98, FP32Lanes: 128, TensorFLOP: 4096, TF32FLOP: 2048, Schedulers: 4, BWGBs: 4800, LaunchUs: 1, SyncUs: 10}
)

func numel(s []int) float64 {
	n := 1.0
	for _, d := range s {
		n *= float64(d)
	}
	return n
}

// flops is the launch's floating-point work (2 per multiply-add) for the
// GEMM-like kernels, from the operand shapes the launch code passes; 0
// for the others.
func flops(l Launch) float64 {
	s := l.Shapes
	k := baseKernel(l.Kernel)
	if g, _, ok := tcBase(k); ok {
		k = g // a tensor-core kernel does its FFMA twin's work
	}
	switch k {
	case "gemm_nt": // A [M,K], B [N,K]
		return 2 * float64(s[0][0]) * numel(s[1])
	case "conv2d_fwd": // x, w, y
		return 2 * numel(s[2]) * numel(s[1][1:])
	case "conv2d_bwd_data": // dy, w, dx
		return 2 * numel(s[0]) * numel(s[1][1:])
	case "conv2d_bwd_filter": // x, dy, dw
		return 2 * numel(s[1]) * numel(s[2][1:])
	case "linear_fwd", "linear_bwd_data": // x [N,I], w [O,I]  /  dy [N,O], w [O,I]
		return 2 * numel(s[0]) * float64(s[1][len(s[1])-1])
	case "linear_bwd_weight": // x [N,I], dy [N,O]
		return 2 * numel(s[0]) * float64(s[1][1])
	case "similarity_fwd": // z [N,D] -> s [N,N]
		return 2 * float64(s[0][0]) * numel(s[0])
	case "similarity_bwd": // z, ds -> dz = (ds + dsᵀ) z
		return 2 * float64(s[0][0]) * numel(s[0])
	}
	return 0
}

// tcBase splits a tensor-core GEMM kernel's base name (baseKernel's
// result, "conv2d_fwd_tf32_tc") into its GEMM ("conv2d_fwd") and the bytes
// of its stored operand element (2 for bf16, 4 for tf32).
func tcBase(k string) (string, float64, bool) {
	if g, ok := strings.CutSuffix(k, "_bf16_tc"); ok {
		return g, 2, true
	}
	if g, ok := strings.CutSuffix(k, "_tf32_tc"); ok {
		return g, 4, true
	}
	return k, 0, false
}

// conversions are the tensor-core rungs' operand conversion kernels (their
// format suffix is part of the name, not a precision variant).
var conversions = map[string]bool{"convert_bf16": true, "nchw_to_nhwc_bf16": true, "convert_tf32": true, "nchw_to_nhwc_tf32": true}

// baseKernel strips the precision suffix of the FFMA rung's kernels
// (_tf32, _bf16: the same work), the small-tile suffix _s of the
// tensor-core ones and the _tap of their tap-uniform convolutions.
func baseKernel(k string) string {
	for _, suf := range []string{"_tf32", "_bf16", "_s"} {
		if strings.HasSuffix(k, suf) && !conversions[k] {
			k = strings.TrimSuffix(k, suf)
			break
		}
	}
	// The tap-uniform tensor-core convolutions do the same work.
	return strings.TrimSuffix(k, "_tap")
}

// touches is how many times a launch reads or writes a tensor of its
// largest operand's size beyond the operands it passes (the launch code
// passes only some shapes for the elementwise kernels): a lower bound on
// DRAM traffic with perfect caching of re-reads within a kernel.
var touches = map[string]float64{
	"add_f32": 3, "relu_fwd": 2, "relu_bwd": 3, "fill_f32": 1,
	"bn_fwd_train": 3, "bn_fwd_eval": 2, "bn_bwd": 5, // the one-block-per-channel kernels (before the 2-D grid)
	"bn_sum_partial": 1, "bn_sq_partial": 1, // one pass over x each (the other batch-norm kernels pass every tensor they stream)
	"gap_fwd": 1, "gap_bwd": 1, "l2norm_fwd": 2, "l2norm_bwd": 3,
	"ntxent_rows": 2, "momentum_step": 5, "adamw_step": 7, "lars_apply": 5, "lars_norms_partial": 2,
	"sumsq_partial": 1, "dot_partial": 2, "splitk_reduce": 2, "linear_bwd_bias": 1, "maxpool_fwd": 1.25, "maxpool_bwd": 1.25,
	"convert_bf16": 1.5, "nchw_to_nhwc_bf16": 1.5, // read fp32, write bf16
	"convert_tf32": 2, "nchw_to_nhwc_tf32": 2, // read fp32, write fp32 (tf32-rounded)
}

// bytesOf is the modelled DRAM traffic of one launch.
func bytesOf(l Launch) float64 {
	if m, ok := touches[l.Kernel]; ok {
		largest := 0.0
		for _, s := range l.Shapes {
			largest = math.Max(largest, numel(s))
		}
		return 4 * m * largest
	}
	if g, e, ok := tcBase(baseKernel(l.Kernel)); ok { // operands of e bytes, fp32 results
		switch g {
		case "gemm_nt": // A and B, C [M,N]
			return e*(numel(l.Shapes[0])+numel(l.Shapes[1])) + 4*float64(l.Shapes[0][0]*l.Shapes[1][0])
		case "conv2d_fwd", "conv2d_bwd_data": // x (dy) and w, y (dx)
			return e*(numel(l.Shapes[0])+numel(l.Shapes[1])) + 4*numel(l.Shapes[2])
		case "conv2d_bwd_filter": // x and dy, dw per split-K slice (grid.z)
			return e*(numel(l.Shapes[0])+numel(l.Shapes[1])) + 4*numel(l.Shapes[2])*float64(l.Grid[2])
		}
	}
	tot := 0.0
	for _, s := range l.Shapes {
		tot += numel(s)
	}
	// GEMM-like kernels whose output shape is not passed: add it.
	switch baseKernel(l.Kernel) {
	case "linear_fwd":
		tot += float64(l.Shapes[0][0] * l.Shapes[1][0])
	case "linear_bwd_data":
		tot += float64(l.Shapes[0][0] * l.Shapes[1][1])
	case "linear_bwd_weight":
		tot += float64(l.Shapes[0][1] * l.Shapes[1][1])
	case "similarity_fwd":
		tot += float64(l.Shapes[0][0] * l.Shapes[0][0])
	case "similarity_bwd":
		tot += numel(l.Shapes[0])
	}
	return 4 * tot
}

// Row is one kernel's line of the table.
type Row struct {
	Kernel     string
	Launches   int
	WarpInstrs float64 // modelled dynamic warp instructions
	FLOPs      float64
	Bytes      float64
	IssueS     float64
	FP32S      float64
	MemS       float64
	LaunchS    float64
	TimeS      float64 // sum over launches of max(issue, fp32, mem) + launch gap
	Bound      string  // what bounds most of its time
	LoopMix    Mix     // the main loop's instruction mix
	LoopLen    int
}

// Model is the whole step.
type Model struct {
	GPU    GPU
	Rows   []Row
	Syncs  int
	SyncS  float64
	StepS  float64
	Pairs  int
	Missed []string // kernels launched but absent from the SASS
}

// elemsPerTrip is, for kernels whose main loop handles several elements
// per lane and trip (float4 loads, unrolled), that number: the model charges
// only the main loop (mainLoop: the innermost loop with the most 128-bit
// global loads, the float4 instantiation), largest/32/elems trips.
// Their other innermost loops (the scalar instantiation, the tail of at most
// three units, the second-stage loop over chunks) are charged once per
// warp. The [N,C] batch norms of the projection head run the scalar
// instantiation and are modelled as if vectorised (~0.5M of the step's
// ~100M batch-norm elements).
var elemsPerTrip = map[string]float64{
	"bn_sum_partial": 16, "bn_sq_partial": 16, "bn_bwd_partial": 16, // 4 float4 units per trip
	"bn_apply": 4, "bn_bwd_apply": 4, // one float4 per trip
}

// mainLoop is k.MainLoop, except for the elemsPerTrip kernels: the
// innermost loop with the most 128-bit global loads (LDG.E.128), which
// k.MainLoop's count of loads would not prefer over a scalar loop that
// nvcc unrolled (the second-stage loop over chunks).
func mainLoop(k *Kernel) (Mix, bool) {
	if _, ok := elemsPerTrip[k.Name]; ok {
		best, found := -1, false
		var mix Mix
		for _, c := range k.Innermost() {
			n := 0
			for _, in := range k.Insts {
				if in.Addr >= c.Start && in.Addr < c.End && in.Base() == "LDG" && strings.Contains(in.Opcode, ".128") {
					n++
				}
			}
			if n > best {
				best, mix, found = n, k.MixOf(c.Start, c.End), true
			}
		}
		if found && best > 0 {
			return mix, true
		}
	}
	_, mix, ok := k.MainLoop()
	return mix, ok
}

// warpInstrs models one launch's dynamic warp instructions: the straight
// code once per warp launched, plus the main loop's body once per 32 units
// of work per thread lane (an FFMA loop: flops/2 multiply-adds spread over
// its FFMAs; any other loop: one element of the largest operand per lane
// and trip, every innermost loop walking the whole tensor).
func warpInstrs(k *Kernel, l Launch, fl float64) float64 {
	threads := float64(l.Grid[0]*l.Grid[1]*l.Grid[2]) * float64(l.Block[0]*l.Block[1]*l.Block[2])
	warps := math.Ceil(threads / 32)
	all := float64(k.All().Total())
	mix, ok := mainLoop(k)
	if !ok {
		return warps * all
	}
	// Multiply-adds per warp instruction: 32 for an FFMA, 16*8*16 = 2048
	// for an HMMA.16816 (bf16), 16*8*8 = 1024 for an HMMA.1688 (tf32).
	if macs := 32*mix["FFMA"] + k.HMMAMacs()*mix["HMMA"]; macs > 0 && fl > 0 {
		body := float64(mix.Total())
		trips := fl / 2 / float64(macs)
		return warps*(all-body) + trips*body
	}
	largest := 0.0
	for _, s := range l.Shapes {
		largest = math.Max(largest, numel(s))
	}
	inner := 0.0
	for _, c := range k.Innermost() {
		inner += float64(k.MixOf(c.Start, c.End).Total())
	}
	if e, ok := elemsPerTrip[l.Kernel]; ok {
		return warps*(all-inner) + warps*(inner-float64(mix.Total())) + largest/32/e*float64(mix.Total())
	}
	return warps*(all-inner) + largest/32*inner
}

// Build runs the model of the launches against the kernels of one arch.
func Build(kernels map[string]*Kernel, launches []Launch, g GPU, pairs int) Model {
	m := Model{GPU: g, Pairs: pairs}
	rows := map[string]*Row{}
	issueRate := float64(g.SMs*g.Schedulers) * g.ClockGHz * 1e9
	fp32Rate := float64(g.SMs*g.FP32Lanes) * 2 * g.ClockGHz * 1e9
	tensorRate := float64(g.SMs*g.TensorFLOP) * g.ClockGHz * 1e9
	tf32Rate := float64(g.SMs*g.TF32FLOP) * g.ClockGHz * 1e9
	missed := map[string]bool{}
	boundTime := map[string]map[string]float64{}
	for _, l := range launches {
		if l.Kernel == "<dtoh>" {
			m.Syncs++
			continue
		}
		k := kernels[l.Kernel]
		if k == nil {
			missed[l.Kernel] = true
			continue
		}
		r := rows[l.Kernel]
		if r == nil {
			r = &Row{Kernel: l.Kernel}
			r.LoopMix, _ = mainLoop(k)
			r.LoopLen = r.LoopMix.Total()
			rows[l.Kernel] = r
			boundTime[l.Kernel] = map[string]float64{}
		}
		fl := flops(l)
		wi := warpInstrs(k, l, fl)
		by := bytesOf(l)
		// A grid of fewer blocks than SMs uses only that many SMs' issue
		// slots, FP32 lanes and (optimistically) their share of bandwidth.
		use := math.Min(1, float64(l.Grid[0]*l.Grid[1]*l.Grid[2])/float64(g.SMs))
		is, fs, ms := wi/(issueRate*use), fl/(fp32Rate*use), by/(g.BWGBs*1e9*use)
		math_ := "fp32"
		if r.LoopMix["HMMA"] > 0 { // a tensor-core kernel: its math runs at the tensor rate of its format
			rate := tensorRate
			if k.TF32() {
				rate = tf32Rate
			}
			fs, math_ = fl/(rate*use), "tensor"
		}
		t, b := is, "issue"
		if fs > t {
			t, b = fs, math_
		}
		if ms > t {
			t, b = ms, "memory"
		}
		r.Launches++
		r.WarpInstrs += wi
		r.FLOPs += fl
		r.Bytes += by
		r.IssueS += is
		r.FP32S += fs
		r.MemS += ms
		r.LaunchS += g.LaunchUs * 1e-6
		r.TimeS += t + g.LaunchUs*1e-6
		boundTime[l.Kernel][b] += t
	}
	for name, r := range rows {
		best := 0.0
		for b, t := range boundTime[name] {
			if t > best {
				best, r.Bound = t, b
			}
		}
		if best < r.LaunchS {
			r.Bound = "launch"
		}
		m.Rows = append(m.Rows, *r)
		m.StepS += r.TimeS
	}
	m.SyncS = float64(m.Syncs) * g.SyncUs * 1e-6
	m.StepS += m.SyncS
	sort.Slice(m.Rows, func(i, j int) bool { return m.Rows[i].TimeS > m.Rows[j].TimeS })
	for k := range missed {
		m.Missed = append(m.Missed, k)
	}
	sort.Strings(m.Missed)
	return m
}

// PairsPerS is the modelled throughput.
func (m Model) PairsPerS() float64 { return float64(m.Pairs) / m.StepS }
