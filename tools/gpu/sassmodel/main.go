// Command sassmodel is a static performance model of one SimCLR training
// step on the CUDA backend, from the SASS of the built kernels and the
// launches the Go launch code makes. It is a model, not a measurement.
//
//	sassmodel -sass kernels/build/sass_sm90.txt -launches build/launches.json [-gpu h100|h200] [-pairs 512]
//
// For each kernel it counts the instruction mix of the whole function and
// of its main loop (the innermost loop, found from the backward branches,
// with the most FFMA/HMMA, else the most global loads), and for each
// launch models the dynamic warp instructions (straight code once per
// warp, loop body once per trip, the trips derived from the launch's work:
// multiply-adds for the GEMM-like kernels, elements for the others), the
// FP32 work and a lower bound on DRAM traffic from the operand shapes. A
// launch takes max(issue, FP32, memory) time plus an assumed launch gap; a
// host round trip (a download) an assumed drain cost. Not modelled:
// latency and occupancy limits, shared-memory bank conflicts, L2 hit rates,
// tail effects, the cost of the instructions cuobjdump could not decode
// beyond their issue slot.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	sassPath := flag.String("sass", "", "cuobjdump -sass output (one architecture, or the first of several is used with -arch)")
	arch := flag.String("arch", "sm_90", "architecture whose SASS is modelled")
	launchPath := flag.String("launches", "", "launch log JSON (internal/backend/cuda TestRecordStepLaunches with SIMCLR_LAUNCH_LOG)")
	gpuName := flag.String("gpu", "h100", "h100 (SXM, 3.35 TB/s) or h200 (4.8 TB/s)")
	pairs := flag.Int("pairs", 512, "pairs per step in the launch log")
	title := flag.String("title", "", "heading line for the table")
	mix := flag.Bool("mix", false, "also print each kernel's main-loop instruction mix")
	flag.Parse()
	if err := run(os.Stdout, *sassPath, *arch, *launchPath, *gpuName, *pairs, *title, *mix); err != nil {
		fmt.Fprintln(os.Stderr, "sassmodel:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, sassPath, arch, launchPath, gpuName string, pairs int, title string, mix bool) error {
	g := H100
	switch strings.ToLower(gpuName) {
	case "h100":
	case "h200":
		g = H200
	default:
		return fmt.Errorf("unknown -gpu %q (h100 or h200)", gpuName)
	}
	f, err := os.Open(sassPath)
	if err != nil {
		return err
	}
	defer f.Close()
	ks, err := ParseSASS(f)
	if err != nil {
		return err
	}
	byName := map[string]*Kernel{}
	for i := range ks {
		if ks[i].Arch == arch {
			byName[ks[i].Name] = &ks[i]
		}
	}
	if len(byName) == 0 {
		return fmt.Errorf("%s has no %s functions", sassPath, arch)
	}
	data, err := os.ReadFile(launchPath)
	if err != nil {
		return err
	}
	var ls []Launch
	if err := json.Unmarshal(data, &ls); err != nil {
		return fmt.Errorf("%s: %w", launchPath, err)
	}
	m := Build(byName, ls, g, pairs)
	if len(m.Missed) > 0 {
		return fmt.Errorf("kernels launched but not in the %s SASS: %v", arch, m.Missed)
	}
	Write(w, m, arch, title, byName, mix)
	return nil
}

// Write prints the model as a Markdown table.
func Write(w io.Writer, m Model, arch, title string, ks map[string]*Kernel, mix bool) {
	if title != "" {
		fmt.Fprintf(w, "%s\n\n", title)
	}
	g := m.GPU
	fmt.Fprintf(w, "MODEL, not a measurement: %s SASS on %s (%d SMs x %d schedulers at %.2f GHz, FP32 %.1f TFLOP/s, BF16 tensor cores %.0f TFLOP/s dense, %.2f TB/s; %.1f µs per launch and %.0f µs per host round trip assumed), %d pairs per step. For a kernel whose main loop has HMMA the math column is its tensor-core time and a loop-body HMMA counts 2048 multiply-adds (bf16 HMMA.16816; a tf32 HMMA.1688 1024, at half the rate: %.0f TFLOP/s dense).\n\n",
		arch, g.Name, g.SMs, g.Schedulers, g.ClockGHz, float64(g.SMs*g.FP32Lanes)*2*g.ClockGHz/1e3, float64(g.SMs*g.TensorFLOP)*g.ClockGHz/1e3, g.BWGBs/1e3, g.LaunchUs, g.SyncUs, m.Pairs, float64(g.SMs*g.TF32FLOP)*g.ClockGHz/1e3)
	fmt.Fprintln(w, "| kernel | launches | warp instr (M) | loop body: instr / FFMA / HMMA / LDG / LDS | GFLOP | MB | issue µs | FP32/tensor µs | memory µs | modelled µs | bound | share |")
	fmt.Fprintln(w, "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---:|")
	launches := 0
	for _, r := range m.Rows {
		launches += r.Launches
		fmt.Fprintf(w, "| `%s` | %d | %.1f | %d / %d / %d / %d / %d | %.1f | %.0f | %.0f | %.0f | %.0f | %.0f | %s | %.1f%% |\n",
			r.Kernel, r.Launches, r.WarpInstrs/1e6, r.LoopLen, r.LoopMix["FFMA"], r.LoopMix["HMMA"], r.LoopMix["LDG"], r.LoopMix["LDS"],
			r.FLOPs/1e9, r.Bytes/1e6, r.IssueS*1e6, r.FP32S*1e6, r.MemS*1e6, r.TimeS*1e6, r.Bound, 100*r.TimeS/m.StepS)
	}
	if m.Syncs > 0 {
		fmt.Fprintf(w, "| host round trips | %d | | | | | | | | %.0f | sync | %.1f%% |\n", m.Syncs, m.SyncS*1e6, 100*m.SyncS/m.StepS)
	}
	fmt.Fprintf(w, "\nModelled step: %d launches, %d host round trips, %.2f ms, **%.0f pairs/s (model)**.\n", launches, m.Syncs, m.StepS*1e3, m.PairsPerS())
	if mix {
		fmt.Fprintln(w, "\nMain-loop instruction mix per kernel (static count in the loop body):")
		fmt.Fprintln(w)
		for _, r := range m.Rows {
			var parts []string
			for _, c := range ClassOrder {
				if n := r.LoopMix[c]; n > 0 {
					parts = append(parts, fmt.Sprintf("%s %d", c, n))
				}
			}
			all := ks[r.Kernel].All()
			fmt.Fprintf(w, "- `%s`: %s (function: %d instructions, %d undecoded, %d integer-division sequences)\n", r.Kernel, strings.Join(parts, ", "), all.Total(), all["undecoded"], all["IDIV"])
		}
	}
}
