package cpu

import (
	"runtime"

	"simclr/internal/gemm"
)

// Shifted convolutions. For a stride-1 convolution whose output is as large
// as its input (2*pad = K-1, e.g. 3x3 with padding 1), copy each image into
// a zero-padded plane of width Wp = W+2*pad and compute the output on the
// padded grid q = oh*Wp + ow. Then the input under tap (kh, kw) of output q
// is padded[q + kh*Wp + kw]: row (ci, kh, kw) of the column matrix is the
// padded plane of ci read from offset kh*Wp + kw. The gemm reads those rows
// in place (gemm.SgemmPackedARowOffsets), so the column matrix, nine times
// the size of the image for a 3x3 kernel, is never written. The price is
// 2*pad wasted output columns per row (ow >= W), dropped when the output is
// copied out, which is why the path is used only where that waste is small.
//
// The products are bit-identical to the im2col path: the same k order, the
// same k-blocks and the same micro-kernel arithmetic.

// maxShiftedWaste is the largest ratio of computed to useful output columns
// (rounded up to whole micro-kernel panels) for which the shifted path is
// used; above it (small 7x7 or 4x4 maps) im2col + gemm wastes less.
const maxShiftedWaste = 2.1

// shiftedConv is the padded-plane layout of one convolution.
type shiftedConv struct {
	pad     int
	hp, wp  int   // padded plane size
	plane   int   // hp*wp
	nq      int   // output-grid length: (H-1)*Wp + W
	rowOffs []int // offset in the padded image of each column-matrix row
}

// convPathMode selects how stride-1 same-size convolutions run.
type convPathMode int

const (
	convAuto    convPathMode = iota // shifted where its waste is small
	convIm2col                      // always im2col + gemm
	convShifted                     // shifted wherever the geometry allows
)

func (m convPathMode) String() string {
	switch m {
	case convAuto:
		return "auto"
	case convIm2col:
		return "im2col"
	case convShifted:
		return "shifted"
	}
	return "unknown"
}

// shifted returns the shifted layout of g, or false when g is not a
// stride-1 same-size convolution, mode is convIm2col, or (convAuto) the
// wasted columns would cost more than im2col saves.
func (g *convGeom) shifted(mode convPathMode) (*shiftedConv, bool) {
	if mode == convIm2col || g.stride != 1 || g.k == 1 || g.ho != g.h || g.wo != g.w || g.h == 0 || g.w == 0 {
		return nil, false
	}
	s := &shiftedConv{pad: g.pad, hp: g.h + 2*g.pad, wp: g.w + 2*g.pad}
	s.plane = s.hp * s.wp
	s.nq = (g.h-1)*s.wp + g.w
	if mode == convAuto && float64((s.nq+15)/16*16) > maxShiftedWaste*float64(g.h*g.w) {
		return nil, false
	}
	s.rowOffs = make([]int, g.colRows)
	for ci := 0; ci < g.cin; ci++ {
		for kh := 0; kh < g.k; kh++ {
			for kw := 0; kw < g.k; kw++ {
				s.rowOffs[(ci*g.k+kh)*g.k+kw] = ci*s.plane + kh*s.wp + kw
			}
		}
	}
	return s, true
}

// padImage copies the planes of img [C,H,W] into the interior of the padded
// planes xp [C,Hp,Wp]; the border of xp must already be zero (it is never
// written).
func (s *shiftedConv) padImage(img, xp []float32, c, h, w int) {
	for ci := 0; ci < c; ci++ {
		src := img[ci*h*w : (ci+1)*h*w]
		dst := xp[ci*s.plane+s.pad*s.wp+s.pad:]
		for r := 0; r < h; r++ {
			copy(dst[r*s.wp:r*s.wp+w], src[r*w:(r+1)*w])
		}
	}
}

// toGrid copies out [C,H,W] onto the output grid grid [C,nq] (row oh of
// channel c at c*nq + oh*Wp). Grid columns ow >= W are not written.
func (s *shiftedConv) toGrid(out, grid []float32, c, h, w int) {
	for ci := 0; ci < c; ci++ {
		src := out[ci*h*w : (ci+1)*h*w]
		dst := grid[ci*s.nq:]
		for r := 0; r < h; r++ {
			copy(dst[r*s.wp:r*s.wp+w], src[r*w:(r+1)*w])
		}
	}
}

// fromGrid copies the valid columns of grid [C,nq] into out [C,H,W].
func (s *shiftedConv) fromGrid(grid, out []float32, c, h, w int) {
	for ci := 0; ci < c; ci++ {
		src := grid[ci*s.nq:]
		dst := out[ci*h*w : (ci+1)*h*w]
		for r := 0; r < h; r++ {
			copy(dst[r*w:(r+1)*w], src[r*s.wp:r*s.wp+w])
		}
	}
}

// convForwardShifted computes ys = conv(xs, pw) image by image on the
// shifted layout s (pw is the packed weight matrix [Cout, Cin*K*K]).
func (b *Backend) convForwardShifted(g *convGeom, s *shiftedConv, pw *gemm.PackedA, xs, ys []float32) {
	inLen, outLen := g.cin*g.h*g.w, g.cout*g.h*g.w
	// A few chunks per worker: each clears its padded buffer once. The
	// images are independent, so the chunking does not affect results.
	grain := max(1, g.n/(4*runtime.GOMAXPROCS(0)))
	parallelFor(g.n, grain, func(lo, hi int) {
		xp := b.scratch.get(g.cin * s.plane)
		grid := b.scratch.get(g.cout * s.nq)
		defer b.scratch.put(xp)
		defer b.scratch.put(grid)
		clear(xp)
		for i := lo; i < hi; i++ {
			s.padImage(xs[i*inLen:(i+1)*inLen], xp, g.cin, g.h, g.w)
			gemm.SgemmPackedARowOffsets(pw, s.nq, 1, xp, s.rowOffs, 0, grid, s.nq)
			s.fromGrid(grid, ys[i*outLen:(i+1)*outLen], g.cout, g.h, g.w)
		}
	})
}

// filterChunkShifted accumulates, into dw [Cout, Cin*K*K], the weight
// gradient of images i0..i1-1 on the shifted layout: dw (+)= dy_grid ·
// colᵀ, with the columns of colᵀ read from the padded image. The first
// image overwrites dw. Grid columns ow >= W of dy are zero, so the wasted
// output positions add nothing.
func (b *Backend) filterChunkShifted(g *convGeom, s *shiftedConv, xs, dys []float32, i0, i1, threads int, dw []float32) {
	inLen, outLen := g.cin*g.h*g.w, g.cout*g.h*g.w
	xp := b.scratch.get(g.cin * s.plane)
	grid := b.scratch.get(g.cout * s.nq)
	defer b.scratch.put(xp)
	defer b.scratch.put(grid)
	clear(xp)
	clear(grid)
	beta := float32(0)
	for i := i0; i < i1; i++ {
		s.padImage(xs[i*inLen:(i+1)*inLen], xp, g.cin, g.h, g.w)
		s.toGrid(dys[i*outLen:(i+1)*outLen], grid, g.cout, g.h, g.w)
		gemm.SgemmColOffsetsB(threads, false, g.cout, g.colRows, s.nq, 1, grid, s.nq, xp, s.rowOffs, beta, dw, g.colRows)
		beta = 1
	}
}
