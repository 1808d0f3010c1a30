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
// Gradients of activations come from a second part, a pool of buffers
// shared by shape: a gradient is dead once the layer below has consumed it,
// so a backward pass needs a few buffers of each shape at a time rather than
// one per layer. grad takes a buffer of a shape out of the pool (allocating
// one only when every buffer of that shape is taken), put hands it back
// once its last reader has run, and resetGrads, at the start of a module's
// backward pass, takes back every buffer (the previous pass's result
// included). A pass makes the same requests in the same order every step,
// so it gets the same buffers and, after its first step, allocates nothing.
type bufCache struct {
	b backend.Backend
	m map[bufKey]*tensor.Tensor
	// bns lists the batch-norm layers built with this cache (SetSyncBN).
	bns []*batchNorm

	// The gradient pool: every buffer of a shape (in allocation order),
	// the ones free now (taken from the end), and the ones handed out.
	pool  map[bufKey][]*tensor.Tensor
	free  map[bufKey][]*tensor.Tensor
	taken map[*tensor.Tensor]bufKey
}

func newBufCache(b backend.Backend) *bufCache {
	return &bufCache{b: b, m: make(map[bufKey]*tensor.Tensor),
		pool: make(map[bufKey][]*tensor.Tensor), free: make(map[bufKey][]*tensor.Tensor),
		taken: make(map[*tensor.Tensor]bufKey)}
}

// grad takes a gradient buffer of the given shape out of the pool, for role
// name (named in errors only). Its contents are stale: the op writing it
// must overwrite every element (backend backward ops do). It is the
// caller's until put or resetGrads; it is never the same tensor as a buffer
// still taken, so an op's output gradient cannot alias its input gradient.
func (c *bufCache) grad(name string, shape ...int) (*tensor.Tensor, error) {
	k, err := keyOf("", name, shape)
	if err != nil {
		return nil, err
	}
	if f := c.free[k]; len(f) > 0 {
		t := f[len(f)-1]
		c.free[k] = f[:len(f)-1]
		c.taken[t] = k
		return t, nil
	}
	dims := append([]int(nil), shape...)
	t, err := c.b.New(dims...)
	if err != nil {
		return nil, fmt.Errorf("allocate %s %v: %w", name, tensor.Shape(dims), err)
	}
	c.pool[k] = append(c.pool[k], t)
	c.taken[t] = k
	return t, nil
}

// gradLike is grad with the shape of t.
func (c *bufCache) gradLike(name string, t *tensor.Tensor) (*tensor.Tensor, error) {
	return c.grad(name, t.Shape...)
}

// put hands a gradient buffer back to the pool: its last reader has been
// issued (ops run in order on the backend's stream, so a later writer of
// the buffer runs after it). A tensor that is not taken from this pool (a
// caller's gradient, or nil) is left alone.
func (c *bufCache) put(t *tensor.Tensor) {
	k, ok := c.taken[t]
	if !ok {
		return
	}
	delete(c.taken, t)
	c.free[k] = append(c.free[k], t)
}

// resetGrads makes every pool buffer free again, in allocation order: the
// start of a module's backward pass, whose previous result (still taken)
// is then out of date.
func (c *bufCache) resetGrads() {
	clear(c.taken)
	for k, all := range c.pool {
		c.free[k] = append(c.free[k][:0], all...)
	}
}

// gradsTaken reports how many gradient buffers are handed out.
func (c *bufCache) gradsTaken() int { return len(c.taken) }

// gradBuffers reports how many gradient buffers the pool holds.
func (c *bufCache) gradBuffers() int {
	n := 0
	for _, all := range c.pool {
		n += len(all)
	}
	return n
}

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
	for k, all := range c.pool {
		for _, t := range all {
			c.b.Free(t)
		}
		delete(c.pool, k)
		delete(c.free, k)
	}
	clear(c.taken)
}

// len reports how many buffers are cached, the gradient pool's included.
func (c *bufCache) len() int { return len(c.m) + c.gradBuffers() }
