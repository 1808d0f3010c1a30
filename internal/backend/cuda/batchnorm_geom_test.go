//go:build cuda || cudaemu

package cuda

import (
	"fmt"
	"math"
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

// TestBNApplyGridStride runs every batch-norm op with the elementwise
// passes' grid capped at 1 and 3 blocks, so each thread walks many units
// and steps its channel with carries (bn_unit_walk), and wants the bits of
// the default grid (one unit per thread at these sizes). Shapes: float4
// units, scalar units, [N,C], and more channels than units per stride.
func TestBNApplyGridStride(t *testing.T) {
	b, err := New("cuda")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	old := bnApplyMaxBlocks
	t.Cleanup(func() { bnApplyMaxBlocks = old })
	for _, shape := range [][]int{{5, 3, 8, 8}, {7, 5, 3, 3}, {300, 7}, {3, 37, 2, 2}, {3, 1, 4, 4}} {
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			c, numel := shape[1], 1
			for _, d := range shape {
				numel *= d
			}
			mk := func(vals []float32, sh ...int) *Tensor {
				x, err := b.New(sh...)
				if err != nil {
					t.Fatal(err)
				}
				if err := b.Upload(x, vals); err != nil {
					t.Fatal(err)
				}
				return x
			}
			vals := func(n, seed int, lo, hi float32) []float32 {
				v := make([]float32, n)
				for i := range v {
					v[i] = lo + (hi-lo)*float32((i*37+seed*11)%97)/96
				}
				return v
			}
			x, dy := mk(vals(numel, 1, -2, 3), shape...), mk(vals(numel, 2, -1, 1), shape...)
			gamma, beta := mk(vals(c, 3, 0.5, 1.5), c), mk(vals(c, 4, -0.2, 0.2), c)
			// run returns every output of the five ops.
			run := func(maxBlocks int) [][]float32 {
				bnApplyMaxBlocks = maxBlocks
				defer func() { bnApplyMaxBlocks = old }()
				y, yr, ye, dx, dxr := mk(make([]float32, numel), shape...), mk(make([]float32, numel), shape...), mk(make([]float32, numel), shape...), mk(make([]float32, numel), shape...), mk(make([]float32, numel), shape...)
				sm, si, rm, rv, dg, db := mk(make([]float32, c), c), mk(make([]float32, c), c), mk(vals(c, 5, -1, 1), c), mk(vals(c, 6, 0.5, 2), c), mk(make([]float32, c), c), mk(make([]float32, c), c)
				steps := []error{
					b.BatchNormForwardTrain(x, gamma, beta, y, sm, si, rm, rv, 0.1, 1e-5),
					b.BatchNormReLUForwardTrain(x, gamma, beta, yr, sm, si, rm, rv, 0.1, 1e-5),
					b.BatchNormForwardEval(x, gamma, beta, rm, rv, ye, 1e-5),
					b.BatchNormBackward(dy, x, gamma, sm, si, dx, dg, db),
					b.BatchNormReLUBackward(dy, yr, x, gamma, sm, si, dxr, dg, db),
				}
				for i, err := range steps {
					if err != nil {
						t.Fatalf("op %d: %v", i, err)
					}
				}
				var out [][]float32
				for _, o := range []*Tensor{y, yr, ye, dx, dxr, dg, db} {
					h := make([]float32, o.Numel())
					if err := b.Download(h, o); err != nil {
						t.Fatal(err)
					}
					out = append(out, h)
				}
				return out
			}
			want := run(old)
			for _, mb := range []int{1, 3} {
				got := run(mb)
				for i := range want {
					for j := range want[i] {
						if math.Float32bits(got[i][j]) != math.Float32bits(want[i][j]) {
							t.Fatalf("grid capped at %d blocks: output %d [%d] = %v, default grid %v", mb, i, j, got[i][j], want[i][j])
						}
					}
				}
			}
		})
	}
}
