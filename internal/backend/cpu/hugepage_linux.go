//go:build linux

package cpu

import (
	"runtime"
	"syscall"
	"unsafe"
)

// hugePageSize is the size of an x86-64 / arm64 transparent huge page.
const hugePageSize = 2 << 20

// madvHugePage is MADV_HUGEPAGE (the same value on every Linux
// architecture; package syscall names it only on some).
const madvHugePage = 14

// adviseHugePages asks the kernel to back a freshly allocated buf, before
// anything touches it, with transparent huge pages (madvise MADV_HUGEPAGE
// over buf rounded out to whole 2 MiB pages). The Go runtime does not ask
// for them, so under the kernel's usual "madvise" THP mode every 4 KiB page
// of a new tensor costs one page fault on first touch; on the virtual
// machine measured in docs/benchmarks.md (CPU speed ladder, part 5) a fault
// cost 25–45 µs, which made the first training step of the Fashion-MNIST
// model (1.1 GB of buffers) take 6–15 s against well under 1 s for later
// steps. Rounding out means the advice also covers the neighbouring heap
// memory in buf's first and last huge page: those may then be faulted in
// as one huge page too (the advice is a flag on the address range; it
// changes no content and Go keeps managing that memory). Buffers below
// minBytes are left alone. The advice is only a hint: errors (a kernel
// without THP) are ignored. The address is passed as an integer, so no Go
// pointer outside buf is formed.
func adviseHugePages(buf []float32, minBytes int) {
	n := len(buf) * 4
	if n == 0 || n < minBytes {
		return
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	start := p &^ (hugePageSize - 1)
	end := (p + uintptr(n) + hugePageSize - 1) &^ (hugePageSize - 1)
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, start, end-start, madvHugePage)
	runtime.KeepAlive(buf)
}
