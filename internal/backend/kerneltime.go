package backend

// KernelTime is the device time one kernel took while kernel timing was on:
// the sum over its launches of the time between an event recorded just
// before the launch and one recorded just after it on the same stream.
type KernelTime struct {
	// Kernel is the kernel's name, e.g. "conv2d_fwd".
	Kernel string `json:"kernel"`
	// Calls is the number of timed launches.
	Calls int `json:"calls"`
	// TotalMs is the summed time of those launches in milliseconds.
	TotalMs float64 `json:"total_ms"`
}

// KernelTimer is implemented by backends that can time their kernels on
// the device (the CUDA backend); the CPU backend has no kernels and does
// not implement it. Timing is off until EnableKernelTimes(true).
type KernelTimer interface {
	// EnableKernelTimes turns timing of later launches on or off. Launches
	// timed before it is turned off still count.
	EnableKernelTimes(on bool)
	// KernelTimes returns the totals per kernel since the last reset,
	// largest TotalMs first. It waits for the timed launches to finish.
	KernelTimes() ([]KernelTime, error)
	// ResetKernelTimes forgets every total and every launch not yet
	// collected.
	ResetKernelTimes()
}
