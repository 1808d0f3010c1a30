//go:build cuda || cudaemu

package cuda

import (
	"fmt"
	"testing"
)

// TestBNLaunchGeometry pins the chunking and unit width of the shapes the
// parity tests use to reach the paths of kernels/batchnorm.cu: several
// chunks per channel with float4 units (C = 1) and with scalar units (a
// row of 441 values, and [N,C] input), a chunk whose threads take an
// unrolled trip of four units and a tail, and every chunk covering the
// channel exactly once.
func TestBNLaunchGeometry(t *testing.T) {
	for _, tc := range []struct {
		n, c, s   int
		aligned   bool
		w, chunks int
		unrolled  bool // some thread takes an unrolled trip of four units
		tail      bool // some thread takes a count of units not a multiple of 4
	}{
		{9, 1, 1024, true, 4, 2, true, true},
		{9, 1, 1024, false, 1, 5, true, true}, // a misaligned tensor falls back to scalar units
		{5, 2, 441, true, 1, 2, true, true},
		{2500, 3, 1, true, 1, 2, true, true},
		{1024, 64, 1024, true, 4, 64, true, false}, // ResNet-18's first stage at 512 pairs: 4096 blocks
		{1024, 512, 16, true, 4, 2, true, false},
		{4, 3, 25, true, 1, 1, false, true},
	} {
		t.Run(fmt.Sprintf("%dx%dx%d", tc.n, tc.c, tc.s), func(t *testing.T) {
			dev := uintptr(4096)
			if !tc.aligned {
				dev += 4
			}
			x := &Tensor{Dev: dev}
			w := bnWidth(tc.s, x, nil)
			u := tc.n * tc.s / w
			chunk, chunks := bnChunks(u, tc.c)
			if w != tc.w || chunks != tc.chunks {
				t.Fatalf("width %d, %d chunks; want %d, %d", w, chunks, tc.w, tc.chunks)
			}
			if (chunks-1)*chunk >= u || chunks*chunk < u {
				t.Errorf("%d chunks of %d units do not cover %d units exactly once", chunks, chunk, u)
			}
			perThread := func(lo, hi, tid int) int { return max(0, (hi-lo-tid+blockThreads-1)/blockThreads) }
			unrolled, tail := false, false
			for k := range chunks {
				lo, hi := k*chunk, min((k+1)*chunk, u)
				for tid := range blockThreads {
					p := perThread(lo, hi, tid)
					unrolled = unrolled || p >= 4
					tail = tail || p%4 != 0
				}
			}
			if unrolled != tc.unrolled || tail != tc.tail {
				t.Errorf("unrolled trips %v, tail %v; want %v, %v", unrolled, tail, tc.unrolled, tc.tail)
			}
		})
	}
}
