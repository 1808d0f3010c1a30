package cpu

import (
	"unsafe"

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
// TestConvWinogradMatchesDirect for the measured error and its tolerance).
//
// Images are processed in groups sized by winoGroupFloats: per group
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

// A group of images holds about winoGroupFloats floats in V or M (16 x
// channels x tiles), so that both stay in L2 while the gemm products run,
// but at least winoMinTiles tiles (whole images).
//
// winoSkew pads the distance between the 16 matrices by one cache line:
// the transforms write (read) all 16 at once, and at a power-of-two
// distance (64 channels x 64 tiles) the 16 streams fall into the same L1
// sets and evict each other (measured: the input transform 3x slower).
const (
	winoSkew        = 16
	winoGroupFloats = 1 << 16
	winoMinTiles    = 32
)

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
// "Part 5b: Winograd", BenchmarkConvWinograd): Winograd was faster
// forward and backward-data from 128 channels (Fashion-MNIST stage 4, 128
// at 4x4; ResNet-18 w64 stages 2-4, 128 at 16x16, 256 at 8x8, 512 at 4x4)
// and not faster for 16-64 channels (the transforms, scalar Go, cost as
// much as the 2.25x fewer multiply-adds save when the gemm is that thin).
func winogradWins(g *convGeom) bool {
	return min(g.cin, g.cout) >= winoMinChannels
}

// winoMinChannels is the smallest channel count (input and output) for
// which convAuto takes the Winograd path (winogradWins).
const winoMinChannels = 128

// winoPackedWeights transforms the weights ws [Cout, Cin, 3, 3] into u
// (16 matrices us floats apart, winoTransformWeights) and packs them into
// pbuf (16 * gemm.PackedASize(Cout, Cin) floats) as the gemm's left
// operands. convForwardWinograd passes us = Cout*Cin + winoSkew: with the
// matrices exactly Cout*Cin floats apart (a power of two times 4 bytes at
// 128-512 channels) the transform's 16 write streams fell into the same L1
// sets (BenchmarkWinoWeights).
func winoPackedWeights(ws, u []float32, us int, pbuf []float32, cout, cin int) [16]*gemm.PackedA {
	plane := cout * cin
	winoTransformWeights(ws, u, us, cout, cin)
	psz := gemm.PackedASize(cout, cin)
	var pu [16]*gemm.PackedA
	for xi := range pu {
		p, err := gemm.PackA(pbuf[xi*psz:(xi+1)*psz], false, cout, cin, u[xi*us:xi*us+plane], cin)
		if err != nil {
			panic(err) // sizes come from PackedASize
		}
		pu[xi] = p
	}
	return pu
}

// winoTransformWeights writes U = G g Gᵀ of every (co, ci) kernel of ws
// [Cout, Cin, 3, 3] into u, as 16 matrices [Cout, Cin] us >= Cout*Cin
// floats apart: u[ξ*us + co*Cin + ci]. The us - Cout*Cin floats after each
// matrix are not written.
func winoTransformWeights(ws, u []float32, us, cout, cin int) {
	u = u[:15*us+cout*cin]
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
				u[(4*i+0)*us+o] = a
				u[(4*i+1)*us+o] = 0.5 * (a + b + c)
				u[(4*i+2)*us+o] = 0.5 * (a - b + c)
				u[(4*i+3)*us+o] = c
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
	target := max(winoMinTiles, winoGroupFloats/(16*max(g.cin, g.cout)))
	w.group = max(1, min(g.n, target/w.perImg))
	w.maxCols = w.group * w.perImg
	return w
}

// convForwardWinograd computes ys = conv(xs, ws) for a geometry that
// winogradApplies to.
func (b *Backend) convForwardWinograd(g *convGeom, xs, ws, ys []float32) {
	wg := newWinoGeom(g)
	plane := g.cout * g.cin
	us := plane + winoSkew // see winoSkew: the 16 matrices are written at once
	u := b.scratch.get(16 * us)
	defer b.scratch.put(u)
	pbuf := b.scratch.get(16 * gemm.PackedASize(g.cout, g.cin))
	defer b.scratch.put(pbuf)
	pu := winoPackedWeights(ws, u, us, pbuf, g.cout, g.cin)
	groups := (g.n + wg.group - 1) / wg.group
	inner := innerThreads(groups)
	inLen, outLen := g.cin*g.h*g.w, g.cout*g.h*g.w
	wp := 2*wg.tw + 2 // padded row width
	parallelFor(groups, 1, func(lo, hi int) {
		v := b.scratch.get(16 * (g.cin*wg.maxCols + winoSkew))
		m := b.scratch.get(16 * (g.cout*wg.maxCols + winoSkew))
		pad := b.scratch.get((2*wg.th + 2) * wp)
		defer b.scratch.put(v)
		defer b.scratch.put(m)
		defer b.scratch.put(pad)
		clear(pad) // the border stays zero: only the interior is written
		for gi := lo; gi < hi; gi++ {
			i0 := gi * wg.group
			nb := min(wg.group, g.n-i0)
			cols := nb * wg.perImg
			// The 16 matrices of V and M are vs and ms floats apart.
			vs, ms := g.cin*cols+winoSkew, g.cout*cols+winoSkew
			for j := 0; j < nb; j++ {
				img := xs[(i0+j)*inLen : (i0+j+1)*inLen]
				for ci := 0; ci < g.cin; ci++ {
					winoInputTiles(g, &wg, img[ci*g.h*g.w:(ci+1)*g.h*g.w], pad, v, ci*cols+j*wg.perImg, vs)
				}
			}
			for xi := 0; xi < 16; xi++ {
				gemm.SgemmPackedA(inner, pu[xi], false, cols, 1, v[xi*vs:xi*vs+g.cin*cols], cols, 0, m[xi*ms:xi*ms+g.cout*cols], cols)
			}
			for j := 0; j < nb; j++ {
				out := ys[(i0+j)*outLen : (i0+j+1)*outLen]
				for co := 0; co < g.cout; co++ {
					winoOutputTiles(g, &wg, m, co*cols+j*wg.perImg, ms, out[co*g.h*g.w:(co+1)*g.h*g.w])
				}
			}
		}
	})
}

// winoInputTiles writes V = Bᵀ d B of every tile of one channel plane x
// [H, W] into v: position ξ of tile t at v[off + ξ*stride + t]. pad is
// scratch for the zero-padded plane, (2*th+2) x (2*tw+2), whose border
// must be zero (only the interior is written, so it stays zero when the
// buffer is reused for planes of the same size).
func winoInputTiles(g *convGeom, wg *winoGeom, x, pad, v []float32, off, stride int) {
	h, w, th, tw := g.h, g.w, wg.th, wg.tw
	wp := 2*tw + 2
	for ih := 0; ih < h; ih++ {
		copy(pad[(ih+1)*wp+1:(ih+1)*wp+1+w], x[ih*w:(ih+1)*w])
	}
	// The 16 stores per tile go to 16 streams stride floats apart; they
	// are written through one base pointer (bounds-checked once here: the
	// last stream's last tile) instead of 16 slice headers.
	n := wg.perImg
	_ = v[off+15*stride+n-1]
	base := unsafe.Pointer(&v[off])
	sb := uintptr(stride) * 4
	for r := 0; r < th; r++ {
		for c := 0; c < tw; c++ {
			b := 2*r*wp + 2*c
			d0 := (*[4]float32)(pad[b : b+4])
			d1 := (*[4]float32)(pad[b+wp : b+wp+4])
			d2 := (*[4]float32)(pad[b+2*wp : b+2*wp+4])
			d3 := (*[4]float32)(pad[b+3*wp : b+3*wp+4])
			// Rows of Bᵀ d.
			a0, a1, a2, a3 := d0[0]-d2[0], d0[1]-d2[1], d0[2]-d2[2], d0[3]-d2[3]
			b0, b1, b2, b3 := d1[0]+d2[0], d1[1]+d2[1], d1[2]+d2[2], d1[3]+d2[3]
			c0, c1, c2, c3 := d2[0]-d1[0], d2[1]-d1[1], d2[2]-d1[2], d2[3]-d1[3]
			e0, e1, e2, e3 := d1[0]-d3[0], d1[1]-d3[1], d1[2]-d3[2], d1[3]-d3[3]
			p := unsafe.Add(base, uintptr(r*tw+c)*4) // tile t < n
			*(*float32)(p) = a0 - a2
			*(*float32)(unsafe.Add(p, sb)) = a1 + a2
			*(*float32)(unsafe.Add(p, 2*sb)) = a2 - a1
			*(*float32)(unsafe.Add(p, 3*sb)) = a1 - a3
			*(*float32)(unsafe.Add(p, 4*sb)) = b0 - b2
			*(*float32)(unsafe.Add(p, 5*sb)) = b1 + b2
			*(*float32)(unsafe.Add(p, 6*sb)) = b2 - b1
			*(*float32)(unsafe.Add(p, 7*sb)) = b1 - b3
			*(*float32)(unsafe.Add(p, 8*sb)) = c0 - c2
			*(*float32)(unsafe.Add(p, 9*sb)) = c1 + c2
			*(*float32)(unsafe.Add(p, 10*sb)) = c2 - c1
			*(*float32)(unsafe.Add(p, 11*sb)) = c1 - c3
			*(*float32)(unsafe.Add(p, 12*sb)) = e0 - e2
			*(*float32)(unsafe.Add(p, 13*sb)) = e1 + e2
			*(*float32)(unsafe.Add(p, 14*sb)) = e2 - e1
			*(*float32)(unsafe.Add(p, 15*sb)) = e1 - e3
		}
	}
}

// winoOutputTiles writes y = Aᵀ M A of every tile of one output channel
// into out [H, W]: position ξ of tile t is m[off + ξ*stride + t]. Rows and
// columns of partial tiles past the image are dropped.
func winoOutputTiles(g *convGeom, wg *winoGeom, m []float32, off, stride int, out []float32) {
	h, w, tw := g.h, g.w, wg.tw
	// The 16 loads per tile come from 16 streams stride floats apart, read
	// through one base pointer (bounds-checked once here: the last
	// stream's last tile).
	n := wg.perImg
	_ = m[off+15*stride+n-1]
	base := unsafe.Pointer(&m[off])
	sb := uintptr(stride) * 4
	ld := func(p unsafe.Pointer, xi uintptr) float32 { return *(*float32)(unsafe.Add(p, xi*sb)) }
	for r := 0; r < wg.th; r++ {
		y0 := out[2*r*w : 2*r*w+w]
		y1 := y0
		full := 2*r+1 < h
		if full {
			y1 = out[(2*r+1)*w : (2*r+1)*w+w]
		}
		for c := 0; c < tw; c++ {
			p := unsafe.Add(base, uintptr(r*tw+c)*4) // tile t < n
			// Rows of Aᵀ M: p = m0+m1+m2, q = m1-m2-m3 (per column j).
			m4, m5, m6, m7 := ld(p, 4), ld(p, 5), ld(p, 6), ld(p, 7)
			m8, m9, m10, m11 := ld(p, 8), ld(p, 9), ld(p, 10), ld(p, 11)
			p0 := ld(p, 0) + m4 + m8
			p1 := ld(p, 1) + m5 + m9
			p2 := ld(p, 2) + m6 + m10
			p3 := ld(p, 3) + m7 + m11
			q0 := m4 - m8 - ld(p, 12)
			q1 := m5 - m9 - ld(p, 13)
			q2 := m6 - m10 - ld(p, 14)
			q3 := m7 - m11 - ld(p, 15)
			if 2*c+1 < w {
				yy := (*[2]float32)(y0[2*c : 2*c+2])
				yy[0], yy[1] = p0+p1+p2, p1-p2-p3
				if full {
					yy = (*[2]float32)(y1[2*c : 2*c+2])
					yy[0], yy[1] = q0+q1+q2, q1-q2-q3
				}
				continue
			}
			y0[2*c] = p0 + p1 + p2
			if full {
				y1[2*c] = q0 + q1 + q2
			}
		}
	}
}
