package cpu

import (
	"slices"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/gemm"
)

// TestGemmKernelsBitIdentical: the AVX-512 and AVX2 GEMM kernels sum every
// element in the same order, so every op, the convolutions on all their
// paths (im2col, shifted, strided, wide and narrow channel counts)
// included, gives the same bits on both. Skipped on a CPU (or build) with
// fewer than two assembly kinds.
func TestGemmKernelsBitIdentical(t *testing.T) {
	var kinds []string
	for _, k := range gemm.Kernels() {
		if k != "go" { // the portable kernel rounds differently (fixed per machine)
			kinds = append(kinds, k)
		}
	}
	if len(kinds) < 2 {
		t.Skipf("only %v available", gemm.Kernels())
	}
	prev := gemm.Kernel()
	defer gemm.SetKernel(prev)
	var ref [][]uint32
	for _, k := range kinds {
		if _, err := gemm.SetKernel(k); err != nil {
			t.Fatal(err)
		}
		out := append(runReductions(t), runConvs(t)...)
		if ref == nil {
			ref = out
			continue
		}
		for i := range ref {
			if !slices.Equal(ref[i], out[i]) {
				t.Errorf("output %d differs between gemm kernels %s and %s", i, kinds[0], k)
			}
		}
	}
}

// runConvs runs forward, backward-data and backward-filter convolutions at
// shapes that reach every GEMM tile (16, 32 and 48 output channels; 3x3
// stride 1 and 2, 1x1) and returns the raw bits of the results.
func runConvs(t *testing.T) [][]uint32 {
	b := New()
	var out [][]uint32
	for i, c := range []struct{ n, cin, cout, h, k, stride int }{
		{3, 16, 16, 28, 3, 1}, {2, 16, 32, 14, 3, 1}, {2, 32, 48, 7, 3, 1},
		{2, 16, 32, 28, 3, 2}, {2, 16, 32, 28, 1, 2}, {2, 64, 64, 4, 3, 1},
	} {
		p := backend.ConvParams{Stride: c.stride, Pad: c.k / 2}
		ho := backend.ConvOutSize(c.h, c.k, c.stride, c.k/2)
		seed := uint64(20 + 3*i)
		x := randT(t, b, seed, 1, c.n, c.cin, c.h, c.h)
		w := randT(t, b, seed+1, 1, c.cout, c.cin, c.k, c.k)
		dy := randT(t, b, seed+2, 1, c.n, c.cout, ho, ho)
		y := newT(t, b, nil, c.n, c.cout, ho, ho)
		dx, dw := newT(t, b, nil, c.n, c.cin, c.h, c.h), newT(t, b, nil, c.cout, c.cin, c.k, c.k)
		must(t, b.Conv2DForward(x, w, y, p))
		must(t, b.Conv2DBackwardData(dy, w, dx, p))
		must(t, b.Conv2DBackwardFilter(x, dy, dw, p))
		out = append(out, bits(y.Host), bits(dx.Host), bits(dw.Host))
	}
	return out
}
