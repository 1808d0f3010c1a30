package model

import (
	"fmt"

	"simclr/internal/tensor"
)

// DeviceComm carries a data-parallel job's collectives on the backend's
// own tensors, so that a device backend's activations and gradients need
// not cross to the host (docs/distributed.md, "Collectives on the device").
// The CUDA backend provides two: over NCCL on the backend's stream, and
// over a host dist.Comm (download, collective, upload), which the emulator
// tests run. It is a Reducer too: sync batch norm's per-channel float64
// vectors go through it.
type DeviceComm interface {
	Rank() int
	Size() int
	// AllReduce64 sums a host vector over the ranks (through the device
	// collective), every rank receiving the same bits.
	AllReduce64(buf []float64) error
	// AllReduceSum32 replaces every tensor with its element-wise sum over
	// the ranks (one fused collective for all of them).
	AllReduceSum32(ts []*tensor.Tensor) error
	// GatherViews all-gathers every rank's local [2*counts[r], dim] (view 1
	// rows, then view 2 rows) into global [2*sum(counts), dim] in the
	// single-process order: view 1 of every image in rank order, then
	// view 2.
	GatherViews(local, global *tensor.Tensor, counts []int) error
	// LocalViews copies this rank's rows of global (laid out as
	// GatherViews writes it) into local, view 1 rows then view 2 rows.
	LocalViews(global, local *tensor.Tensor, counts []int) error
}

// viewGather is how StepGathered recognises a DeviceComm among Gatherers.
type viewGather interface {
	GatherViews(local, global *tensor.Tensor, counts []int) error
	LocalViews(global, local *tensor.Tensor, counts []int) error
}

// AllReduceGradsDevice sums every parameter gradient over the ranks of dc
// in place on the device (one fused collective).
func AllReduceGradsDevice(params []*Param, dc DeviceComm) error {
	ts := make([]*tensor.Tensor, len(params))
	for i, p := range params {
		ts[i] = p.Grad
	}
	if err := dc.AllReduceSum32(ts); err != nil {
		return fmt.Errorf("gradient all-reduce on the device: %w", err)
	}
	return nil
}
