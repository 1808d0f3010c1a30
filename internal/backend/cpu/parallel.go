package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// parallelFor calls fn(lo, hi) for the fixed chunks [0,grain), [grain,2*grain),
// ... of [0, n), spread over up to GOMAXPROCS goroutines. The chunk
// boundaries depend only on n and grain, never on the number of workers, so
// any computation whose outputs are owned by a single chunk is bit-identical
// whatever GOMAXPROCS is. fn must not write outside its chunk's outputs.
func parallelFor(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	chunks := (n + grain - 1) / grain
	workers := runtime.GOMAXPROCS(0)
	if workers > chunks {
		workers = chunks
	}
	if workers <= 1 {
		for lo := 0; lo < n; lo += grain {
			fn(lo, min(lo+grain, n))
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	wg.Add(workers)
	for w := 0; w < workers; w++ {
		go func() {
			defer wg.Done()
			for {
				c := int(next.Add(1)) - 1
				if c >= chunks {
					return
				}
				lo := c * grain
				fn(lo, min(lo+grain, n))
			}
		}()
	}
	wg.Wait()
}

// reduceChunk is the fixed number of elements summed by one partial of a
// parallel reduction; partials are then added in chunk order.
const reduceChunk = 1 << 14

// parallelSum computes sum over [0,n) of part(lo,hi) where part returns the
// float64 sum of its range. The range is cut into fixed chunks of
// reduceChunk elements whose partial sums are added in chunk order, so the
// result does not depend on GOMAXPROCS.
func parallelSum(n int, part func(lo, hi int) float64) float64 {
	if n <= 0 {
		return 0
	}
	chunks := (n + reduceChunk - 1) / reduceChunk
	if chunks == 1 {
		return part(0, n)
	}
	partials := make([]float64, chunks)
	parallelFor(chunks, 1, func(c0, c1 int) {
		for c := c0; c < c1; c++ {
			lo := c * reduceChunk
			partials[c] = part(lo, min(lo+reduceChunk, n))
		}
	})
	var s float64
	for _, p := range partials {
		s += p
	}
	return s
}

// grainFor returns a chunk size (in items) so that each chunk does about
// target units of work when one item costs cost units. It depends only on
// its arguments, keeping chunking independent of the number of workers.
func grainFor(cost, target int) int {
	if cost < 1 {
		cost = 1
	}
	g := target / cost
	if g < 1 {
		g = 1
	}
	return g
}

// elemGrain is the chunk size of elementwise loops (about 64 KiB of float32).
const elemGrain = 1 << 14

// innerThreads is the goroutine budget of each gemm call made inside a
// parallelFor over items independent products: one when the outer loop
// alone keeps every worker busy (splitting a small product only adds
// repacking and hand-off), GOMAXPROCS otherwise. gemm results do not depend
// on it.
func innerThreads(items int) int {
	if items >= runtime.GOMAXPROCS(0) {
		return 1
	}
	return 0
}
