//go:build cuda || cudaemu

package cuda

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"unsafe"

	"simclr/internal/backend"
	"simclr/internal/tensor"
)

// MomentumStep applies one momentum-SGD update to p in place (see
// backend.MomentumOpts); each float op is rounded separately, as the CPU
// backend does.
func (b *Backend) MomentumStep(p, g, buf *Tensor, o backend.MomentumOpts) error {
	const op = backend.OpMomentumStep
	if err := b.checkDev(op, "p g buf", p, g, buf); err != nil {
		return err
	}
	if err := backend.CheckMomentumStep(p.Shape, g.Shape, buf.Shape, o); err != nil {
		return err
	}
	n := p.Numel()
	if n == 0 {
		return nil
	}
	a := args{}.ptr(p).ptr(g).ptr(buf).i(n).f(o.LR).f(o.Momentum).f(o.WeightDecay).f(o.TrustRatio).flag(o.Nesterov).flag(o.FirstStep)
	return b.launch(op, "momentum_step", elemGrid(n), block1D(), a, p.Shape)
}

// AdamWStep applies one AdamW update to p in place (PyTorch semantics,
// see backend.AdamWOpts).
func (b *Backend) AdamWStep(p, g, m, v *Tensor, o backend.AdamWOpts) error {
	const op = backend.OpAdamWStep
	if err := b.checkDev(op, "p g m v", p, g, m, v); err != nil {
		return err
	}
	if err := backend.CheckAdamWStep(p.Shape, g.Shape, m.Shape, v.Shape, o); err != nil {
		return err
	}
	n := p.Numel()
	if n == 0 {
		return nil
	}
	c := adamwConsts(o)
	a := args{}.ptr(p).ptr(g).ptr(m).ptr(v).i(n).f(c.decay).f(o.Beta1).f(o.Beta2).
		f(c.oneMinusB1).f(c.oneMinusB2).f(c.stepSize).f(c.bc2Sqrt).f(o.Eps)
	return b.launch(op, "adamw_step", elemGrid(n), block1D(), a, p.Shape)
}

// larsTable is the device copy of LARSStep's descriptor table and its
// work buffers, kept while the tensor list (pointers, sizes, adapt flags)
// stays the same, so a step uploads nothing.
type larsTable struct {
	key      []uint64 // the host table the device copy holds
	ntensors int
	blocks   int
	desc     uintptr // key on the device
	partial  uintptr // 3 float64 per block
	q        uintptr // 1 float32 per tensor
	rec      uintptr // 4 float64 per tensor
	status   uintptr // 5 float64
}

func (t *larsTable) release(p *memPool) {
	for _, ptr := range []uintptr{t.desc, t.partial, t.q, t.rec, t.status} {
		if ptr != 0 {
			p.put(ptr)
		}
	}
	*t = larsTable{}
}

// larsDesc is the number of int64 words per tensor (LARS_DESC in optim.cu).
const larsDesc = 8

// larsKey builds the host table: larsDesc words per tensor (p, g, buf, n,
// adapt, first block, blocks, chunk), then the tensor of each block.
func larsKey(params, grads, bufs []*Tensor, adapt []bool) (key []uint64, blocks int) {
	return multiTensorKey([][]*Tensor{params, grads, bufs}, adapt)
}

// multiTensorKey builds the host table of a multi-tensor kernel: for tensor
// i the device pointers of cols[0][i], cols[1][i], ..., then its length,
// flags[i], its first block, its number of blocks and the chunk per block
// (tensor i is split as partialGrid splits it); after all tensors, the
// tensor of each block.
func multiTensorKey(cols [][]*Tensor, flags []bool) (key []uint64, blocks int) {
	var owner []uint64
	params := cols[0]
	key = make([]uint64, 0, (len(cols)+5)*len(params))
	for i, p := range params {
		n := p.Numel()
		nb, chunk := 0, reduceChunk
		if n > 0 {
			nb, chunk = partialGrid(n)
		}
		for _, c := range cols {
			key = append(key, uint64(c[i].Dev))
		}
		f := uint64(0)
		if flags[i] {
			f = 1
		}
		key = append(key, uint64(n), f, uint64(len(owner)), uint64(nb), uint64(chunk))
		for range nb {
			owner = append(owner, uint64(i))
		}
	}
	return append(key, owner...), len(owner)
}

// larsTableFor returns the device table for this tensor list, uploading a
// new one only when the list changed.
func (b *Backend) larsTableFor(t *larsTable, params, grads, bufs []*Tensor, adapt []bool) (*larsTable, error) {
	key, blocks := larsKey(params, grads, bufs, adapt)
	return b.tableFor(t, key, blocks, len(params))
}

// tableFor returns t holding key (a descriptor table of nt tensors and
// blocks blocks) on the device, uploading it and sizing the work buffers
// only when t held another key.
func (b *Backend) tableFor(t *larsTable, key []uint64, blocks, nt int) (*larsTable, error) {
	if t.desc != 0 && slices.Equal(t.key, key) {
		return t, nil
	}
	t.release(b.pool)
	get := func(bytes int) (uintptr, error) { return b.pool.get(int64(max(bytes, 8))) }
	var err error
	for _, s := range []struct {
		p     *uintptr
		bytes int
	}{{&t.desc, 8 * len(key)}, {&t.partial, 24 * blocks}, {&t.q, 4 * nt}, {&t.rec, 32 * nt}, {&t.status, 40}} {
		if *s.p, err = get(s.bytes); err != nil {
			t.release(b.pool)
			return nil, err
		}
	}
	if err := b.drv.htod(t.desc, unsafe.Pointer(&key[0]), int64(8*len(key))); err != nil {
		t.release(b.pool)
		return nil, err
	}
	t.key, t.ntensors, t.blocks = key, nt, blocks
	return t, nil
}

// LARSStep applies one LARS update to every tensor (see backend.LARSOpts)
// in three launches: lars_norms_partial (every tensor's ||g||², ||p||² and
// <g,p> per block, split as SumSquares and Dot split them), lars_trust
// (the per-tensor sums in block order and the trust ratios, checked) and
// lars_apply (momentum_step's update, skipped entirely when a check
// failed). The norms and updates are bit-identical to the per-tensor path
// (SumSquares, Dot, backend.LARSTrust, MomentumStep). The only host round
// trip is one 40-byte status read at the end, which reports a non-finite
// norm as a *backend.NonFiniteError; with o.Deferred there is none:
// lars_trust records the failure in the status record and lars_apply
// skips while that holds one.
func (b *Backend) LARSStep(params, grads, bufs []*Tensor, adapt []bool, o backend.LARSOpts) error {
	const op = backend.OpLARSStep
	b.tablesMu.Lock()
	defer b.tablesMu.Unlock()
	if len(grads) != len(params) || len(bufs) != len(params) || len(adapt) != len(params) {
		return backend.CheckLARSStep(shapesOf(params), shapesOf(grads), shapesOf(bufs), len(adapt), o)
	}
	if err := b.checkMultiDev(op, o.Deferred, []string{"params", "grads", "bufs"}, params, grads, bufs); err != nil {
		return err
	}
	if err := backend.CheckLARSStep(shapesOf(params), shapesOf(grads), shapesOf(bufs), len(adapt), o); err != nil {
		return err
	}
	if len(params) == 0 {
		return nil
	}
	t, err := b.larsTableFor(&b.lars, params, grads, bufs, adapt)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	nt := t.ntensors
	total := tensor.Shape{0}
	for _, p := range params {
		total[0] += p.Numel()
	}
	if t.blocks > 0 {
		a := args{}.raw(t.desc).i(nt).raw(t.partial)
		if err := b.launch(op, "lars_norms_partial", dim3{t.blocks, 1, 1}, block1D(), a, total, total); err != nil {
			return err
		}
	}
	sticky, step := stickyOf(o.Deferred)
	a := args{}.raw(t.desc).i(nt).raw(t.partial).f(o.WeightDecay).f(o.TrustCoef).raw(t.q).raw(t.rec).raw(t.status).raw(sticky).i(step)
	if err := b.launch(op, "lars_trust", dim3{1, 1, 1}, block1D(), a, tensor.Shape{nt}); err != nil {
		return err
	}
	if t.blocks > 0 {
		a := args{}.raw(t.desc).i(nt).raw(t.q).raw(t.status).raw(sticky).f(o.LR).f(o.Momentum).f(o.WeightDecay).flag(o.FirstStep)
		if err := b.launch(op, "lars_apply", dim3{t.blocks, 1, 1}, block1D(), a, total, total, total); err != nil {
			return err
		}
	}
	if o.Deferred != nil {
		return nil // the failure, if any, is in the status record
	}
	st, err := b.downloadF64(t.status, 5)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if st[0] >= 0 {
		if e := backend.NonFiniteFromCode(int(st[0]), int(st[1]), st[2], st[3], st[4]); e != nil {
			return e
		}
		return fmt.Errorf("%s: status %v from lars_trust is not a known code", op, st)
	}
	return nil
}

// sumSquaresQueue queues SumSquaresMulti's two launches (the sums land in
// the table's rec) and returns the table; with d, sumsq_multi also records
// the first non-finite sum in d's status record (code 1, gradient).
// b.tablesMu is held.
func (b *Backend) sumSquaresQueue(op string, ts []*Tensor, d *backend.DeferredCheck) (*larsTable, error) {
	t, err := b.larsTableFor(&b.sumsq, ts, ts, ts, make([]bool, len(ts)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	total := tensor.Shape{0}
	for _, x := range ts {
		total[0] += x.Numel()
	}
	if t.blocks > 0 {
		a := args{}.raw(t.desc).i(t.ntensors).raw(t.partial)
		if err := b.launch(op, "lars_norms_partial", dim3{t.blocks, 1, 1}, block1D(), a, total); err != nil {
			return nil, err
		}
	}
	sticky, step := stickyOf(d)
	a := args{}.raw(t.desc).i(t.ntensors).raw(t.partial).raw(t.rec).raw(sticky).i(step)
	if err := b.launch(op, "sumsq_multi", dim3{1, 1, 1}, block1D(), a, tensor.Shape{t.ntensors}); err != nil {
		return nil, err
	}
	return t, nil
}

// stickyOf is the device address of d's status record (0 without d) and
// the step it records.
func stickyOf(d *backend.DeferredCheck) (uintptr, int) {
	if d == nil {
		return 0, 0
	}
	return d.Status.Dev + 4*uintptr(d.At), d.Step
}

// checkMultiDev checks that the i-th tensor of every list (the lists named
// by names, of one length: the caller checked that) and d's status tensor
// live on this backend, naming the failing group ("params[3] grads[3] ...").
func (b *Backend) checkMultiDev(op string, d *backend.DeferredCheck, names []string, lists ...[]*Tensor) error {
	group := make([]*Tensor, len(lists))
	label := make([]string, len(lists))
	for i := range lists[0] {
		for k, l := range lists {
			group[k] = l[i]
			label[k] = fmt.Sprintf("%s[%d]", names[k], i)
		}
		if err := b.checkDev(op, strings.Join(label, " "), group...); err != nil {
			return err
		}
	}
	if d == nil || d.Status == nil {
		return nil // no check, or one Validate rejects
	}
	return b.checkDev(op, "status", d.Status)
}

func shapesOf(ts []*Tensor) []tensor.Shape {
	s := make([]tensor.Shape, len(ts))
	for i, t := range ts {
		s[i] = backend.ShapeOf(t)
	}
	return s
}

// SumSquaresMulti returns SumSquares of every tensor in two launches and
// one host read: lars_norms_partial over a table naming each tensor as p, g
// and buf (the same blocks as SumSquares), then sumsq_multi adds each
// tensor's partials in block order as partialSum does, so each value equals
// SumSquares bit for bit.
func (b *Backend) SumSquaresMulti(ts []*Tensor) ([]float64, error) {
	const op = backend.OpSumSquaresMulti
	b.tablesMu.Lock()
	defer b.tablesMu.Unlock()
	for i, t := range ts {
		if err := b.checkDev(op, fmt.Sprintf("ts[%d]", i), t); err != nil {
			return nil, err
		}
	}
	if len(ts) == 0 {
		return []float64{}, nil
	}
	t, err := b.sumSquaresQueue(op, ts, nil)
	if err != nil {
		return nil, err
	}
	out, err := b.downloadF64(t.rec, t.ntensors)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// MomentumStepMulti applies MomentumStep to every tensor in one launch
// (momentum_multi over a kept descriptor table, word 4 = decay[i]); the
// same arithmetic as momentum_step element for element.
func (b *Backend) MomentumStepMulti(params, grads, bufs []*Tensor, decay []bool, o backend.MomentumOpts) error {
	const op = backend.OpMomentumStepMulti
	b.tablesMu.Lock()
	defer b.tablesMu.Unlock()
	if len(grads) != len(params) || len(bufs) != len(params) || len(decay) != len(params) {
		return backend.CheckMomentumStepMulti(shapesOf(params), shapesOf(grads), shapesOf(bufs), len(decay), o)
	}
	if err := b.checkMultiDev(op, o.Deferred, []string{"params", "grads", "bufs"}, params, grads, bufs); err != nil {
		return err
	}
	if err := backend.CheckMomentumStepMulti(shapesOf(params), shapesOf(grads), shapesOf(bufs), len(decay), o); err != nil {
		return err
	}
	if len(params) == 0 {
		return nil
	}
	if o.Deferred != nil {
		if _, err := b.sumSquaresQueue(op, grads, o.Deferred); err != nil {
			return err
		}
	}
	t, err := b.larsTableFor(&b.mom, params, grads, bufs, decay)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if t.blocks == 0 {
		return nil
	}
	total := tensor.Shape{0}
	for _, p := range params {
		total[0] += p.Numel()
	}
	sticky, _ := stickyOf(o.Deferred)
	a := args{}.raw(t.desc).i(t.ntensors).raw(sticky).f(o.LR).f(o.Momentum).f(o.WeightDecay).f(o.TrustRatio).flag(o.Nesterov).flag(o.FirstStep)
	return b.launch(op, "momentum_multi", dim3{t.blocks, 1, 1}, block1D(), a, total)
}

// adamwDesc is the number of int64 words per tensor in adamw_multi's
// table (ADAMW_DESC in optim.cu).
const adamwDesc = 9

// adamwKey builds adamw_multi's host table: adamwDesc words per tensor
// (p, g, m, v, n, decayed, first block, blocks, chunk), then the tensor of
// each block, split as larsKey splits it.
func adamwKey(params, grads, ms, vs []*Tensor, decay []bool) (key []uint64, blocks int) {
	return multiTensorKey([][]*Tensor{params, grads, ms, vs}, decay)
}

// AdamWStepMulti applies AdamWStep to every tensor in one launch
// (adamw_multi over a kept descriptor table; a decayed tensor gets
// o.WeightDecay, the others 0) and no host round trip; the same arithmetic
// as adamw_step element for element, with the same host-side constants.
func (b *Backend) AdamWStepMulti(params, grads, ms, vs []*Tensor, decay []bool, o backend.AdamWOpts) error {
	const op = backend.OpAdamWStepMulti
	b.tablesMu.Lock()
	defer b.tablesMu.Unlock()
	if len(grads) != len(params) || len(ms) != len(params) || len(vs) != len(params) || len(decay) != len(params) {
		return backend.CheckAdamWStepMulti(shapesOf(params), shapesOf(grads), shapesOf(ms), shapesOf(vs), len(decay), o)
	}
	if err := b.checkMultiDev(op, o.Deferred, []string{"params", "grads", "ms", "vs"}, params, grads, ms, vs); err != nil {
		return err
	}
	if err := backend.CheckAdamWStepMulti(shapesOf(params), shapesOf(grads), shapesOf(ms), shapesOf(vs), len(decay), o); err != nil {
		return err
	}
	if len(params) == 0 {
		return nil
	}
	if o.Deferred != nil {
		if _, err := b.sumSquaresQueue(op, grads, o.Deferred); err != nil {
			return err
		}
	}
	key, blocks := adamwKey(params, grads, ms, vs, decay)
	t, err := b.tableFor(&b.adamw, key, blocks, len(params))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if t.blocks == 0 {
		return nil
	}
	total := tensor.Shape{0}
	for _, p := range params {
		total[0] += p.Numel()
	}
	c := adamwConsts(o)
	sticky, _ := stickyOf(o.Deferred)
	a := args{}.raw(t.desc).i(t.ntensors).raw(sticky).f(c.decay).f(o.Beta1).f(o.Beta2).
		f(c.oneMinusB1).f(c.oneMinusB2).f(c.stepSize).f(c.bc2Sqrt).f(o.Eps)
	return b.launch(op, "adamw_multi", dim3{t.blocks, 1, 1}, block1D(), a, total)
}

// adamwConstants are the float32 constants adamw_step and adamw_multi
// take, computed in float64 on the host as the CPU backend computes them.
type adamwConstants struct{ decay, oneMinusB1, oneMinusB2, stepSize, bc2Sqrt float32 }

func adamwConsts(o backend.AdamWOpts) adamwConstants {
	lr, wd := backend.Widen(o.LR), backend.Widen(o.WeightDecay)
	b1, b2 := backend.Widen(o.Beta1), backend.Widen(o.Beta2)
	return adamwConstants{
		decay:      float32(1 - lr*wd),
		oneMinusB1: float32(1 - b1),
		oneMinusB2: float32(1 - b2),
		stepSize:   float32(lr / (1 - math.Pow(b1, float64(o.Step)))),
		bc2Sqrt:    float32(math.Sqrt(1 - math.Pow(b2, float64(o.Step)))),
	}
}
