package bench

import (
	"fmt"
	"io"

	"simclr/internal/backend"
)

// KernelRow is one kernel's line of the kernel time table.
type KernelRow struct {
	Kernel string `json:"kernel"`
	// Calls is the number of launches over the timed steps.
	Calls int `json:"calls"`
	// TotalMs is the device time of those launches in milliseconds.
	TotalMs float64 `json:"total_ms"`
	// MsPerStep is TotalMs divided by the number of timed steps.
	MsPerStep float64 `json:"ms_per_step"`
	// Percent is the kernel's share of the summed time of all kernels.
	Percent float64 `json:"percent"`
}

// KernelRows turns a backend's kernel times over steps steps into table
// rows, keeping their order.
func KernelRows(times []backend.KernelTime, steps int) []KernelRow {
	var sum float64
	for _, kt := range times {
		sum += kt.TotalMs
	}
	rows := make([]KernelRow, len(times))
	for i, kt := range times {
		rows[i] = KernelRow{Kernel: kt.Kernel, Calls: kt.Calls, TotalMs: kt.TotalMs}
		if steps > 0 {
			rows[i].MsPerStep = kt.TotalMs / float64(steps)
		}
		if sum > 0 {
			rows[i].Percent = 100 * kt.TotalMs / sum
		}
	}
	return rows
}

// kernelMsPerStep is the summed kernel time per step of rows.
func kernelMsPerStep(rows []KernelRow) float64 {
	var ms float64
	for _, r := range rows {
		ms += r.MsPerStep
	}
	return ms
}

// WriteKernelTable prints rows as an aligned table (kernel, calls, total
// ms, ms per step, % of kernel time) followed by a total line.
func WriteKernelTable(w io.Writer, rows []KernelRow) error {
	width := len("kernel")
	total := KernelRow{Kernel: "total"}
	for _, r := range rows {
		width = max(width, len(r.Kernel))
		total.Calls += r.Calls
		total.TotalMs += r.TotalMs
		total.MsPerStep += r.MsPerStep
		total.Percent += r.Percent
	}
	if _, err := fmt.Fprintf(w, "%-*s %8s %11s %10s %8s\n", width, "kernel", "calls", "total ms", "ms/step", "% time"); err != nil {
		return err
	}
	for _, r := range rows {
		if err := writeKernelRow(w, width, r); err != nil {
			return err
		}
	}
	return writeKernelRow(w, width, total)
}

func writeKernelRow(w io.Writer, width int, r KernelRow) error {
	_, err := fmt.Fprintf(w, "%-*s %8d %11.3f %10.3f %8.1f\n", width, r.Kernel, r.Calls, r.TotalMs, r.MsPerStep, r.Percent)
	return err
}

// kernelTimer drives a backend's kernel timing over the timed loop; the
// zero value (no timing asked for) does nothing.
type kernelTimer struct{ kt backend.KernelTimer }

// startKernelTimes clears b's kernel times and turns timing on when on is
// set; checkArgs has made sure that b then implements backend.KernelTimer.
func startKernelTimes(b backend.Backend, on bool) kernelTimer {
	if !on {
		return kernelTimer{}
	}
	kt := b.(backend.KernelTimer)
	kt.ResetKernelTimes()
	kt.EnableKernelTimes(true)
	return kernelTimer{kt}
}

// stop turns timing off; it may be called more than once.
func (k kernelTimer) stop() {
	if k.kt != nil {
		k.kt.EnableKernelTimes(false)
	}
}

// rows turns timing off and returns the table rows of steps timed steps.
func (k kernelTimer) rows(steps int) ([]KernelRow, error) {
	if k.kt == nil {
		return nil, nil
	}
	k.stop()
	times, err := k.kt.KernelTimes()
	if err != nil {
		return nil, err
	}
	return KernelRows(times, steps), nil
}
