//go:build cuda || cudaemu

package cuda

// SetSplitKChunk sets the conv filter gradient's pixels per split-K slice
// (0: the default splitKChunk), so that tests reach several slices, and
// slices that do not start on a 32-pixel K tile, with small shapes.
func SetSplitKChunk(b *Backend, n int) { b.splitChunk.Store(int32(n)) }

// TCFilterSplits is tcFilterSplits.
var TCFilterSplits = tcFilterSplits
