package cpu

import (
	"math"

	"simclr/internal/backend"
)

// ntxentRow returns row i's max logit, the sum of exp(logit - max) over
// j != i, and the positive's index; logits are s_ij/tau in float64.
func ntxentRow(row []float64, sRow []float32, i, m int, invTau float64) (mx, sum float64, pos int) {
	mx = math.Inf(-1)
	for j, v := range sRow {
		l := float64(v) * invTau
		row[j] = l
		if j != i && l > mx {
			mx = l
		}
	}
	for j, l := range row {
		if j != i {
			sum += math.Exp(l - mx)
		}
	}
	return mx, sum, (i + m/2) % m
}

// NTXentForward returns the NT-Xent loss of s [2N,2N]: the mean over the
// 2N rows of -log softmax(s_i/tau)[pos(i)], where pos(i) = (i+N) mod 2N and
// the diagonal is excluded. Computed in float64 with a stable
// log-sum-exp; per-row losses are added in row order.
func (b *Backend) NTXentForward(s *Tensor, tau float32) (float32, error) {
	const op = backend.OpNTXentForward
	if err := checkHost(op, "s", s); err != nil {
		return 0, err
	}
	m, err := backend.CheckNTXentForward(s.Shape, tau)
	if err != nil {
		return 0, err
	}
	if err := backend.FirstNonFinite(op, "s", s.Host, m); err != nil {
		return 0, err
	}
	return ntxentMean(s.Host, m, tau), nil
}

// NTXentForwardInto writes NTXentForward's loss into losses[slot] (NaN
// when s holds a NaN or infinity; see backend.Backend).
func (b *Backend) NTXentForwardInto(s *Tensor, tau float32, losses *Tensor, slot int) error {
	const op = backend.OpNTXentForwardInto
	if err := checkHost(op, "s losses", s, losses); err != nil {
		return err
	}
	m, err := backend.CheckNTXentForwardInto(s.Shape, tau, losses.Shape, slot)
	if err != nil {
		return err
	}
	loss := float32(math.NaN())
	if backend.FirstNonFinite(op, "s", s.Host, m) == nil {
		loss = ntxentMean(s.Host, m, tau)
	}
	losses.Host[slot] = loss
	return nil
}

// NTXentForwardBackwardInto writes NTXentForwardInto's loss into
// losses[slot] and NTXentBackward's gradient into ds; a NaN or infinity in
// s makes the loss and every element of ds NaN (see backend.Backend).
func (b *Backend) NTXentForwardBackwardInto(s *Tensor, tau float32, ds, losses *Tensor, slot int) error {
	const op = backend.OpNTXentForwardBackwardInto
	if err := checkHost(op, "s ds losses", s, ds, losses); err != nil {
		return err
	}
	m, err := backend.CheckNTXentForwardBackwardInto(s.Shape, tau, ds.Shape, losses.Shape, slot)
	if err != nil {
		return err
	}
	if backend.FirstNonFinite(op, "s", s.Host, m) != nil {
		losses.Host[slot] = float32(math.NaN())
		for i := range ds.Host {
			ds.Host[i] = float32(math.NaN())
		}
		return nil
	}
	losses.Host[slot] = ntxentMean(s.Host, m, tau)
	ntxentGrad(s.Host, ds.Host, m, tau)
	return nil
}

// ntxentMean is the NT-Xent loss of the finite matrix sv [m,m].
func ntxentMean(sv []float32, m int, tau float32) float32 {
	invTau := 1 / float64(tau)
	rowLoss := make([]float64, m)
	parallelFor(m, grainFor(m, elemGrain/4), func(lo, hi int) {
		logits := make([]float64, m)
		for i := lo; i < hi; i++ {
			mx, sum, pos := ntxentRow(logits, sv[i*m:(i+1)*m], i, m, invTau)
			rowLoss[i] = mx + math.Log(sum) - logits[pos]
		}
	})
	return meanOf(rowLoss)
}

// meanOf adds the row losses in row order and divides by their count, the
// order the cuda backend's mean_rows_f64 kernel keeps.
func meanOf(rowLoss []float64) float32 {
	var total float64
	for _, l := range rowLoss {
		total += l
	}
	return float32(total / float64(len(rowLoss)))
}

// NTXentBackward writes ds [2N,2N], the gradient of the mean NT-Xent loss:
// ds_ij = (softmax_ij - [j == pos(i)]) / (tau*2N) for j != i, ds_ii = 0.
func (b *Backend) NTXentBackward(s *Tensor, tau float32, ds *Tensor) error {
	const op = backend.OpNTXentBackward
	if err := checkHost(op, "s ds", s, ds); err != nil {
		return err
	}
	m, err := backend.CheckNTXentBackward(s.Shape, tau, ds.Shape)
	if err != nil {
		return err
	}
	if err := backend.FirstNonFinite(op, "s", s.Host, m); err != nil {
		return err
	}
	ntxentGrad(s.Host, ds.Host, m, tau)
	return nil
}

// ntxentGrad writes dv, NTXentBackward's gradient of the finite matrix sv
// [m,m].
func ntxentGrad(sv, dv []float32, m int, tau float32) {
	invTau := 1 / float64(tau)
	scale := invTau / float64(m)
	parallelFor(m, grainFor(m, elemGrain/4), func(lo, hi int) {
		logits := make([]float64, m)
		for i := lo; i < hi; i++ {
			mx, sum, pos := ntxentRow(logits, sv[i*m:(i+1)*m], i, m, invTau)
			inv := 1 / sum
			out := dv[i*m : (i+1)*m]
			for j, l := range logits {
				g := math.Exp(l-mx) * inv
				if j == pos {
					g--
				}
				out[j] = float32(g * scale)
			}
			out[i] = 0
		}
	})
}

// rowLSE returns the max and log-sum-exp of a row (float64).
func rowLSE(row []float32) (mx, lse float64) {
	mx = math.Inf(-1)
	for _, v := range row {
		mx = math.Max(mx, float64(v))
	}
	var sum float64
	for _, v := range row {
		sum += math.Exp(float64(v) - mx)
	}
	return mx, mx + math.Log(sum)
}

// SoftmaxCrossEntropyForward returns the mean over rows of
// logsumexp(logits[i]) - logits[i, labels[i]].
func (b *Backend) SoftmaxCrossEntropyForward(logits *Tensor, labels []int32) (float32, error) {
	const op = backend.OpSoftmaxCrossEntropyForward
	if err := checkHost(op, "logits", logits); err != nil {
		return 0, err
	}
	n, k, err := backend.CheckSoftmaxCrossEntropyForward(logits.Shape, labels)
	if err != nil {
		return 0, err
	}
	if err := backend.FirstNonFinite(op, "logits", logits.Host, k); err != nil {
		return 0, err
	}
	lv := logits.Host
	rowLoss := make([]float64, n)
	parallelFor(n, grainFor(k, elemGrain/4), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := lv[i*k : (i+1)*k]
			_, lse := rowLSE(row)
			rowLoss[i] = lse - float64(row[labels[i]])
		}
	})
	var total float64
	for _, l := range rowLoss {
		total += l
	}
	return float32(total / float64(n)), nil
}

// SoftmaxCrossEntropyBackward writes dlogits = (softmax(logits) - onehot)/N.
func (b *Backend) SoftmaxCrossEntropyBackward(logits *Tensor, labels []int32, dlogits *Tensor) error {
	const op = backend.OpSoftmaxCrossEntropyBackward
	if err := checkHost(op, "logits dlogits", logits, dlogits); err != nil {
		return err
	}
	n, k, err := backend.CheckSoftmaxCrossEntropyBackward(logits.Shape, labels, dlogits.Shape)
	if err != nil {
		return err
	}
	if err := backend.FirstNonFinite(op, "logits", logits.Host, k); err != nil {
		return err
	}
	lv, dv := logits.Host, dlogits.Host
	invN := 1 / float64(n)
	parallelFor(n, grainFor(k, elemGrain/4), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := lv[i*k : (i+1)*k]
			_, lse := rowLSE(row)
			out := dv[i*k : (i+1)*k]
			out = out[:len(row)]
			for j, v := range row {
				out[j] = float32(math.Exp(float64(v)-lse) * invN)
			}
			out[labels[i]] = float32((math.Exp(float64(row[labels[i]])-lse) - 1) * invN)
		}
	})
	return nil
}
