package model

import (
	"fmt"
	"math"

	"simclr/internal/tensor"
)

// syncBNOnDevice forces the device path of synchronised batch norm on host
// tensors too (tests compare the two paths on the CPU backend).
var syncBNOnDevice = false

// useDevicePath says whether the layer synchronises through backend ops
// and per-channel transfers only (device tensors) rather than on host
// copies of the activations (host tensors, where that is exact and cheap).
func (n *batchNorm) useDevicePath(x *tensor.Tensor) bool {
	return x.Host == nil || syncBNOnDevice
}

// syncForwardDevice is syncForward for a device backend without moving
// activations: the backend's training forward gives this rank's mean and
// 1/std (into scratch, running statistics untouched), from which Chan's
// combination gives the global mean and variance with two all-reduces of
// per-channel values; BatchNormApply then normalises x with the saved
// global mean and invstd (ReLU fused), so y has the bits of the host path
// and of a later recomputation from the same statistics.
func (n *batchNorm) syncForwardDevice(x, y *tensor.Tensor) (*tensor.Tensor, error) {
	b, st := n.b, &n.syncState
	N, C, S := bnDims(x)
	fail := func(err error) (*tensor.Tensor, error) {
		return nil, fmt.Errorf("%s sync batch norm: %w", n.name, err)
	}
	var lm, li, lrm, lrv *tensor.Tensor
	var err error
	for _, p := range []struct {
		t   **tensor.Tensor
		key string
	}{{&lm, "/sync/mean"}, {&li, "/sync/invstd"}, {&lrm, "/sync/rm"}, {&lrv, "/sync/rv"}} {
		if *p.t, err = n.bufs.get(n.name+p.key, C); err != nil {
			return fail(err)
		}
	}
	if err := b.Upload(lrv, constant(C, 1)); err != nil {
		return fail(err)
	}
	if err := b.BatchNormForwardTrain(x, n.gamma.Value, n.beta.Value, y, lm, li, lrm, lrv, 0, bnEps); err != nil {
		return fail(err)
	}
	mean32, inv32 := make([]float32, C), make([]float32, C)
	if err := b.Download(mean32, lm); err != nil {
		return fail(err)
	}
	if err := b.Download(inv32, li); err != nil {
		return fail(err)
	}
	eps := float64(float32(bnEps))
	mr := float64(N * S)
	// The same collectives as the host path (ranks on different backends
	// interoperate): the sums of x and the count, then the sums of
	// (x-mean) and (x-mean)^2, here from each rank's mean and variance.
	red := make([]float64, 2*C+1)
	for c := range C {
		red[c] = mr * float64(mean32[c])
	}
	red[C] = mr
	if err := n.sync.AllReduce64(red[:C+1]); err != nil {
		return fail(fmt.Errorf("sum of means: %w", err))
	}
	m := red[C]
	if m < 2 {
		return nil, fmt.Errorf("%s: training needs more than 1 value per channel over all ranks, got %g; use a larger global batch", n.name, m)
	}
	mean := make([]float64, C)
	for c := range C {
		mean[c] = red[c] / m
		inv := float64(inv32[c])
		localVar := max(1/(inv*inv)-eps, 0)
		d := float64(mean32[c]) - mean[c]
		red[c] = mr * d
		red[C+c] = mr * (localVar + d*d)
	}
	if err := n.sync.AllReduce64(red[:2*C]); err != nil {
		return fail(fmt.Errorf("sum of variances: %w", err))
	}
	st.count = m
	st.mean32, st.invStd32 = grow(st.mean32, C), grow(st.invStd32, C)
	st.var32 = grow(st.var32, C)
	gvar := st.var32
	rm, rv := make([]float32, C), make([]float32, C)
	if err := b.Download(rm, n.runMean); err != nil {
		return fail(err)
	}
	if err := b.Download(rv, n.runVar); err != nil {
		return fail(err)
	}
	const mom = float64(float32(bnMomentum))
	for c := range C {
		dmean := red[c] / m
		mu := mean[c] + dmean
		variance := max(red[C+c]/m-dmean*dmean, 0)
		st.mean32[c] = float32(mu)
		st.invStd32[c] = float32(1 / math.Sqrt(variance+eps))
		gvar[c] = float32(variance)
		rm[c] = float32((1-mom)*float64(rm[c]) + mom*mu)
		rv[c] = float32((1-mom)*float64(rv[c]) + mom*variance*m/(m-1))
	}
	for _, p := range []struct {
		dst *tensor.Tensor
		src []float32
	}{{n.saveMean, st.mean32}, {n.saveInvStd, st.invStd32}, {n.runMean, rm}, {n.runVar, rv}} {
		if err := b.Upload(p.dst, p.src); err != nil {
			return fail(err)
		}
	}
	if err := b.BatchNormApply(x, n.gamma.Value, n.beta.Value, n.saveMean, n.saveInvStd, y, n.relu); err != nil {
		return fail(err)
	}
	st.localCount = mr
	n.numBatches++
	n.x, n.y = x, y
	return y, nil
}

// syncBackwardDevice is syncBackward through backend ops: the backend's
// backward with the saved global statistics gives dgamma and dbeta (this
// rank's sums of dy*xhat and dy, the parameter gradients) and dx for the
// local count; after all-reducing the sums, dx is corrected to the global
// count and sums by adding A + B*xhat per channel (an eval-mode batch-norm
// forward of x with gamma B and beta A):
//
//	A = k*(sdy_local/m - sdy/M), B = k*(dgamma_local/m - dgamma/M),
//	k = gamma*invstd, dgamma = invstd * sum of dy*(x-mean).
//
// dx may be dy only for a layer with the ReLU (the fused backward allows it).
func (n *batchNorm) syncBackwardDevice(dy, dx *tensor.Tensor) (*tensor.Tensor, error) {
	b, st := n.b, &n.syncState
	x := n.x
	_, C, _ := bnDims(x)
	fail := func(err error) (*tensor.Tensor, error) {
		return nil, fmt.Errorf("%s sync batch norm backward: %w", n.name, err)
	}
	if st.count == 0 || st.localCount == 0 {
		return nil, fmt.Errorf("%s: sync batch-norm backward without its forward", n.name)
	}
	var err error
	if n.relu {
		err = b.BatchNormReLUBackward(dy, n.y, x, n.gamma.Value, n.saveMean, n.saveInvStd, dx, n.gamma.Grad, n.beta.Grad)
	} else {
		err = b.BatchNormBackward(dy, x, n.gamma.Value, n.saveMean, n.saveInvStd, dx, n.gamma.Grad, n.beta.Grad)
	}
	if err != nil {
		return fail(err)
	}
	dg, db, gamma := make([]float32, C), make([]float32, C), make([]float32, C)
	for _, p := range []struct {
		dst []float32
		src *tensor.Tensor
	}{{dg, n.gamma.Grad}, {db, n.beta.Grad}, {gamma, n.gamma.Value}} {
		if err := b.Download(p.dst, p.src); err != nil {
			return fail(err)
		}
	}
	// As on the host path: the sums of dy and of dy*(x-mean) = dgamma/invstd.
	red := make([]float64, 2*C)
	for c := range C {
		red[c], red[C+c] = float64(db[c]), float64(dg[c])/float64(st.invStd32[c])
	}
	if err := n.sync.AllReduce64(red); err != nil {
		return fail(fmt.Errorf("sums of dy: %w", err))
	}
	a, bb := make([]float32, C), make([]float32, C)
	m, ml := st.count, st.localCount
	for c := range C {
		inv := float64(st.invStd32[c])
		k := float64(gamma[c]) * inv
		a[c] = float32(k * (float64(db[c])/ml - red[c]/m))
		bb[c] = float32(k * (float64(dg[c])/ml - red[C+c]*inv/m))
	}
	ta, err := n.bufs.get(n.name+"/sync/a", C)
	if err != nil {
		return nil, err
	}
	tb, err := n.bufs.get(n.name+"/sync/b", C)
	if err != nil {
		return nil, err
	}
	gm, err := n.bufs.get(n.name+"/sync/gmean", C)
	if err != nil {
		return nil, err
	}
	gv, err := n.bufs.get(n.name+"/sync/gvar", C)
	if err != nil {
		return nil, err
	}
	// corr is dead after the Add: a pooled buffer like a gradient.
	corr, err := n.bufs.gradLike(n.name+"/sync/corr", x)
	if err != nil {
		return nil, err
	}
	defer n.bufs.put(corr)
	for _, p := range []struct {
		dst *tensor.Tensor
		src []float32
	}{{ta, a}, {tb, bb}, {gm, st.mean32}, {gv, st.var32}} {
		if err := b.Upload(p.dst, p.src); err != nil {
			return fail(err)
		}
	}
	if err := b.BatchNormForwardEval(x, tb, ta, gm, gv, corr, bnEps); err != nil {
		return fail(err)
	}
	if err := b.Add(dx, corr, dx); err != nil {
		return fail(err)
	}
	return dx, nil
}
