package model

import (
	"fmt"
	"math"

	"simclr/internal/backend"
	"simclr/internal/tensor"
)

// Gatherer concatenates per-rank float32 buffers of lengths counts in rank
// order on every rank (dist.Comm satisfies it).
type Gatherer interface {
	Rank() int
	Size() int
	AllGatherV32(send, recv []float32, counts []int) error
}

// StepGathered is Step for one rank of a data-parallel job. x holds this
// rank's shard of the global batch, [2n,C,H,W] with view 1 in rows 0..n-1
// and view 2 in rows n..2n-1, where n = counts[rank] and counts lists every
// rank's image count; the shards are contiguous blocks of the global batch
// in rank order.
//
// The projections of every rank are all-gathered and laid out as one
// process would hold them for the whole global batch of N = sum(counts)
// images (view 1 of all images, then view 2), and the loss is computed over
// all 2N rows on every rank: each rank obtains the same global loss, and
// the gradient of that loss with respect to its own rows of z is exactly
// the single-process gradient of those rows, because each z row enters the
// global loss as an anchor, a positive and a negative and the full loss is
// differentiated here. Back-propagated through this rank's encoder, it
// gives this rank's share of every weight gradient; the shares SUM (not
// average) to the single-process gradient.
func (m *SimCLR) StepGathered(x *tensor.Tensor, tau float32, g Gatherer, counts []int) (float32, error) {
	if g == nil {
		return 0, fmt.Errorf("simclr gathered step: input or communicator is nil")
	}
	return m.stepGathered(x, tau, g, counts, nil)
}

// StepGatheredInto is StepGathered that leaves the (global) loss on the
// device, in out (see StepInto).
func (m *SimCLR) StepGatheredInto(x *tensor.Tensor, tau float32, g Gatherer, counts []int, out LossSlot) error {
	if g == nil {
		return fmt.Errorf("simclr gathered step: input or communicator is nil")
	}
	_, err := m.stepGathered(x, tau, g, counts, &out)
	return err
}

// StepGatheredDevice is StepGathered with the projections gathered and
// their gradients taken back on the device through dc (the same values
// and layout as StepGathered; see DeviceComm).
func (m *SimCLR) StepGatheredDevice(x *tensor.Tensor, tau float32, dc DeviceComm, counts []int) (float32, error) {
	if dc == nil {
		return 0, fmt.Errorf("simclr gathered step: input or communicator is nil")
	}
	return m.stepGathered(x, tau, dc, counts, nil)
}

// StepGatheredDeviceInto is StepGatheredDevice that leaves the loss on the
// device, in out (see StepInto).
func (m *SimCLR) StepGatheredDeviceInto(x *tensor.Tensor, tau float32, dc DeviceComm, counts []int, out LossSlot) error {
	if dc == nil {
		return fmt.Errorf("simclr gathered step: input or communicator is nil")
	}
	_, err := m.stepGathered(x, tau, dc, counts, &out)
	return err
}

// stepGathered is StepGathered over a host Gatherer or a DeviceComm.
func (m *SimCLR) stepGathered(x *tensor.Tensor, tau float32, g interface {
	Rank() int
	Size() int
}, counts []int, out *LossSlot) (float32, error) {
	if x == nil {
		return 0, fmt.Errorf("simclr gathered step: input or communicator is nil")
	}
	rank, size := g.Rank(), g.Size()
	if len(counts) != size {
		return 0, fmt.Errorf("simclr gathered step: %d counts for %d ranks", len(counts), size)
	}
	n, total, off := counts[rank], 0, 0
	for r, c := range counts {
		if c < 1 {
			return 0, fmt.Errorf("simclr gathered step: rank %d has %d images of the global batch %v; every rank needs at least one (use a global batch of at least %d images)", r, c, counts, size)
		}
		if r < rank {
			off += c
		}
		total += c
	}
	if len(x.Shape) != 4 || x.Shape[0] != 2*n {
		return 0, fmt.Errorf("simclr gathered step: input shape %v, want [2x%d C H W] (both views of this rank's %d images stacked)", x.Shape, n, n)
	}
	if total < 2 {
		return 0, fmt.Errorf("simclr gathered step: the global batch has %d image; NT-Xent needs at least 2", total)
	}
	if !(tau > 0) || math.IsInf(float64(tau), 0) {
		return 0, fmt.Errorf("simclr gathered step: temperature %v must be a finite number > 0 (SimCLR uses 0.1-0.5)", tau)
	}
	h, err := m.Encoder.Forward(x, true)
	if err != nil {
		return 0, fmt.Errorf("simclr gathered step: %w", err)
	}
	z, err := m.Projector.Forward(h, true)
	if err != nil {
		return 0, fmt.Errorf("simclr gathered step: %w", err)
	}
	dim := z.Shape[1]
	rows := 2 * total
	zg, err := m.bufs.get("zg", rows, dim)
	if err != nil {
		return 0, err
	}
	vg, onDevice := g.(viewGather)
	hg, _ := g.(Gatherer)
	var local, global []float32
	if onDevice {
		if err := vg.GatherViews(z, zg, counts); err != nil {
			return 0, fmt.Errorf("simclr gathered step: all-gather z: %w", err)
		}
	} else {
		local = make([]float32, 2*n*dim)
		if err := m.b.Download(local, z); err != nil {
			return 0, fmt.Errorf("simclr gathered step: download z: %w", err)
		}
		elems := make([]int, size)
		for r, c := range counts {
			elems[r] = 2 * c * dim
		}
		gathered := make([]float32, 2*total*dim)
		if err := hg.AllGatherV32(local, gathered, elems); err != nil {
			return 0, fmt.Errorf("simclr gathered step: all-gather z: %w", err)
		}
		// Rank blocks [v1 rows; v2 rows] -> global [v1 of every image; v2
		// of every image], the single-process order.
		global = make([]float32, len(gathered))
		src, o := 0, 0
		for _, c := range counts {
			for v := 0; v < 2; v++ {
				copy(global[(v*total+o)*dim:(v*total+o+c)*dim], gathered[src:src+c*dim])
				src += c * dim
			}
			o += c
		}
		if err := m.b.Upload(zg, global); err != nil {
			return 0, fmt.Errorf("simclr gathered step: upload z: %w", err)
		}
	}
	get := func(name string, shape ...int) *tensor.Tensor {
		if err != nil {
			return nil
		}
		var t *tensor.Tensor
		t, err = m.bufs.get(name, shape...)
		return t
	}
	dzg, dz := get("dzg", rows, dim), get("dz", 2*n, dim)
	if err != nil {
		return 0, err
	}
	loss, err := m.ntxent(zg, dzg, tau, out)
	if err != nil {
		return loss, fmt.Errorf("simclr gathered step: %w", err)
	}
	if onDevice {
		if err := vg.LocalViews(dzg, dz, counts); err != nil {
			return 0, fmt.Errorf("simclr gathered step: this rank's rows of dz: %w", err)
		}
	} else {
		if err := m.b.Download(global, dzg); err != nil {
			return 0, fmt.Errorf("simclr gathered step: download dz: %w", err)
		}
		// This rank's rows of the global dz, back in its [v1; v2] order.
		for v := 0; v < 2; v++ {
			copy(local[v*n*dim:(v+1)*n*dim], global[(v*total+off)*dim:(v*total+off+n)*dim])
		}
		if err := m.b.Upload(dz, local); err != nil {
			return 0, fmt.Errorf("simclr gathered step: upload dz: %w", err)
		}
	}
	dh, err := m.Projector.Backward(dz)
	if err != nil {
		return 0, fmt.Errorf("simclr gathered step: %w", err)
	}
	if m.Encoder.gradReady != nil {
		if err := m.Encoder.gradReady(m.Projector.Params()); err != nil {
			return 0, fmt.Errorf("simclr gathered step: %w", err)
		}
	}
	if err := m.Encoder.Backward(dh); err != nil {
		return 0, fmt.Errorf("simclr gathered step: %w", err)
	}
	return loss, nil
}

// AllReduceGrads replaces every parameter gradient with its sum over the
// ranks of r, times scale (1 after StepGathered, whose per-rank gradients
// are shares of the global one; 1/ranks to average per-rank means). All
// gradients travel in one flat buffer; *scratch is reused between calls.
func AllReduceGrads(b backend.Backend, params []*Param, r interface{ AllReduce32([]float32) error }, scale float32, scratch *[]float32) error {
	total := 0
	for _, p := range params {
		total += p.Grad.Numel()
	}
	if cap(*scratch) < total {
		*scratch = make([]float32, total)
	}
	buf := (*scratch)[:total]
	off := 0
	for _, p := range params {
		if err := b.Download(buf[off:off+p.Grad.Numel()], p.Grad); err != nil {
			return fmt.Errorf("gradient all-reduce: %s: %w", p.Name, err)
		}
		off += p.Grad.Numel()
	}
	if err := r.AllReduce32(buf); err != nil {
		return fmt.Errorf("gradient all-reduce: %w", err)
	}
	if scale != 1 {
		for i := range buf {
			buf[i] *= scale
		}
	}
	off = 0
	for _, p := range params {
		if err := b.Upload(p.Grad, buf[off:off+p.Grad.Numel()]); err != nil {
			return fmt.Errorf("gradient all-reduce: %s: %w", p.Name, err)
		}
		off += p.Grad.Numel()
	}
	return nil
}

// SetGradReady makes StepGathered call fn, during the backward pass, with
// each group of parameters as soon as their gradients are final: the
// head's, then every encoder block's from the last, then the stem's. The
// groups partition Params(). A data-parallel job starts their all-reduce
// there while the backward continues (gradient buckets, as in PyTorch's
// DDP). nil turns it off. (Step, which has no head group call, would
// call it for the encoder's groups: set it only around StepGathered.)
func (m *SimCLR) SetGradReady(fn func([]*Param) error) { m.Encoder.gradReady = fn }
