//go:build cudaemu

package cli

// The kernel time table through the CLI on the CUDA emulator (-tags
// cudaemu: --device cuda opens the emulator). Run with
//
//	go test -tags cudaemu -run KernelTimes ./internal/cli/

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"

	"simclr/internal/bench"
)

// tinyBench is a bench run small enough for the emulator.
var tinyBench = []string{
	"bench", "--device", "cuda", "--channels", "1", "--set", "data.format=synthetic", "--set", "model.width=2",
	"--set", "data.image_size=8", "--set", "train.batch_size=2", "--set", "model.head_out=8", "--warmup", "0",
}

func TestBenchKernelTimesTable(t *testing.T) {
	r := invoke(t, nil, append(tinyBench, "--steps", "2", "--kernel-times")...)
	if r.code != 0 {
		t.Fatalf("bench --kernel-times: %v", r)
	}
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	head := -1
	for i, l := range lines {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "kernel" && f[1] == "calls" {
			head = i
			break
		}
	}
	if head < 0 || !strings.Contains(r.stdout, "kernel times over 2 timed steps") || !strings.Contains(r.stdout, "peak memory:") {
		t.Fatalf("no kernel table with its heading and peak memory in:\n%s", r.stdout)
	}
	calls := make(map[string]int)
	var sumCalls int
	var sumMs, sumPct float64
	for _, l := range lines[head+1:] {
		f := strings.Fields(l)
		if len(f) != 5 {
			t.Fatalf("table row %q has %d fields, want 5", l, len(f))
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			t.Fatalf("row %q: calls: %v", l, err)
		}
		var v [3]float64
		for i := range v {
			if v[i], err = strconv.ParseFloat(f[2+i], 64); err != nil || v[i] < 0 || math.IsInf(v[i], 0) {
				t.Fatalf("row %q: column %d is %q, want a finite number >= 0", l, 3+i, f[2+i])
			}
		}
		if f[0] == "total" {
			if n != sumCalls || math.Abs(v[0]-sumMs) > 0.01 || math.Abs(sumPct-100) > 0.5 {
				t.Errorf("total row %q disagrees with the rows: %d calls, %.3f ms, %.1f%%", l, sumCalls, sumMs, sumPct)
			}
			break
		}
		if math.Abs(v[1]*2-v[0]) > 0.002 {
			t.Errorf("row %q: ms/step is not total ms / 2 steps", l)
		}
		calls[f[0]] = n
		sumCalls += n
		sumMs += v[0]
		sumPct += v[2]
	}
	// Every step runs the forward and backward convolutions, batch norm
	// and the loss, the same number of times. train.precision auto is bf16
	// on a CUDA device: the convolutions (1 and 2 channels, too few for
	// the tensor cores) run the bf16 kernels of the FFMA rung, never the
	// fp32 ones.
	for _, k := range []string{"conv2d_fwd_bf16", "conv2d_bwd_data_bf16", "conv2d_bwd_filter_bf16", "bn_sum_partial", "bn_apply", "bn_bwd_partial", "bn_bwd_apply", "ntxent_rows"} {
		if calls[k] == 0 || calls[k]%2 != 0 {
			t.Errorf("%s: %d calls, want a positive multiple of the 2 timed steps", k, calls[k])
		}
	}
	for _, k := range []string{"conv2d_fwd", "conv2d_bwd_data", "conv2d_bwd_filter"} {
		if calls[k] != 0 {
			t.Errorf("%s: %d calls in bf16 (train.precision auto on cuda), want 0", k, calls[k])
		}
	}
}

func TestBenchKernelTimesJSON(t *testing.T) {
	r := invoke(t, nil, append(tinyBench, "--steps", "1", "--kernel-times", "--json")...)
	if r.code != 0 {
		t.Fatalf("bench --kernel-times --json: %v", r)
	}
	var res bench.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, r.stdout)
	}
	if len(res.KernelTimes) == 0 || !(res.KernelMsPerStep > 0) || res.BackendPeakBytes <= 0 {
		t.Fatalf("kernel_times %+v, kernel_ms_per_step %v, backend_peak_bytes %d: want rows, time and a device peak",
			res.KernelTimes, res.KernelMsPerStep, res.BackendPeakBytes)
	}
	var pct float64
	for i, row := range res.KernelTimes {
		pct += row.Percent
		if i > 0 && row.TotalMs > res.KernelTimes[i-1].TotalMs {
			t.Errorf("rows not sorted by total time: %+v", res.KernelTimes)
		}
	}
	if math.Abs(pct-100) > 1e-6 {
		t.Errorf("percentages add up to %v, want 100", pct)
	}
}
