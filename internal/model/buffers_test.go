package model

import (
	"testing"

	"simclr/internal/tensor"
)

// TestGradientPool: the arena hands out distinct slabs while they are
// taken, reuses a slab once it is put back (last put, first reused), for
// any shape that fits, ignores tensors that are not its own, takes every
// slab back on resetGrads and frees them on release.
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
	d := take(3, 2) // both slabs taken: a third
	if d == a || d == b || cb.news != 3 {
		t.Fatalf("shape [3 2] aliases a taken [2 3] buffer or allocation count %d, want 3", cb.news)
	}
	if c.taken[d] == c.taken[a] || c.taken[d] == c.taken[b] {
		t.Fatal("a taken view shares its slab with another taken view")
	}
	slabA, slabB := c.taken[a], c.taken[b]
	c.put(a)
	c.put(a) // a second put of a free buffer changes nothing
	e := take(2, 3)
	if c.taken[e] != slabA || e == a || cb.news != 3 {
		t.Fatalf("after put(a), grad returned slab a: %v, a new view: %v, %d allocations; want true, true and 3", c.taken[e] == slabA, e != a, cb.news)
	}
	c.put(a) // a stale view of a's slab, now e's: must not free it
	if c.taken[e] != slabA {
		t.Fatal("a put of a stale view freed the slab taken since")
	}
	if f := take(2, 3); c.taken[f] == slabA || c.taken[f] == slabB || cb.news != 4 {
		t.Fatalf("a third taken [2 3] buffer shares a taken slab or was not allocated (%d allocations)", cb.news)
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

// TestArenaSharesSlabsAcrossShapes: a slab put back serves the next
// request of any shape that fits (a new view of the same storage, no
// allocation); a request larger than every free slab allocates one; new
// slabs are as large as the largest activation get has handed out, so a
// later larger gradient fits them.
func TestArenaSharesSlabsAcrossShapes(t *testing.T) {
	cb := &countingBackend{Backend: newBackend(t)}
	c := newBufCache(cb)
	if _, err := c.get("act/y", 4, 8, 3, 3); err != nil { // 288 elements
		t.Fatal(err)
	}
	news := cb.news
	g, err := c.grad("a/dx", 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if cb.news != news+1 || c.taken[g].Numel() != 288 {
		t.Fatalf("first slab: %d allocations, %d elements; want 1 of 288 (the largest activation)", cb.news-news, c.taken[g].Numel())
	}
	slab0 := c.taken[g]
	c.put(g)
	h, err := c.grad("b/dx", 4, 8, 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	if c.taken[h] != slab0 || cb.news != news+1 || h == g {
		t.Fatalf("a [4 8 3 3] request after put: slab reused %v, %d allocations, view distinct %v; want the same slab, no allocation, a new view",
			c.taken[h] == slab0, cb.news-news, h != g)
	}
	if _, err := c.grad("c/dx", 10, 30); err != nil { // 300 > 288, slab0 taken anyway
		t.Fatal(err)
	}
	c.put(h)
	big, err := c.grad("d/dx", 17, 17) // 289: slab0 is too small, the 300 one is taken
	if err != nil {
		t.Fatal(err)
	}
	if c.taken[big] == slab0 || c.gradBuffers() != 3 {
		t.Fatalf("289 elements: got the 288-element slab or %d slabs, want a third slab", c.gradBuffers())
	}
	// The same request sequence after resetGrads takes the same slabs and views.
	c.resetGrads()
	again := []*tensor.Tensor{}
	for _, shape := range [][]int{{2, 3}, {10, 30}} {
		v, err := c.grad("x", shape...)
		if err != nil {
			t.Fatal(err)
		}
		again = append(again, v)
	}
	if cb.news != news+3 {
		t.Fatalf("after resetGrads: %d new allocations, want none", cb.news-news-3)
	}
	if again[0] == again[1] || c.taken[again[0]] == c.taken[again[1]] {
		t.Fatal("two taken views share a slab")
	}
}
