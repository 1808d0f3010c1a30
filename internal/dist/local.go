package dist

import (
	"fmt"
	"sync"
)

// NewLocal returns the communicators of size ranks that live in this
// process as goroutines (one Comm per goroutine), exchanging through shared
// memory. Sums add the ranks' values in rank order, so every rank gets the
// same bits. It serves tests and benchmarks of the data-parallel code paths
// without a launcher; Abort panics.
func NewLocal(size int) []Comm {
	h := &localHub{size: size, slots: make([]any, size)}
	h.cond = sync.NewCond(&h.mu)
	out := make([]Comm, size)
	for r := range out {
		out[r] = &localComm{hub: h, rank: r}
	}
	return out
}

type localHub struct {
	size    int
	mu      sync.Mutex
	cond    *sync.Cond
	arrived int
	gen     int
	slots   []any
}

// barrier waits until every rank has called it.
func (h *localHub) barrier() {
	h.mu.Lock()
	g := h.gen
	h.arrived++
	if h.arrived == h.size {
		h.arrived = 0
		h.gen++
		h.cond.Broadcast()
	} else {
		for g == h.gen {
			h.cond.Wait()
		}
	}
	h.mu.Unlock()
}

// exchange publishes v in this rank's slot, runs read once every rank has
// published, and returns once every rank has read.
func (h *localHub) exchange(rank int, v any, read func(slots []any)) {
	h.slots[rank] = v
	h.barrier()
	read(h.slots)
	h.barrier()
}

type localComm struct {
	hub  *localHub
	rank int
}

func (c *localComm) Rank() int    { return c.rank }
func (c *localComm) Size() int    { return c.hub.size }
func (c *localComm) Kind() string { return "local" }
func (c *localComm) Barrier() error {
	c.hub.barrier()
	return nil
}
func (c *localComm) Abort(code int) {
	panic(fmt.Sprintf("local communicator: rank %d aborted with code %d", c.rank, code))
}
func (c *localComm) Close() error { return nil }

func allReduce[T float32 | float64](c *localComm, buf []T) error {
	out := make([]T, len(buf))
	var err error
	c.hub.exchange(c.rank, buf, func(slots []any) {
		for r, s := range slots {
			v := s.([]T)
			if len(v) != len(buf) {
				err = fmt.Errorf("all-reduce: rank %d has %d values, rank %d has %d", r, len(v), c.rank, len(buf))
				return
			}
			for i, x := range v {
				out[i] += x
			}
		}
	})
	copy(buf, out)
	return err
}

func (c *localComm) AllReduce32(buf []float32) error { return allReduce(c, buf) }
func (c *localComm) AllReduce64(buf []float64) error { return allReduce(c, buf) }

func allGather[T float32 | float64](c *localComm, send, recv []T) error {
	if len(recv) != len(send)*c.hub.size {
		return fmt.Errorf("all-gather: recv has %d values, want %d x %d ranks", len(recv), len(send), c.hub.size)
	}
	c.hub.exchange(c.rank, send, func(slots []any) {
		for r, s := range slots {
			copy(recv[r*len(send):(r+1)*len(send)], s.([]T))
		}
	})
	return nil
}

func (c *localComm) AllGather32(send, recv []float32) error { return allGather(c, send, recv) }
func (c *localComm) AllGather64(send, recv []float64) error { return allGather(c, send, recv) }

func (c *localComm) AllGatherV32(send, recv []float32, counts []int) error {
	if err := CheckCounts(c, len(send), len(recv), counts); err != nil {
		return err
	}
	c.hub.exchange(c.rank, send, func(slots []any) {
		off := 0
		for r, s := range slots {
			copy(recv[off:off+counts[r]], s.([]float32))
			off += counts[r]
		}
	})
	return nil
}

func broadcast[T float32 | float64](c *localComm, buf []T, root int) error {
	if root < 0 || root >= c.hub.size {
		return fmt.Errorf("broadcast: root %d outside [0, %d)", root, c.hub.size)
	}
	c.hub.exchange(c.rank, buf, func(slots []any) {
		if c.rank != root {
			copy(buf, slots[root].([]T))
		}
	})
	return nil
}

func (c *localComm) Broadcast32(buf []float32, root int) error { return broadcast(c, buf, root) }
func (c *localComm) Broadcast64(buf []float64, root int) error { return broadcast(c, buf, root) }
