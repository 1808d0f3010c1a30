package cpu

import "sync"

// maxPooledPerSize bounds how many free buffers of one size are kept.
const maxPooledPerSize = 32

// hugePageMinBytes is the size from which a newly allocated pool buffer is
// advised to use transparent huge pages (adviseHugePages).
const hugePageMinBytes = 1 << 20

// scratchPool keeps freed float32 buffers keyed by length so that steady
// state training reuses im2col and partial-sum buffers instead of
// allocating them on every call. It is safe for concurrent use.
type scratchPool struct {
	mu   sync.Mutex
	free map[int][][]float32
}

// get returns a buffer of length n. Its contents are undefined.
func (p *scratchPool) get(n int) []float32 {
	if buf, ok := p.take(n); ok {
		return buf
	}
	return newPoolBuffer(n)
}

// getZeroed returns a buffer of length n filled with zeros. Only a reused
// buffer is cleared: new memory is zero already, and clearing it would
// touch (page-fault) all of it once more before its first real use.
func (p *scratchPool) getZeroed(n int) []float32 {
	if buf, ok := p.take(n); ok {
		clear(buf)
		return buf
	}
	return newPoolBuffer(n)
}

// take pops a pooled buffer of length n, if there is one.
func (p *scratchPool) take(n int) ([]float32, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if list := p.free[n]; len(list) > 0 {
		buf := list[len(list)-1]
		p.free[n] = list[:len(list)-1]
		return buf, true
	}
	return nil, false
}

// newPoolBuffer allocates a zeroed buffer of length n, advised to use
// huge pages when large.
func newPoolBuffer(n int) []float32 {
	buf := make([]float32, n)
	adviseHugePages(buf, hugePageMinBytes)
	return buf
}

// put hands buf back for reuse; the caller must not touch it afterwards.
func (p *scratchPool) put(buf []float32) {
	if cap(buf) == 0 {
		return
	}
	buf = buf[:cap(buf)]
	p.mu.Lock()
	if p.free == nil {
		p.free = make(map[int][][]float32)
	}
	if len(p.free[len(buf)]) < maxPooledPerSize {
		p.free[len(buf)] = append(p.free[len(buf)], buf)
	}
	p.mu.Unlock()
}

// reset drops every pooled buffer.
func (p *scratchPool) reset() {
	p.mu.Lock()
	p.free = nil
	p.mu.Unlock()
}
