package cpu

import (
	"fmt"
	"math"

	"simclr/internal/backend"
	"simclr/internal/tensor"
)

// ntxentGeom validates the inputs of the NT-Xent ops and returns M = 2N.
func ntxentGeom(op string, s *Tensor, tau float32) (int, error) {
	if err := checkRank(op, "s", s, 2, "[2N,2N]"); err != nil {
		return 0, err
	}
	m := s.Shape[0]
	if err := tensor.CheckShape(op, "s (must be square)", s.Shape, tensor.Shape{m, m}); err != nil {
		return 0, err
	}
	if m < 2 || m%2 != 0 {
		return 0, fmt.Errorf("%s: s %v must be [2N,2N] with N >= 1 (two views per example)", op, s.Shape)
	}
	if !(tau > 0) || !backend.Finite32(tau) {
		return 0, fmt.Errorf("%s: temperature %g must be positive and finite (SimCLR uses 0.05..0.5)", op, tau)
	}
	if err := checkFinite(op, "s", s.Host, m); err != nil {
		return 0, err
	}
	return m, nil
}

// checkFinite returns an error naming the first NaN or infinite element of
// a row-major matrix with the given row length.
func checkFinite(op, name string, v []float32, cols int) error {
	for i, x := range v {
		if !backend.Finite32(x) {
			return fmt.Errorf("%s: %s[%d,%d] is %g; the inputs diverged (lower the learning rate)", op, name, i/cols, i%cols, x)
		}
	}
	return nil
}

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
	const op = "nt-xent forward"
	m, err := ntxentGeom(op, s, tau)
	if err != nil {
		return 0, err
	}
	invTau := 1 / float64(tau)
	rowLoss := make([]float64, m)
	sv := s.Host
	parallelFor(m, grainFor(m, elemGrain/4), func(lo, hi int) {
		logits := make([]float64, m)
		for i := lo; i < hi; i++ {
			mx, sum, pos := ntxentRow(logits, sv[i*m:(i+1)*m], i, m, invTau)
			rowLoss[i] = mx + math.Log(sum) - logits[pos]
		}
	})
	var total float64
	for _, l := range rowLoss {
		total += l
	}
	return float32(total / float64(m)), nil
}

// NTXentBackward writes ds [2N,2N], the gradient of the mean NT-Xent loss:
// ds_ij = (softmax_ij - [j == pos(i)]) / (tau*2N) for j != i, ds_ii = 0.
func (b *Backend) NTXentBackward(s *Tensor, tau float32, ds *Tensor) error {
	const op = "nt-xent backward"
	m, err := ntxentGeom(op, s, tau)
	if err != nil {
		return err
	}
	if err := checkShape(op, "ds", ds, s.Shape); err != nil {
		return err
	}
	invTau := 1 / float64(tau)
	scale := invTau / float64(m)
	sv, dv := s.Host, ds.Host
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
	return nil
}

// ceGeom validates logits [N,K] and labels for softmax cross-entropy.
func ceGeom(op string, logits *Tensor, labels []int32) (n, k int, err error) {
	if err := checkRank(op, "logits", logits, 2, "[N,K]"); err != nil {
		return 0, 0, err
	}
	if n, k, err = backend.CheckLabels(op, logits.Shape, labels); err != nil {
		return 0, 0, err
	}
	if err := checkFinite(op, "logits", logits.Host, k); err != nil {
		return 0, 0, err
	}
	return n, k, nil
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
	const op = "softmax cross-entropy forward"
	n, k, err := ceGeom(op, logits, labels)
	if err != nil {
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
	const op = "softmax cross-entropy backward"
	n, k, err := ceGeom(op, logits, labels)
	if err != nil {
		return err
	}
	if err := checkShape(op, "dlogits", dlogits, logits.Shape); err != nil {
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
