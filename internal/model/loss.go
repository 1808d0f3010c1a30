package model

import (
	"fmt"
	"math"
	"strings"

	"simclr/internal/tensor"
)

// Values of the loss.fused config key (SimCLR.SetLossFused).
const (
	LossFusedAuto = "auto" // fused when FusedLossFor says so (the default)
	LossFusedOn   = "on"   // always NTXentFusedForward/Backward
	LossFusedOff  = "off"  // always the materialised [2N,2N] similarity matrix
)

// LossFusedModes lists the accepted loss.fused values.
var LossFusedModes = []string{LossFusedAuto, LossFusedOn, LossFusedOff}

// FusedLossMinRowsCPU is the smallest 2N for which "auto" takes the fused
// path on the cpu backend. Measured (docs/benchmarks.md, "Fused NT-Xent"):
// at D = 128 the fused forward+backward is as fast as the materialised one
// at 2N = 64 and 1.1-1.6x faster from 2N = 128 up (it never writes or
// re-reads the 2N x 2N matrices and their symmetrised copy).
const FusedLossMinRowsCPU = 128

// MaterialisedLossMaxBytes is the most that "auto" lets the materialised
// path's two [2N,2N] float32 matrices (s and ds, 8*(2N)^2 bytes) take on
// a device backend. The materialised kernels are the tuned 64x64 GEMM
// tiles and compute each similarity once; the fused kernels recompute the
// similarities in the backward (3 instead of 2 passes of 2N*2N*D
// multiply-adds), so on a GPU the fused path is chosen for memory, not
// speed: 1 GiB keeps the materialised path up to 2N = 11585 (every batch
// of the SimCLR paper, N <= 4096: 512 MiB at N = 4096) and switches beyond,
// where s and ds grow to 2 GiB at N = 8192 and 128 GiB at N = 65536, more
// than the activations of the whole ResNet-50 batch and more than a
// 141 GB H200 can hold with anything else.
const MaterialisedLossMaxBytes = 1 << 30

// FusedLossFor reports whether mode picks the fused NT-Xent for 2N = rows
// on the backend named backendName ("cpu" or a device).
func FusedLossFor(mode, backendName string, rows int) (bool, error) {
	switch mode {
	case LossFusedOn:
		return true, nil
	case LossFusedOff:
		return false, nil
	case LossFusedAuto, "":
		if backendName == "cpu" {
			return rows >= FusedLossMinRowsCPU, nil
		}
		return 8*float64(rows)*float64(rows) > MaterialisedLossMaxBytes, nil
	}
	return false, fmt.Errorf("loss.fused %q: want one of %s", mode, strings.Join(LossFusedModes, ", "))
}

// LossBytes returns the bytes of the loss's own buffers for 2N = rows
// projections of size dim (from the normalised projections to their
// gradient: zn, norms, dzn, and s and ds or the fused path's per-row
// stats and row losses), without the projector's z and dz.
func LossBytes(rows, dim int, fused bool) int64 {
	r, d := int64(rows), int64(dim)
	common := 4 * (2*r*d + r) // zn, dzn, norms
	if fused {
		return common + 4*2*r + 8*r // stats [2N,2], float64 row losses
	}
	return common + 4*2*r*r + 8*r // s, ds, float64 row losses
}

// SetLossFused sets how Step and StepGathered compute NT-Xent: one of
// LossFusedModes. Both paths give the same loss and gradients up to
// float32 rounding; "off" materialises the [2N,2N] similarity matrix and
// its gradient (O(N^2) memory), "on" never does (O(N*D)).
func (m *SimCLR) SetLossFused(mode string) error {
	if _, err := FusedLossFor(mode, "", 2); err != nil {
		return fmt.Errorf("simclr: %w", err)
	}
	m.lossFused = mode
	return nil
}

// LossSlot is where a step leaves its loss on the device: element I of
// T, a [K] tensor of the model's backend (StepInto). The loss is never
// read back by the step; a non-finite loss shows as NaN there, for the
// reader (the training loop) to report.
type LossSlot struct {
	T *tensor.Tensor
	I int
}

// ntxent computes the NT-Xent loss of the projections z [2N,D] (view 1 in
// rows 0..N-1) at temperature tau and writes dz, its gradient w.r.t. z,
// through L2 normalisation and the fused or materialised similarity path.
// With out nil it returns the loss (a host read) and refuses a non-finite
// one before the backward; otherwise it writes the loss into out
// (NTXentFusedForwardInto, or NTXentForwardBackwardInto with the
// gradient; no host read), returns 0 and runs the backward whatever the
// loss (non-finite gradients stop the optimizer).
func (m *SimCLR) ntxent(z, dz *tensor.Tensor, tau float32, out *LossSlot) (float32, error) {
	rows, dim := z.Shape[0], z.Shape[1]
	fused, err := FusedLossFor(m.lossFused, m.b.Name(), rows)
	if err != nil {
		return 0, err
	}
	zn, err := m.bufs.get("zn", rows, dim)
	if err != nil {
		return 0, err
	}
	norms, err := m.bufs.get("norms", rows)
	if err != nil {
		return 0, err
	}
	dzn, err := m.bufs.get("dzn", rows, dim)
	if err != nil {
		return 0, err
	}
	if err := m.b.L2NormalizeForward(z, zn, norms); err != nil {
		return 0, fmt.Errorf("normalise: %w", err)
	}
	var loss float32
	var backward func() error
	if fused {
		stats, err := m.bufs.get("lossStats", rows, 2)
		if err != nil {
			return 0, err
		}
		if out != nil {
			err = m.b.NTXentFusedForwardInto(zn, stats, tau, out.T, out.I)
		} else {
			loss, err = m.b.NTXentFusedForward(zn, stats, tau)
		}
		if err != nil {
			return 0, fmt.Errorf("nt-xent (fused): %w", err)
		}
		backward = func() error {
			if err := m.b.NTXentFusedBackward(zn, stats, tau, dzn); err != nil {
				return fmt.Errorf("nt-xent backward (fused): %w", err)
			}
			return nil
		}
	} else {
		sim, err := m.bufs.get("sim", rows, rows)
		if err != nil {
			return 0, err
		}
		if err := m.b.SimilarityForward(zn, sim); err != nil {
			return 0, fmt.Errorf("similarity: %w", err)
		}
		dsim, err := m.bufs.get("dsim", rows, rows)
		if err != nil {
			return 0, err
		}
		if out != nil {
			// The loss and ds in one pass, with no host read: a
			// non-finite sim shows as NaN in the loss slot and in ds.
			err = m.b.NTXentForwardBackwardInto(sim, tau, dsim, out.T, out.I)
		} else {
			loss, err = m.b.NTXentForward(sim, tau)
		}
		if err != nil {
			return 0, fmt.Errorf("nt-xent: %w", err)
		}
		backward = func() error {
			if out == nil {
				if err := m.b.NTXentBackward(sim, tau, dsim); err != nil {
					return fmt.Errorf("nt-xent backward: %w", err)
				}
			}
			if err := m.b.SimilarityBackward(zn, dsim, dzn); err != nil {
				return fmt.Errorf("similarity backward: %w", err)
			}
			return nil
		}
	}
	if math.IsNaN(float64(loss)) || math.IsInf(float64(loss), 0) {
		return loss, fmt.Errorf("loss is %v; check the input batch for NaN/Inf values, or lower the learning rate if training diverged", loss)
	}
	if err := backward(); err != nil {
		return 0, err
	}
	if err := m.b.L2NormalizeBackward(zn, norms, dzn, dz); err != nil {
		return 0, fmt.Errorf("normalise backward: %w", err)
	}
	return loss, nil
}
