//go:build cuda || cudaemu

package cuda

import (
	"errors"
	"fmt"
	"sync"
)

// memPool hands out device blocks, rounding each request up to a size
// class and keeping freed blocks for reuse by later requests of the same
// class. All work runs on one stream, so a block freed on the host may be
// handed out again while a queued kernel still reads it: the next user's
// work is queued after it. A driver that is a placer (the emulator) gets
// the requested size of every block handed out, and the block's address
// may then differ from the pointer handed out.
type memPool struct {
	mu     sync.Mutex
	drv    driver
	free   map[int64][]uintptr   // size class -> cached blocks
	live   map[uintptr]liveBlock // handed-out pointer -> its block
	inUse  int64                 // bytes handed out
	cached int64                 // bytes kept in free
	peak   int64                 // largest inUse seen
}

func newMemPool(drv driver) *memPool {
	return &memPool{drv: drv, free: make(map[int64][]uintptr), live: make(map[uintptr]liveBlock)}
}

// liveBlock is a block handed out: the driver's block and its size class.
type liveBlock struct {
	block uintptr
	class int64
}

// sizeClass rounds n bytes up: to 256 bytes below 1 MiB, to 64 KiB below
// 64 MiB, to 2 MiB above, so near-equal requests share blocks.
func sizeClass(n int64) int64 {
	round := func(v, m int64) int64 { return (v + m - 1) / m * m }
	switch {
	case n <= 256:
		return 256
	case n < 1<<20:
		return round(n, 256)
	case n < 64<<20:
		return round(n, 64<<10)
	default:
		return round(n, 2<<20)
	}
}

// get returns a block of at least n bytes. When the device is out of
// memory it returns every cached block to the driver and tries once more.
func (p *memPool) get(n int64) (uintptr, error) {
	if n < 0 {
		return 0, fmt.Errorf("device alloc: negative size %d", n)
	}
	c := sizeClass(n)
	p.mu.Lock()
	defer p.mu.Unlock()
	var ptr uintptr
	if list := p.free[c]; len(list) > 0 {
		ptr = list[len(list)-1]
		p.free[c] = list[:len(list)-1]
		p.cached -= c
	} else {
		var err error
		ptr, err = p.drv.alloc(c)
		if err != nil {
			p.releaseLocked()
			ptr, err = p.drv.alloc(c)
		}
		if err != nil {
			return 0, fmt.Errorf("device alloc of %d bytes (%d in use): %w; use a smaller batch or image size, or train.recompute: true (rebuilds activations in the backward, far less memory)", c, p.inUse, err)
		}
	}
	user := ptr
	if pl, ok := p.drv.(placer); ok {
		u, err := pl.place(ptr, n)
		if err != nil {
			p.free[c] = append(p.free[c], ptr)
			p.cached += c
			return 0, fmt.Errorf("device alloc of %d bytes: %w", n, err)
		}
		user = u
	}
	p.live[user] = liveBlock{ptr, c}
	p.inUse += c
	if p.inUse > p.peak {
		p.peak = p.inUse
	}
	return user, nil
}

// put returns a block to the cache; unknown pointers are ignored.
func (p *memPool) put(ptr uintptr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	lb, ok := p.live[ptr]
	if !ok {
		return
	}
	if pl, ok := p.drv.(placer); ok {
		pl.unplace(ptr)
	}
	c := lb.class
	delete(p.live, ptr)
	p.inUse -= c
	p.cached += c
	p.free[c] = append(p.free[c], lb.block)
}

// releaseLocked frees every cached block.
func (p *memPool) releaseLocked() error {
	var errs []error
	for c, list := range p.free {
		for _, ptr := range list {
			if err := p.drv.free(ptr); err != nil {
				errs = append(errs, err)
			}
		}
		delete(p.free, c)
	}
	p.cached = 0
	return errors.Join(errs...)
}

// close frees every block, cached or handed out.
func (p *memPool) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	err := p.releaseLocked()
	for _, lb := range p.live {
		if e := p.drv.free(lb.block); e != nil && err == nil {
			err = e
		}
	}
	p.live = make(map[uintptr]liveBlock)
	p.inUse = 0
	return err
}

// stats returns the bytes handed out, cached, and the peak handed out.
func (p *memPool) stats() (inUse, cached, peak int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inUse, p.cached, p.peak
}
