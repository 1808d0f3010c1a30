//go:build cuda || cudaemu

package cuda

import (
	"fmt"
	"math"
)

// Launch geometry shared with the kernels (see kernels/*.cu headers).
const (
	blockThreads = 256     // every kernel's block size
	gemmTile     = 64      // gemm_tile.cuh BM = BN
	maxGridX     = 65535   // grid-stride kernels never launch more blocks
	maxGridYZ    = 65535   // CUDA limit for grid.y and grid.z
	rowsPerWarpK = 8       // warp-per-row kernels: rows per 256-thread block
	reduceChunk  = 8192    // elements per block in sumsq/dot partials
	maxPartials  = 1024    // at most this many partial sums
	splitKChunk  = 1 << 14 // conv filter gradient: K elements per split
	maxSplitK    = 16      // at most this many split-K slices
	maxElements  = 1<<31 - 1<<26
)

// args packs kernel arguments as 8-byte slots, the layout both drivers pass
// to the kernel: pointers and ints as 64-bit integers (an int parameter
// reads the low 4 bytes), float32 in the low 32 bits.
type args []uint64

func (a args) ptr(t *Tensor) args { return append(a, uint64(t.Dev)) }

// optPtr packs t's pointer, or a null pointer when t is nil.
func (a args) optPtr(t *Tensor) args {
	if t == nil {
		return append(a, 0)
	}
	return a.ptr(t)
}

func (a args) raw(p uintptr) args { return append(a, uint64(p)) }
func (a args) i(v int) args       { return append(a, uint64(int64(v))) }
func (a args) f(v float32) args   { return append(a, uint64(math.Float32bits(v))) }
func (a args) flag(v bool) args   { return a.i(map[bool]int{false: 0, true: 1}[v]) }
func ceilDiv(a, b int) int        { return (a + b - 1) / b }
func elemGrid(n int) dim3         { return dim3{max(1, min(ceilDiv(n, blockThreads), maxGridX)), 1, 1} }
func block1D() dim3               { return dim3{blockThreads, 1, 1} }
func warpRowsGrid(rows int) dim3  { return dim3{max(1, ceilDiv(rows, rowsPerWarpK)), 1, 1} }

// gemmGrid is the grid of a gemm_tile.cuh kernel computing an m x n result.
func gemmGrid(op string, m, n, splits int) (dim3, error) {
	g := dim3{max(1, ceilDiv(n, gemmTile)), max(1, ceilDiv(m, gemmTile)), splits}
	if g.y > maxGridYZ || g.z > maxGridYZ {
		return g, fmt.Errorf("%s: %d x %d result needs grid %v, beyond CUDA's grid.y limit; use a smaller batch", op, m, n, g)
	}
	return g, nil
}

// partialGrid splits n elements into fixed chunks for the sumsq/dot
// kernels: the chunk size depends only on n.
func partialGrid(n int) (blocks, chunk int) {
	chunk = max(reduceChunk, ceilDiv(n, maxPartials))
	return max(1, ceilDiv(n, chunk)), chunk
}
