package model

import (
	"testing"

	"simclr/internal/tensor"
)

// TestGradientPool: the pool hands out distinct buffers while they are
// taken, reuses a buffer once it is put back (last put, first reused),
// keeps shapes apart, ignores tensors that are not its own, takes every
// buffer back on resetGrads and frees them on release.
func TestGradientPool(t *testing.T) {
	cb := &countingBackend{Backend: newBackend(t)}
	c := newBufCache(cb)
	take := func(shape ...int) *tensor.Tensor {
		t.Helper()
		g, err := c.grad("test/dx", shape...)
		if err != nil {
			t.Fatal(err)
		}
		if !g.Shape.Equal(tensor.Shape(shape)) {
			t.Fatalf("grad %v: got shape %v", shape, g.Shape)
		}
		return g
	}
	a, b := take(2, 3), take(2, 3)
	if a == b {
		t.Fatal("two taken buffers of one shape are the same tensor")
	}
	d := take(3, 2) // same size, other shape: its own buffer
	if d == a || d == b || cb.news != 3 {
		t.Fatalf("shape [3 2] reused a [2 3] buffer or allocation count %d, want 3", cb.news)
	}
	c.put(a)
	c.put(a) // a second put of a free buffer changes nothing
	if e := take(2, 3); e != a || cb.news != 3 {
		t.Fatalf("after put(a), grad returned %p (a %p), %d allocations, want a and 3", e, a, cb.news)
	}
	if f := take(2, 3); f == a || f == b || cb.news != 4 {
		t.Fatalf("a third taken [2 3] buffer aliases a taken one or was not allocated (%d allocations)", cb.news)
	}
	foreign := randomInput(t, cb, 1, 2, 3)
	c.put(foreign)
	c.put(nil)
	if c.gradsTaken() != 4 || c.gradBuffers() != 4 {
		t.Fatalf("taken %d, buffers %d, want 4 and 4 (a foreign tensor must not enter the pool)", c.gradsTaken(), c.gradBuffers())
	}
	c.resetGrads()
	if c.gradsTaken() != 0 {
		t.Fatalf("after resetGrads %d buffers are taken, want 0", c.gradsTaken())
	}
	news := cb.news
	seen := map[*tensor.Tensor]bool{}
	for range 3 {
		seen[take(2, 3)] = true
	}
	take(3, 2)
	if len(seen) != 3 || cb.news != news {
		t.Fatalf("after resetGrads: %d distinct buffers, %d new allocations; want 3 and 0", len(seen), cb.news-news)
	}
	if _, err := c.grad("test/dx", 1, 2, 3, 4, 5); err == nil {
		t.Fatal("a rank-5 gradient buffer was accepted")
	}
	if c.len() != 4 {
		t.Fatalf("len %d, want the 4 pool buffers", c.len())
	}
	c.release()
	if c.len() != 0 || c.gradsTaken() != 0 || c.gradBuffers() != 0 {
		t.Fatalf("after release: len %d, taken %d, buffers %d", c.len(), c.gradsTaken(), c.gradBuffers())
	}
	if g := take(2, 3); g == a || g == b || cb.news != news+1 {
		t.Fatal("after release the pool handed out a freed buffer")
	}
}
