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

// maxShiftedWaste is the largest ratio of computed output positions (the
// grid, (H-1)*Wp + W) to useful ones (H*W) for which the shifted path is
// used. Measured with the side-by-side conv benchmarks (bench_test.go):
// 28x28 (1.07), 14x14 (1.13) and 7x7 (1.24) maps are faster shifted, 4x4
// (1.38) is faster with im2col.
const maxShiftedWaste = 1.3

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
	if mode == convAuto && float64(s.nq) > maxShiftedWaste*float64(g.h*g.w) {
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

// convForwardShifted computes ys = conv(xs, ws) image by image on the
// shifted layout s. The product is computed transposed, position-major:
// out[q, co] = sum_r col[r, q] * w[co, r] with col read in place from the
// padded image (gemm.SgemmColOffsetsA: the six positions of a micro-tile are
// consecutive floats of the padded plane, and the transposed weights are
// one packed operand shared by all images), then transposed into y while
// the wasted grid columns are dropped.
func (b *Backend) convForwardShifted(g *convGeom, s *shiftedConv, ws, xs, ys []float32) {
	buf := b.scratch.get(gemm.PackedBSize(g.colRows, g.cout))
	defer b.scratch.put(buf)
	pw, err := gemm.PackB(buf, true, g.colRows, g.cout, ws, g.colRows)
	if err != nil {
		panic(err) // shapes were checked by the caller
	}
	inLen, outLen := g.cin*g.h*g.w, g.cout*g.h*g.w
	// A few chunks per worker: each clears its padded buffer once. The
	// images are independent, so the chunking does not affect results.
	grain := max(1, g.n/(4*runtime.GOMAXPROCS(0)))
	parallelFor(g.n, grain, func(lo, hi int) {
		xp := b.scratch.get(g.cin * s.plane)
		grid := b.scratch.get(s.nq * g.cout)
		defer b.scratch.put(xp)
		defer b.scratch.put(grid)
		clear(xp)
		for i := lo; i < hi; i++ {
			s.padImage(xs[i*inLen:(i+1)*inLen], xp, g.cin, g.h, g.w)
			gemm.SgemmColOffsetsA(pw, s.nq, 1, xp, s.rowOffs, 0, grid, g.cout)
			s.fromGridT(grid, ys[i*outLen:(i+1)*outLen], g.cout, g.h, g.w)
		}
	})
}

// fromGridT copies the valid positions of the position-major grid
// [nq, C] into out [C,H,W]: for each channel, rows of W values read with
// stride C (the grid of one image stays in cache) and written in order.
func (s *shiftedConv) fromGridT(grid, out []float32, c, h, w int) {
	hw := h * w
	for ci := 0; ci < c; ci++ {
		plane := out[ci*hw : (ci+1)*hw]
		for oh := 0; oh < h; oh++ {
			row := plane[oh*w : (oh+1)*w]
			src := grid[oh*s.wp*c+ci:]
			src = src[:(w-1)*c+1]
			for ow := range row {
				row[ow] = src[ow*c]
			}
		}
	}
}

// filterChunkShifted computes, into dw [Cout, Cin*K*K], the weight
// gradient of images i0..i1-1 on the shifted layout. Per image it adds
// col · dy_gridᵀ to dwT [Cin*K*K, Cout], where the rows of col are read in
// place from the padded image (gemm.SgemmRowOffsetsA) and dy_grid is dy on
// the output grid; then dwT is transposed into dw. Grid columns ow >= W of
// dy_grid are zero, so the wasted positions add nothing.
func (b *Backend) filterChunkShifted(g *convGeom, s *shiftedConv, xs, dys []float32, i0, i1 int, dw []float32) {
	inLen, outLen := g.cin*g.h*g.w, g.cout*g.h*g.w
	xp := b.scratch.get(g.cin * s.plane)
	grid := b.scratch.get(g.cout * s.nq)
	dwT := b.scratch.get(g.colRows * g.cout)
	defer b.scratch.put(xp)
	defer b.scratch.put(grid)
	defer b.scratch.put(dwT)
	clear(xp)
	clear(grid)
	beta := float32(0)
	for i := i0; i < i1; i++ {
		s.padImage(xs[i*inLen:(i+1)*inLen], xp, g.cin, g.h, g.w)
		s.toGrid(dys[i*outLen:(i+1)*outLen], grid, g.cout, g.h, g.w)
		gemm.SgemmRowOffsetsA(g.colRows, g.cout, s.nq, 1, xp, s.rowOffs, true, grid, s.nq, beta, dwT, g.cout)
		beta = 1
	}
	if i1 <= i0 {
		clear(dwT)
	}
	for r := 0; r < g.colRows; r++ {
		row := dwT[r*g.cout : (r+1)*g.cout]
		for co, v := range row {
			dw[co*g.colRows+r] = v
		}
	}
}
