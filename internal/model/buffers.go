package model

import (
	"fmt"

	"simclr/internal/backend"
	"simclr/internal/tensor"
)

// maxRank is the largest tensor rank a buffer cache key holds.
const maxRank = 4

// bufKey identifies one cached buffer: its role (a fixed string chosen at
// construction, so building a key never allocates) and its shape.
type bufKey struct {
	name string
	rank int
	dims [maxRank]int
}

// bufCache hands out backend tensors keyed by role and shape. The first
// request for a (role, shape) allocates; later requests return the same
// tensor, so a training loop with a fixed batch shape allocates nothing after
// its first step.
//
// Gradients of activations (and, with recomputation, the activations a
// block rebuilds in its backward) come from a second part, an arena of
// slabs: a gradient is dead once the layer below has consumed it, so a
// backward pass needs a few buffers at a time rather than one per layer,
// and only one resolution's buffers are live at once, so the slabs are
// shared by every shape. A slab holds as many elements as the largest
// activation (or request) seen, and grad hands out a view of it
// (backend.View) in the requested shape. grad takes a free slab
// (allocating one only when every large enough slab is taken), put hands
// it back once its last reader has run, and resetGrads, at the start of a
// module's backward pass, takes back every slab (the previous pass's
// result included). A pass makes the same requests in the same order every
// step, so it gets the same slabs (in new views) and, after its first
// step, allocates nothing.
type bufCache struct {
	b backend.Backend
	m map[bufKey]*tensor.Tensor
	// bns lists the batch-norm layers built with this cache (SetSyncBN).
	bns []*batchNorm
	// maxAct is the most elements of any buffer get, keep or grad handed
	// out: the size new slabs get, so that one slab fits any activation's
	// gradient.
	maxAct int

	// The arena: every slab (in allocation order), the free ones (taken
	// from the end), and the views handed out with their slabs.
	slabs []*tensor.Tensor
	free  []*tensor.Tensor
	taken map[*tensor.Tensor]*tensor.Tensor

	// kept are the tensors a lean (recomputing) forward keeps for its
	// backward, each freed by drop once the backward has read it, so that
	// the backend can reuse the memory within the step (keep, drop).
	kept map[*tensor.Tensor]bool
}

func newBufCache(b backend.Backend) *bufCache {
	return &bufCache{b: b, m: make(map[bufKey]*tensor.Tensor), taken: make(map[*tensor.Tensor]*tensor.Tensor)}
}

// grad takes an arena buffer of the given shape, for role name (named in
// errors only). Its contents are stale: the op writing it must overwrite
// every element (backend backward ops do). It is the caller's until put or
// resetGrads; it never shares storage with a buffer still taken, so an
// op's output gradient cannot alias its input gradient.
func (c *bufCache) grad(name string, shape ...int) (*tensor.Tensor, error) {
	if _, err := keyOf("", name, shape); err != nil {
		return nil, err
	}
	n := tensor.Shape(shape).Numel()
	var s *tensor.Tensor
	for i := len(c.free) - 1; i >= 0; i-- {
		if c.free[i].Numel() >= n {
			s = c.free[i]
			c.free = append(c.free[:i], c.free[i+1:]...)
			break
		}
	}
	if s == nil {
		c.maxAct = max(c.maxAct, n)
		t, err := c.b.New(c.maxAct)
		if err != nil {
			return nil, fmt.Errorf("allocate %s %v: %w", name, tensor.Shape(shape), err)
		}
		s = t
		c.slabs = append(c.slabs, s)
	}
	// A new view each time: a stale reference to an earlier one (put
	// already) can then neither be put again nor pass for this one.
	v, err := c.b.View(s, shape...)
	if err != nil {
		return nil, fmt.Errorf("view %s %v: %w", name, tensor.Shape(shape), err)
	}
	c.taken[v] = s
	return v, nil
}

// gradLike is grad with the shape of t.
func (c *bufCache) gradLike(name string, t *tensor.Tensor) (*tensor.Tensor, error) {
	return c.grad(name, t.Shape...)
}

// put hands an arena buffer back: its last reader has been issued (ops
// run in order on the backend's stream, so a later writer of the slab runs
// after it). A tensor that is not taken from the arena (a caller's
// gradient, a cached activation, or nil) is left alone.
func (c *bufCache) put(t *tensor.Tensor) {
	s, ok := c.taken[t]
	if !ok {
		return
	}
	delete(c.taken, t)
	c.b.Free(t) // the view (its slab stays)
	c.free = append(c.free, s)
}

// resetGrads makes every slab free again, in allocation order: the start
// of a module's backward pass, whose previous result (still taken) is
// then out of date.
func (c *bufCache) resetGrads() {
	for v := range c.taken {
		c.b.Free(v)
	}
	clear(c.taken)
	c.free = append(c.free[:0], c.slabs...)
}

// keep allocates a tensor for role name that lives from a lean forward to
// the point of its backward where it is dead; drop frees it.
func (c *bufCache) keep(name string, shape ...int) (*tensor.Tensor, error) {
	t, err := c.b.New(shape...)
	if err != nil {
		return nil, fmt.Errorf("allocate %s %v: %w", name, tensor.Shape(shape), err)
	}
	c.maxAct = max(c.maxAct, t.Numel())
	if c.kept == nil {
		c.kept = make(map[*tensor.Tensor]bool)
	}
	c.kept[t] = true
	return t, nil
}

// drop frees a tensor from keep; any other tensor (or nil) is left alone.
func (c *bufCache) drop(t *tensor.Tensor) {
	if c.kept[t] {
		delete(c.kept, t)
		c.b.Free(t)
	}
}

// gradsTaken reports how many gradient buffers are handed out.
func (c *bufCache) gradsTaken() int { return len(c.taken) }

// gradBuffers reports how many slabs the arena holds.
func (c *bufCache) gradBuffers() int { return len(c.slabs) }

// keyOf is the cache key of role (empty for the gradient pool, keyed by
// shape alone) and shape; name is the buffer named in the error.
func keyOf(role, name string, shape []int) (bufKey, error) {
	if len(shape) > maxRank {
		return bufKey{}, fmt.Errorf("buffer %s: rank %d is more than %d", name, len(shape), maxRank)
	}
	k := bufKey{name: role, rank: len(shape)}
	copy(k.dims[:], shape)
	return k, nil
}

// get returns the buffer for role name with the given shape.
func (c *bufCache) get(name string, shape ...int) (*tensor.Tensor, error) {
	k, err := keyOf(name, name, shape)
	if err != nil {
		return nil, err
	}
	if t, ok := c.m[k]; ok {
		return t, nil
	}
	c.maxAct = max(c.maxAct, tensor.Shape(shape).Numel())
	dims := append([]int(nil), shape...)
	t, err := c.b.New(dims...)
	if err != nil {
		return nil, fmt.Errorf("allocate %s %v: %w", name, tensor.Shape(dims), err)
	}
	c.m[k] = t
	return t, nil
}

// like returns the buffer for role name with the same shape as t.
func (c *bufCache) like(name string, t *tensor.Tensor) (*tensor.Tensor, error) {
	return c.get(name, t.Shape...)
}

// release frees every cached buffer, the gradient pool's too.
func (c *bufCache) release() {
	for k, t := range c.m {
		c.b.Free(t)
		delete(c.m, k)
	}
	for v := range c.taken {
		c.b.Free(v)
	}
	for _, s := range c.slabs {
		c.b.Free(s)
	}
	c.slabs, c.free, c.maxAct = nil, c.free[:0], 0
	clear(c.taken)
	for t := range c.kept {
		c.b.Free(t)
	}
	clear(c.kept)
}

// len reports how many buffers are cached, the gradient pool's included.
func (c *bufCache) len() int { return len(c.m) + c.gradBuffers() }
