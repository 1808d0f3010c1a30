package train

import (
	"fmt"
	"sync"

	"simclr/internal/backend"
	"simclr/internal/model"
)

// gradBuckets overlaps the gradient all-reduce with the backward pass:
// each group of parameters whose gradients the backward has finished
// (model.SimCLR.SetGradReady) is downloaded into its own host buffer on the
// training goroutine and all-reduced on a goroutine of its own, while the
// backward continues; wait uploads the sums before the optimizer step.
//
// Every collective of the backward goes through one chain, in program
// order: a bucket starts only after the previous one finished, and sync
// BN's all-reduces (AllReduce64 here) wait for every bucket issued before
// them. So each rank calls the same collectives in the same order (MPI
// matches collectives by order; tcp checks it), at most one is in flight
// per rank, and the sums are the same per-element reduce-to-root in rank
// order as one flat all-reduce: bit-identical results.
type gradBuckets struct {
	b    backend.Backend
	comm interface {
		AllReduce32([]float32) error
		AllReduce64([]float64) error
	}
	mu      sync.Mutex
	last    *bucket // the chain's tail
	pending []*bucket
	free    [][]float32 // host buffers of earlier steps, by bucket index
	reduced int         // parameters in the last step's buckets
}

type bucket struct {
	params []*model.Param
	buf    []float32
	done   chan struct{}
	err    error
}

// enqueue chains fn after the last bucket and returns its bucket.
func (g *gradBuckets) enqueue(b *bucket, fn func() error) {
	g.mu.Lock()
	prev := g.last
	g.last = b
	g.mu.Unlock()
	go func() {
		defer close(b.done)
		if prev != nil {
			<-prev.done
			if prev.err != nil {
				b.err = prev.err
				return
			}
		}
		b.err = fn()
	}()
}

// ready is the SetGradReady hook: it starts the all-reduce of params.
func (g *gradBuckets) ready(params []*model.Param) error {
	n := 0
	for _, p := range params {
		n += p.Grad.Numel()
	}
	i := len(g.pending)
	if i == len(g.free) {
		g.free = append(g.free, nil)
	}
	if cap(g.free[i]) < n {
		g.free[i] = make([]float32, n)
	}
	buf := g.free[i][:n]
	off := 0
	for _, p := range params {
		if err := g.b.Download(buf[off:off+p.Grad.Numel()], p.Grad); err != nil {
			return fmt.Errorf("gradient all-reduce: %s: %w", p.Name, err)
		}
		off += p.Grad.Numel()
	}
	b := &bucket{params: params, buf: buf, done: make(chan struct{})}
	g.pending = append(g.pending, b)
	g.enqueue(b, func() error { return g.comm.AllReduce32(buf) })
	return nil
}

// AllReduce64 is sync BN's Reducer during the backward: in the chain.
func (g *gradBuckets) AllReduce64(v []float64) error {
	b := &bucket{done: make(chan struct{})}
	g.enqueue(b, func() error { return g.comm.AllReduce64(v) })
	<-b.done
	return b.err
}

// wait waits for every bucket of the step and uploads the sums; the chain
// is empty afterwards.
func (g *gradBuckets) wait() error {
	var first error
	for _, b := range g.pending {
		<-b.done
		if b.err != nil {
			if first == nil {
				first = fmt.Errorf("gradient all-reduce: %w", b.err)
			}
			continue
		}
		if first != nil {
			continue
		}
		off := 0
		for _, p := range b.params {
			if err := g.b.Upload(p.Grad, b.buf[off:off+p.Grad.Numel()]); err != nil {
				first = fmt.Errorf("gradient all-reduce: %s: %w", p.Name, err)
				break
			}
			off += p.Grad.Numel()
		}
	}
	g.mu.Lock()
	last := g.last
	g.last = nil
	g.mu.Unlock()
	if last != nil {
		<-last.done
	}
	g.reduced = 0
	for _, b := range g.pending {
		g.reduced += len(b.params)
	}
	g.pending = g.pending[:0]
	return first
}

// check verifies that the last step's buckets covered all n parameters
// (a model whose backward skipped a group would otherwise train with
// unsummed gradients on some ranks).
func (g *gradBuckets) check(n int) error {
	if g.reduced != n {
		return fmt.Errorf("gradient all-reduce: the backward's buckets held %d of the model's %d parameters; turn off dist.overlap and report this", g.reduced, n)
	}
	return nil
}
