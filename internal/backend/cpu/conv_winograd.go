package cpu

import (
	"simclr/internal/gemm"
)

// Winograd F(2x2, 3x3) convolutions (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2015) for 3x3, stride-1, padding-1
// kernels whose output is as large as the input. The output is cut into
// 2x2 tiles; tile (r, c) reads the 4x4 input patch d at padded rows 2r..2r+3
// and columns 2c..2c+3 and is
//
//	y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
//
// with
//
//	Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//	G  = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]
//	Aᵀ = [1 1 1 0; 0 1 -1 -1]
//
// Summed over input channels, the elementwise product becomes 16 matrix
// products, one per position ξ of the 4x4 transformed tile:
//
//	M_ξ [Cout × tiles] = U_ξ [Cout × Cin] · V_ξ [Cin × tiles]
//
// where U = G g Gᵀ (the weights, transformed and packed once per call) and
// V = Bᵀ d B (the input tiles). That is 16·Cin·Cout multiply-adds per tile
// of four outputs instead of 36·Cin·Cout, bought with the transforms and a
// different rounding (the transformed operands are sums of up to four
// inputs, so the result is not bit-identical to im2col: see
// TestConvWinogradMatchesIm2col for the measured error).
//
// Images are processed in groups of about winoTargetTiles tiles: per group
// the input transform writes V (16 × Cin × tiles), 16 gemm products write M
// and the output transform writes y. Groups are fixed by the shapes and
// every output element is computed by the same sequence of operations
// whatever the number of workers (gemm sums over Cin in a fixed order), so
// results do not depend on GOMAXPROCS. The backward-data pass uses it too:
// convBackwardDataSameWidth runs the forward convolution of dy with the
// flipped, transposed kernel.

// convWinograd forces the Winograd path wherever the geometry allows it
// (tests and benchmarks); convAuto uses it only where winogradWins says so.
const convWinograd = convShifted + 1

// winoTargetTiles is the number of tiles one group of images aims for:
// enough columns for an efficient gemm, V and M (16·C·tiles floats each)
// small enough to stay in L2 for 16-channel layers.
const winoTargetTiles = 196

// winogradApplies reports whether g is a 3x3, stride-1, padding-1
// convolution with output as large as its input.
func (g *convGeom) winogradApplies() bool {
	return g.k == 3 && g.stride == 1 && g.pad == 1 && g.ho == g.h && g.wo == g.w &&
		g.n > 0 && g.cin > 0 && g.cout > 0 && g.h > 0 && g.w > 0
}

// winograd reports whether the forward convolution g runs on the Winograd
// path under mode.
func (g *convGeom) winograd(mode convPathMode) bool {
	switch mode {
	case convWinograd:
		return g.winogradApplies()
	case convAuto:
		return g.winogradApplies() && winogradWins(g)
	}
	return false
}

// winogradWins is the measured choice of convAuto (docs/benchmarks.md,
// "Part 5b: Winograd").
func winogradWins(g *convGeom) bool {
	return false
}

// winoTransformWeights writes U = G g Gᵀ of every (co, ci) kernel of ws
// [Cout, Cin, 3, 3] into u, as 16 matrices [Cout, Cin]: u[(ξ*Cout+co)*Cin+ci].
func winoTransformWeights(ws, u []float32, cout, cin int) {
	plane := cout * cin
	u = u[:16*plane]
	for co := 0; co < cout; co++ {
		for ci := 0; ci < cin; ci++ {
			k := ws[(co*cin+ci)*9 : (co*cin+ci)*9+9]
			// t = G g (4x3), row by row.
			var t [4][3]float32
			for j := 0; j < 3; j++ {
				g0, g1, g2 := k[j], k[3+j], k[6+j]
				t[0][j] = g0
				t[1][j] = 0.5 * (g0 + g1 + g2)
				t[2][j] = 0.5 * (g0 - g1 + g2)
				t[3][j] = g2
			}
			o := co*cin + ci
			for i := 0; i < 4; i++ {
				a, b, c := t[i][0], t[i][1], t[i][2]
				u[(4*i+0)*plane+o] = a
				u[(4*i+1)*plane+o] = 0.5 * (a + b + c)
				u[(4*i+2)*plane+o] = 0.5 * (a - b + c)
				u[(4*i+3)*plane+o] = c
			}
		}
	}
}

// winoGeom holds the tiling of one Winograd convolution.
type winoGeom struct {
	th, tw  int // tile rows and columns per image
	perImg  int // th*tw
	group   int // images per group
	maxCols int // group*perImg: columns of V and M
}

func newWinoGeom(g *convGeom) winoGeom {
	w := winoGeom{th: (g.h + 1) / 2, tw: (g.w + 1) / 2}
	w.perImg = w.th * w.tw
	w.group = max(1, min(g.n, (winoTargetTiles+w.perImg-1)/w.perImg))
	w.maxCols = w.group * w.perImg
	return w
}

// convForwardWinograd computes ys = conv(xs, ws) for a geometry that
// winogradApplies to.
func (b *Backend) convForwardWinograd(g *convGeom, xs, ws, ys []float32) {
	wg := newWinoGeom(g)
	plane := g.cout * g.cin
	u := b.scratch.get(16 * plane)
	defer b.scratch.put(u)
	winoTransformWeights(ws, u, g.cout, g.cin)
	psz := gemm.PackedASize(g.cout, g.cin)
	pbuf := b.scratch.get(16 * psz)
	defer b.scratch.put(pbuf)
	var pu [16]*gemm.PackedA
	for xi := range pu {
		p, err := gemm.PackA(pbuf[xi*psz:(xi+1)*psz], false, g.cout, g.cin, u[xi*plane:(xi+1)*plane], g.cin)
		if err != nil {
			panic(err) // sizes come from PackedASize
		}
		pu[xi] = p
	}
	groups := (g.n + wg.group - 1) / wg.group
	inner := innerThreads(groups)
	inLen, outLen := g.cin*g.h*g.w, g.cout*g.h*g.w
	wp := 2*wg.tw + 2 // padded row width
	parallelFor(groups, 1, func(lo, hi int) {
		v := b.scratch.get(16 * g.cin * wg.maxCols)
		m := b.scratch.get(16 * g.cout * wg.maxCols)
		rows := b.scratch.get(4*wp + g.w)
		defer b.scratch.put(v)
		defer b.scratch.put(m)
		defer b.scratch.put(rows)
		// The transformed rows keep zero borders (padding columns); only
		// columns 1..W are ever written. zero is a row of input zeros.
		clear(rows)
		zero := rows[4*wp : 4*wp+g.w]
		for gi := lo; gi < hi; gi++ {
			i0 := gi * wg.group
			nb := min(wg.group, g.n-i0)
			cols := nb * wg.perImg
			for j := 0; j < nb; j++ {
				img := xs[(i0+j)*inLen : (i0+j+1)*inLen]
				for ci := 0; ci < g.cin; ci++ {
					winoInputTiles(g, &wg, img[ci*g.h*g.w:(ci+1)*g.h*g.w], rows[:4*wp], zero, v, (ci*cols)+j*wg.perImg, g.cin*cols)
				}
			}
			for xi := 0; xi < 16; xi++ {
				gemm.SgemmPackedA(inner, pu[xi], false, cols, 1, v[xi*g.cin*cols:(xi+1)*g.cin*cols], cols, 0, m[xi*g.cout*cols:(xi+1)*g.cout*cols], cols)
			}
			for j := 0; j < nb; j++ {
				out := ys[(i0+j)*outLen : (i0+j+1)*outLen]
				for co := 0; co < g.cout; co++ {
					winoOutputTiles(g, &wg, m, co*cols+j*wg.perImg, g.cout*cols, out[co*g.h*g.w:(co+1)*g.h*g.w])
				}
			}
		}
	})
}

// winoInputTiles writes V = Bᵀ d B of every tile of one channel plane x
// [H, W] into v: position ξ of tile t at v[off + ξ*stride + t]. rows is
// scratch of 4 padded rows (width 2*tw+2, zero borders), zero a row of W
// zeros.
func winoInputTiles(g *convGeom, wg *winoGeom, x, rows, zero, v []float32, off, stride int) {
	h, w, tw := g.h, g.w, wg.tw
	wp := 2*tw + 2
	t0, t1, t2, t3 := rows[1:1+w], rows[wp+1:wp+1+w], rows[2*wp+1:2*wp+1+w], rows[3*wp+1:3*wp+1+w]
	row := func(ih int) []float32 {
		if ih < 0 || ih >= h {
			return zero
		}
		return x[ih*w : (ih+1)*w]
	}
	for r := 0; r < wg.th; r++ {
		// Padded rows 2r..2r+3 are input rows 2r-1..2r+2.
		d0, d1, d2, d3 := row(2*r-1), row(2*r), row(2*r+1), row(2*r+2)
		d0, d1, d2, d3 = d0[:w], d1[:w], d2[:w], d3[:w]
		t0, t1, t2, t3 := t0[:w], t1[:w], t2[:w], t3[:w]
		for c := 0; c < w; c++ {
			a0, a1, a2, a3 := d0[c], d1[c], d2[c], d3[c]
			t0[c] = a0 - a2
			t1[c] = a1 + a2
			t2[c] = a2 - a1
			t3[c] = a1 - a3
		}
		base := off + r*tw
		for i := 0; i < 4; i++ {
			tr := rows[i*wp : i*wp+wp]
			o0 := v[base+(4*i+0)*stride : base+(4*i+0)*stride+tw]
			o1 := v[base+(4*i+1)*stride : base+(4*i+1)*stride+tw]
			o2 := v[base+(4*i+2)*stride : base+(4*i+2)*stride+tw]
			o3 := v[base+(4*i+3)*stride : base+(4*i+3)*stride+tw]
			for c := range o0 {
				e := tr[2*c : 2*c+4 : 2*c+4]
				o0[c] = e[0] - e[2]
				o1[c] = e[1] + e[2]
				o2[c] = e[2] - e[1]
				o3[c] = e[1] - e[3]
			}
		}
	}
}

// winoOutputTiles writes y = Aᵀ M A of every tile of one output channel
// into out [H, W]: position ξ of tile t is m[off + ξ*stride + t]. Rows and
// columns of partial tiles past the image are dropped.
func winoOutputTiles(g *convGeom, wg *winoGeom, m []float32, off, stride int, out []float32) {
	h, w, tw := g.h, g.w, wg.tw
	full := w / 2 // tiles whose two columns are both inside the image
	for r := 0; r < wg.th; r++ {
		base := off + r*tw
		var s [16][]float32
		for xi := range s {
			s[xi] = m[base+xi*stride : base+xi*stride+tw]
		}
		y0 := out[2*r*w : 2*r*w+w]
		var y1 []float32
		if 2*r+1 < h {
			y1 = out[(2*r+1)*w : (2*r+1)*w+w]
		}
		for c := 0; c < tw; c++ {
			// Rows of Aᵀ M: p = m0+m1+m2, q = m1-m2-m3 (per column j).
			p0 := s[0][c] + s[4][c] + s[8][c]
			p1 := s[1][c] + s[5][c] + s[9][c]
			p2 := s[2][c] + s[6][c] + s[10][c]
			p3 := s[3][c] + s[7][c] + s[11][c]
			q0 := s[4][c] - s[8][c] - s[12][c]
			q1 := s[5][c] - s[9][c] - s[13][c]
			q2 := s[6][c] - s[10][c] - s[14][c]
			q3 := s[7][c] - s[11][c] - s[15][c]
			if c < full {
				y0[2*c] = p0 + p1 + p2
				y0[2*c+1] = p1 - p2 - p3
				if y1 != nil {
					y1[2*c] = q0 + q1 + q2
					y1[2*c+1] = q1 - q2 - q3
				}
				continue
			}
			y0[2*c] = p0 + p1 + p2
			if y1 != nil {
				y1[2*c] = q0 + q1 + q2
			}
		}
	}
}
