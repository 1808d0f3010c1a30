package cpu

import (
	"runtime"

	"simclr/internal/gemm"
	"simclr/internal/vec"
)

// Shifted convolutions. Copy each image into zero-padded planes and compute
// the output on a grid whose rows are as wide as those planes; then the
// input under tap (kh, kw) of every output position is the same plane read
// at a tap-dependent offset, so row (ci, kh, kw) of the column matrix is a
// contiguous run of the padded image and the gemm reads it in place
// (gemm.SgemmColOffsetsA, gemm.SgemmRowOffsetsA): the column matrix, K*K
// times the size of the image, is never written.
//
// Stride 1: one padded plane per channel, Wq = W+2*pad wide; output q =
// oh*Wq + ow reads padded[q + kh*Wq + kw].
//
// Stride s > 1 (polyphase): the padded plane of each channel is split into
// s*s phase planes, phase (a, b) holding padded[s*i+a][s*j+b] at [i][j].
// Tap (kh, kw) of output (oh, ow) is padded[s*oh+kh][s*ow+kw], which is
// phase (kh%s, kw%s) at [oh + kh/s][ow + kw/s]: again one plane read at an
// offset, with output q = oh*Wq + ow and Wq = ceil((W+2*pad)/s).
//
// The price is Wq-Wo wasted output columns per row (ow >= Wo), dropped when
// the output is copied out, which is why the path is used only where that
// waste is small. The products are bit-identical to the im2col path: the
// same values in the same k order, the same k-blocks and the same
// micro-kernel arithmetic.

// maxShiftedWaste is the largest ratio of computed output positions (the
// grid, (Ho-1)*Wq + Wo) to useful ones (Ho*Wo) for which the shifted path
// is used. Measured with the side-by-side conv benchmarks (bench_test.go):
// 28x28 (1.07), 14x14 (1.13) and 7x7 (1.24) maps are faster shifted, 4x4
// (1.38) is faster with im2col.
const maxShiftedWaste = 1.3

// shiftedConv is the padded-plane layout of one convolution.
type shiftedConv struct {
	stride, pad int
	hq, wq      int    // size of one (phase) plane
	planeQ      int    // hq*wq
	phases      int    // stride*stride planes per channel
	usedPhase   []bool // phases some tap reads (1x1 stride-2 kernels read one)
	nq          int    // output-grid length: (Ho-1)*Wq + Wo
	rowOffs     []int  // offset in the padded image of each column-matrix row

	// elementPad makes padImage copy strided images element by element
	// (the loop before padChannelStride2), for the side-by-side benchmark.
	elementPad bool
	// elementDw makes filterChunkShifted transpose the weight gradient
	// element by element (dwFromTLoop), for the side-by-side benchmark.
	elementDw bool
}

// convPathMode selects how convolutions run.
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
	case convWinograd:
		return "winograd"
	}
	return "unknown"
}

// shifted returns the shifted layout of g, or false when mode is
// convIm2col, the convolution is a plain 1x1 stride-1 product (im2col is
// the identity there), or (convAuto) the wasted grid positions would cost
// more than im2col saves or the kernel is 1x1 (strided 1x1 shortcuts: the
// product is so small that the copies decide, and im2col's are cheaper).
func (g *convGeom) shifted(mode convPathMode) (*shiftedConv, bool) {
	if mode == convIm2col || g.identity() || g.ho == 0 || g.wo == 0 || g.cin == 0 {
		return nil, false
	}
	st := g.stride
	s := &shiftedConv{stride: st, pad: g.pad, phases: st * st}
	s.hq = (g.h + 2*g.pad + st - 1) / st
	s.wq = (g.w + 2*g.pad + st - 1) / st
	s.planeQ = s.hq * s.wq
	s.nq = (g.ho-1)*s.wq + g.wo
	if mode == convAuto && (g.k == 1 || float64(s.nq) > maxShiftedWaste*float64(g.ho*g.wo)) {
		return nil, false
	}
	s.usedPhase = make([]bool, s.phases)
	s.rowOffs = make([]int, g.colRows)
	for ci := 0; ci < g.cin; ci++ {
		for kh := 0; kh < g.k; kh++ {
			for kw := 0; kw < g.k; kw++ {
				ph := (kh%st)*st + kw%st
				s.usedPhase[ph] = true
				s.rowOffs[(ci*g.k+kh)*g.k+kw] = (ci*s.phases+ph)*s.planeQ + (kh/st)*s.wq + kw/st
			}
		}
	}
	return s, true
}

// paddedLen is the length of the padded image of c channels, plus room
// for the gemm to read a last tile of output positions whole.
func (s *shiftedConv) paddedLen(c int) int { return c*s.phases*s.planeQ + 8 }

// padImage copies img [C,H,W] into the interior of the padded (phase)
// planes xp; the border of xp must already be zero (it is never written).
func (s *shiftedConv) padImage(img, xp []float32, c, h, w int) {
	st, p := s.stride, s.pad
	for ci := 0; ci < c; ci++ {
		src := img[ci*h*w : (ci+1)*h*w]
		if st == 1 {
			vec.CopyRows(xp[ci*s.planeQ+p*s.wq+p:], s.wq, src, w, h, w)
			continue
		}
		if st == 2 && !s.elementPad {
			s.padChannelStride2(src, xp, ci, h, w)
			continue
		}
		for r := 0; r < h; r++ {
			pr := r + p // padded row
			row := src[r*w : (r+1)*w]
			for b := 0; b < st; b++ {
				ph := (pr%st)*st + b
				if !s.usedPhase[ph] {
					continue
				}
				// Input columns iw with (iw+p) % st == b go to j = (iw+p)/st.
				iw := ((b-p)%st + st) % st
				dst := xp[(ci*s.phases+ph)*s.planeQ+(pr/st)*s.wq:]
				for j := (iw + p) / st; iw < w; iw, j = iw+st, j+1 {
					dst[j] = row[iw]
				}
			}
		}
	}
}

// padChannelStride2 is padImage's copy of channel ci for stride 2: each
// input row is split into its even and odd columns (vec.Deinterleave),
// which go to the two phase planes of its padded row's parity. Column iw
// goes to phase (iw+p)%2 at j = (iw+p)/2: even columns (iw = 2k) to phase
// p%2 at k + p/2, odd ones to phase (p+1)%2 at k + (p+1)/2.
func (s *shiftedConv) padChannelStride2(src, xp []float32, ci, h, w int) {
	p := s.pad
	ne, no := (w+1)/2, w/2
	for r := 0; r < h; r++ {
		pr := r + p // padded row
		base := (pr / 2) * s.wq
		phE, phO := (pr%2)*2+p%2, (pr%2)*2+(p+1)%2
		var even, odd []float32
		if s.usedPhase[phE] {
			even = xp[(ci*4+phE)*s.planeQ+base+p/2:][:ne]
		}
		if s.usedPhase[phO] {
			odd = xp[(ci*4+phO)*s.planeQ+base+(p+1)/2:][:no]
		}
		vec.Deinterleave(even, odd, src[r*w:(r+1)*w])
	}
}

// toGrid copies out [C,Ho,Wo] onto the output grid grid [C,nq] (row oh of
// channel c at c*nq + oh*Wq). Grid columns ow >= Wo are not written.
func (s *shiftedConv) toGrid(out, grid []float32, c, ho, wo int) {
	for ci := 0; ci < c; ci++ {
		vec.CopyRows(grid[ci*s.nq:], s.wq, out[ci*ho*wo:(ci+1)*ho*wo], wo, ho, wo)
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
	inLen, outLen := g.cin*g.h*g.w, g.cout*g.ho*g.wo
	// A few chunks per worker: each clears its padded buffer once. The
	// images are independent, so the chunking does not affect results.
	grain := max(1, g.n/(4*runtime.GOMAXPROCS(0)))
	parallelFor(g.n, grain, func(lo, hi int) {
		xp := b.scratch.get(s.paddedLen(g.cin))
		grid := b.scratch.get((s.nq + gridSlack) * g.cout)
		planes := b.scratch.get(s.nq * g.cout)
		defer b.scratch.put(xp)
		defer b.scratch.put(grid)
		defer b.scratch.put(planes)
		clear(xp)
		for i := lo; i < hi; i++ {
			s.padImage(xs[i*inLen:(i+1)*inLen], xp, g.cin, g.h, g.w)
			gemm.SgemmColOffsetsA(pw, s.nq, 1, xp, s.rowOffs, 0, grid, g.cout)
			s.fromGridT(grid, planes, ys[i*outLen:(i+1)*outLen], g.cout, g.ho, g.wo)
		}
	})
}

// fromGridT copies the valid positions of the position-major grid
// [nq, C] into out [C,Ho,Wo]: the whole grid is transposed into planes
// [C, nq] (scratch of C*nq floats; 8x8 blocks across output rows, no
// masked blocks for rows of fewer than 8 positions), then each channel's
// rows are copied out without the wasted columns, one channel plane of out
// after the other. The grid has gridSlack spare positions at its end so a
// last block of fewer than 8 positions can be read whole. Maps narrower
// than 8 go row by row (fromGridTRows): measured faster there
// (BenchmarkFromGridT: 7x7 with 64 channels 0.55 against 0.93 ms for 512
// images; 14x14 and 28x28 1.2-1.5x faster through the planes).
func (s *shiftedConv) fromGridT(grid, planes, out []float32, c, ho, wo int) {
	if wo < 8 {
		s.fromGridTRows(grid, out, c, ho, wo)
		return
	}
	vec.Transpose(planes, s.nq, grid, c, s.nq, c)
	hw := ho * wo
	for ci := 0; ci < c; ci++ {
		vec.CopyRows(out[ci*hw:], wo, planes[ci*s.nq:], s.wq, ho, wo)
	}
}

// fromGridTRows is fromGridT one output row (Wo positions × C channels)
// transposed at a time, straight into out (the copy before fromGridT; its
// test and benchmark reference).
func (s *shiftedConv) fromGridTRows(grid, out []float32, c, ho, wo int) {
	hw := ho * wo
	for oh := 0; oh < ho; oh++ {
		vec.Transpose(out[oh*wo:], hw, grid[oh*s.wq*c:], c, wo, c)
	}
}

// gridSlack is the number of spare positions after a position-major grid.
const gridSlack = 8

// filterChunkShifted computes, into dw [Cout, Cin*K*K], the weight
// gradient of images i0..i1-1 on the shifted layout. Per image it adds
// col · dy_gridᵀ to dwT [Cin*K*K, Cout], where the rows of col are read in
// place from the padded image (gemm.SgemmRowOffsetsA) and dy_grid is dy on
// the output grid; then dwT is transposed into dw. Grid columns ow >= W of
// dy_grid are zero, so the wasted positions add nothing.
func (b *Backend) filterChunkShifted(g *convGeom, s *shiftedConv, xs, dys []float32, i0, i1 int, dw []float32) {
	inLen, outLen := g.cin*g.h*g.w, g.cout*g.ho*g.wo
	xp := b.scratch.get(s.paddedLen(g.cin))
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
		s.toGrid(dys[i*outLen:(i+1)*outLen], grid, g.cout, g.ho, g.wo)
		gemm.SgemmRowOffsetsA(g.colRows, g.cout, s.nq, 1, xp, s.rowOffs, true, grid, s.nq, beta, dwT, g.cout)
		beta = 1
	}
	if i1 <= i0 {
		clear(dwT)
	}
	s.dwFromT(dw, dwT, g.colRows, g.cout)
}

// dwFromT writes dwT [rows, cout] transposed into dw [cout, rows]: in 8x8
// AVX2 blocks (vec.Transpose), or with the element loop (dwFromTLoop) when
// elementDw is set. A pure copy either way.
func (s *shiftedConv) dwFromT(dw, dwT []float32, rows, cout int) {
	if s.elementDw {
		dwFromTLoop(dw, dwT, rows, cout)
		return
	}
	vec.Transpose(dw, rows, dwT, cout, rows, cout)
}

// dwFromTLoop is dwFromT one element at a time, rows of dwT in order
// (strided writes into dw: the copy before vec.Transpose took it over,
// 2.8% of case (a)'s samples; kept as the reference of its test and
// benchmark).
func dwFromTLoop(dw, dwT []float32, rows, cout int) {
	for r := 0; r < rows; r++ {
		row := dwT[r*cout : (r+1)*cout]
		for co, v := range row {
			dw[co*rows+r] = v
		}
	}
}
