//go:build cuda || cudaemu

package cuda

import (
	"fmt"
	"math"
	"unsafe"

	"simclr/internal/backend"
)

// rowLosses runs a fused per-row loss kernel and returns the row losses.
// A NaN row loss marks a row with a non-finite input; the error then names
// the first such element, found by downloading t.
func (b *Backend) rowLosses(op, kernel string, rows int, t *Tensor, name string, build func(rowLoss uintptr) args) ([]float64, error) {
	buf, err := b.scratch(int64(rows) * 8)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer buf.release()
	if err := b.launch(op, kernel, dim3{rows, 1, 1}, block1D(), build(buf.ptr), t.Shape); err != nil {
		return nil, err
	}
	loss, err := b.downloadF64(buf.ptr, rows)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	for _, l := range loss {
		if math.IsNaN(l) {
			return nil, b.nonFiniteError(op, name, t)
		}
	}
	return loss, nil
}

// nonFiniteError names the first NaN or infinite element of matrix t.
func (b *Backend) nonFiniteError(op, name string, t *Tensor) error {
	v := make([]float32, t.Numel())
	if err := b.Download(v, t); err != nil {
		return fmt.Errorf("%s: %s holds a NaN or infinity (%v)", op, name, err)
	}
	if err := backend.FirstNonFinite(op, name, v, t.Shape[1]); err != nil {
		return err
	}
	return fmt.Errorf("%s: the loss of %s %v is not finite; the inputs diverged (lower the learning rate)", op, name, t.Shape)
}

// meanOf adds the row losses in row order, like the CPU backend.
func meanOf(v []float64) float32 {
	var total float64
	for _, l := range v {
		total += l
	}
	return float32(total / float64(len(v)))
}

// NTXentForward returns the NT-Xent loss of s [2N,2N] (see
// backend.Backend); one fused block per row computes the row's loss.
func (b *Backend) NTXentForward(s *Tensor, tau float32) (float32, error) {
	const op = backend.OpNTXentForward
	if err := b.checkDev(op, "s", s); err != nil {
		return 0, err
	}
	m, err := backend.CheckNTXentForward(s.Shape, tau)
	if err != nil {
		return 0, err
	}
	loss, err := b.rowLosses(op, "ntxent_rows", m, s, "s", func(rl uintptr) args {
		return args{}.ptr(s).i(m).f(tau).raw(rl).raw(0)
	})
	if err != nil {
		return 0, err
	}
	return meanOf(loss), nil
}

// NTXentForwardInto writes NTXentForward's loss into losses[slot] without
// a host read: the row kernel's losses stay on the device and
// mean_rows_f64 adds them in row order (the order meanOf keeps), so the
// value is bit for bit NTXentForward's; a non-finite s leaves NaN there.
func (b *Backend) NTXentForwardInto(s *Tensor, tau float32, losses *Tensor, slot int) error {
	const op = backend.OpNTXentForwardInto
	if err := b.checkDev(op, "s losses", s, losses); err != nil {
		return err
	}
	m, err := backend.CheckNTXentForwardInto(s.Shape, tau, losses.Shape, slot)
	if err != nil {
		return err
	}
	buf, err := b.scratch(int64(m) * 8)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	// The pool hands buf out again only to work queued after the mean
	// kernel on the same stream.
	defer buf.release()
	if err := b.launch(op, "ntxent_rows", dim3{m, 1, 1}, block1D(), args{}.ptr(s).i(m).f(tau).raw(buf.ptr).raw(0), s.Shape); err != nil {
		return err
	}
	return b.meanInto(op, buf.ptr, m, losses, slot)
}

// NTXentForwardBackwardInto is NTXentForwardInto and NTXentBackward in
// one ntxent_rows launch (row losses into scratch, gradient into ds) and
// mean_rows_f64 into losses[slot]: the same bits as each, no host read. A
// non-finite s leaves NaN in losses[slot] and in ds's rows holding it.
func (b *Backend) NTXentForwardBackwardInto(s *Tensor, tau float32, ds, losses *Tensor, slot int) error {
	const op = backend.OpNTXentForwardBackwardInto
	if err := b.checkDev(op, "s ds losses", s, ds, losses); err != nil {
		return err
	}
	m, err := backend.CheckNTXentForwardBackwardInto(s.Shape, tau, ds.Shape, losses.Shape, slot)
	if err != nil {
		return err
	}
	buf, err := b.scratch(int64(m) * 8)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer buf.release()
	if err := b.launch(op, "ntxent_rows", dim3{m, 1, 1}, block1D(), args{}.ptr(s).i(m).f(tau).raw(buf.ptr).ptr(ds), s.Shape, ds.Shape); err != nil {
		return err
	}
	return b.meanInto(op, buf.ptr, m, losses, slot)
}

// meanInto queues mean_rows_f64: losses[slot] = the mean of the n float64
// row losses at rowLoss, added in row order.
func (b *Backend) meanInto(op string, rowLoss uintptr, n int, losses *Tensor, slot int) error {
	return b.launch(op, "mean_rows_f64", dim3{1, 1, 1}, block1D(), args{}.raw(rowLoss).i(n).ptr(losses).i(slot), losses.Shape)
}

// NTXentBackward writes ds, the gradient of the mean NT-Xent loss.
func (b *Backend) NTXentBackward(s *Tensor, tau float32, ds *Tensor) error {
	const op = backend.OpNTXentBackward
	if err := b.checkDev(op, "s ds", s, ds); err != nil {
		return err
	}
	m, err := backend.CheckNTXentBackward(s.Shape, tau, ds.Shape)
	if err != nil {
		return err
	}
	_, err = b.rowLosses(op, "ntxent_rows", m, s, "s", func(rl uintptr) args {
		return args{}.ptr(s).i(m).f(tau).raw(rl).ptr(ds)
	})
	return err
}

// softmaxCE runs the fused cross-entropy kernel; dlogits may be nil.
func (b *Backend) softmaxCE(op string, logits *Tensor, labels []int32, n, k int, dlogits *Tensor) ([]float64, error) {
	lab, err := b.scratch(int64(n) * 4)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer lab.release()
	if err := b.drv.htod(lab.ptr, unsafe.Pointer(&labels[0]), int64(n)*4); err != nil {
		return nil, fmt.Errorf("%s: upload labels: %w", op, err)
	}
	return b.rowLosses(op, "softmax_ce_rows", n, logits, "logits", func(rl uintptr) args {
		return args{}.ptr(logits).raw(lab.ptr).i(n).i(k).raw(rl).optPtr(dlogits)
	})
}

// SoftmaxCrossEntropyForward returns the mean cross-entropy of logits
// [N,K] against labels.
func (b *Backend) SoftmaxCrossEntropyForward(logits *Tensor, labels []int32) (float32, error) {
	const op = backend.OpSoftmaxCrossEntropyForward
	if err := b.checkDev(op, "logits", logits); err != nil {
		return 0, err
	}
	n, k, err := backend.CheckSoftmaxCrossEntropyForward(logits.Shape, labels)
	if err != nil {
		return 0, err
	}
	loss, err := b.softmaxCE(op, logits, labels, n, k, nil)
	if err != nil {
		return 0, err
	}
	return meanOf(loss), nil
}

// SoftmaxCrossEntropyBackward writes dlogits = (softmax(logits) - onehot)/N.
func (b *Backend) SoftmaxCrossEntropyBackward(logits *Tensor, labels []int32, dlogits *Tensor) error {
	const op = backend.OpSoftmaxCrossEntropyBackward
	if err := b.checkDev(op, "logits dlogits", logits, dlogits); err != nil {
		return err
	}
	n, k, err := backend.CheckSoftmaxCrossEntropyBackward(logits.Shape, labels, dlogits.Shape)
	if err != nil {
		return err
	}
	_, err = b.softmaxCE(op, logits, labels, n, k, dlogits)
	return err
}
