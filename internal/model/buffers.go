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
type bufCache struct {
	b backend.Backend
	m map[bufKey]*tensor.Tensor
	// bns lists the batch-norm layers built with this cache (SetSyncBN).
	bns []*batchNorm
}

func newBufCache(b backend.Backend) *bufCache {
	return &bufCache{b: b, m: make(map[bufKey]*tensor.Tensor)}
}

// get returns the buffer for role name with the given shape.
func (c *bufCache) get(name string, shape ...int) (*tensor.Tensor, error) {
	if len(shape) > maxRank {
		return nil, fmt.Errorf("buffer %s: rank %d is more than %d", name, len(shape), maxRank)
	}
	k := bufKey{name: name, rank: len(shape)}
	copy(k.dims[:], shape)
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

// release frees every cached buffer.
func (c *bufCache) release() {
	for k, t := range c.m {
		c.b.Free(t)
		delete(c.m, k)
	}
}

// len reports how many buffers are cached.
func (c *bufCache) len() int { return len(c.m) }
