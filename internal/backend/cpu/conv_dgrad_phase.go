package cpu

import (
	"runtime"

	"simclr/internal/gemm"
	"simclr/internal/vec"
)

// Polyphase data gradient of a strided convolution.
//
// For stride s, input row ih = s*i + a (input phase a in [0, s)) receives
// dy[oh] * w[kh] exactly for the taps kh with (a + pad - kh) divisible by
// s, from output row oh = i + dh with dh = (a + pad - kh)/s; the same holds
// for columns. So the s*s input phases of dx are each a stride-1
// correlation of dy with a sub-kernel of the flipped taps:
//
//	dx[ci, s*i+a, s*j+b] = sum_{co, (kh,kw) in taps(a,b)} dy[co, i+dh, j+dw] * w[co, ci, kh, kw]
//
// (dy read as zero outside [0,Ho)x[0,Wo)), which runs on the shifted
// layout: dy is copied into zero-padded planes once per image, every
// (co, tap) row of the column matrix is that plane read at an offset, and
// gemm.SgemmColOffsetsA computes each phase position-major with the phase's
// transposed sub-kernel packed once per call. This replaces the col2im
// path (dcol = wᵀ·dy, then a scalar scatter-add of K*K*Cin rows per image)
// for strided K > 1 kernels: every dx element is written once, by one
// product over (co, tap), and nothing is accumulated afterwards.
//
// Results differ from the col2im path in rounding only (col2im adds the
// K*K per-tap products of the gemm's Cout sums one by one; here one k loop
// runs over (co, tap)); each image is independent, so they do not depend
// on GOMAXPROCS.

// dgradPhase is one input phase (a, b) of a polyphase data gradient.
type dgradPhase struct {
	a, b    int // input rows s*i+a, columns s*j+b
	hi, wj  int // phase plane size: rows i < hi, columns j < wj
	nq      int // grid length (hi-1)*wq + wj; 0 when the phase is empty
	ntaps   int
	rowOffs []int // offset in the padded dy of row (co, tap): co*planeQ + (dh+pd)*wq + (dw+pd)
	pb      *gemm.PackedB
}

// phasedDgrad is the polyphase layout of one strided convolution's data
// gradient.
type phasedDgrad struct {
	pad    *shiftedConv // stride-1 padding of dy: pd on every side
	phases []dgradPhase
	maxNQ  int // longest grid
	maxPh  int // largest phase plane hi*wj
}

// phaseTaps returns, for input phase a of a dimension with kernel k,
// stride s and padding p, the taps kh and output offsets dh = (a+p-kh)/s.
func phaseTaps(a, k, s, p int) (taps, offs []int) {
	for kh := 0; kh < k; kh++ {
		if d := a + p - kh; d%s == 0 {
			taps = append(taps, kh)
			offs = append(offs, d/s)
		}
	}
	return taps, offs
}

// newPhasedDgrad builds the layout for g (stride > 1); the sub-kernels of
// ws [Cout, Cin, K, K] are packed into buffers from b's scratch pool, which
// release hands back.
func (b *Backend) newPhasedDgrad(g *convGeom, ws []float32) (pd *phasedDgrad, release func()) {
	s, k, p := g.stride, g.k, g.pad
	kk := k * k
	type dimPhase struct {
		taps, offs []int
		n          int // phase size along the dimension
	}
	dim := func(a, size int) dimPhase {
		t, o := phaseTaps(a, k, s, p)
		n := 0
		if a < size {
			n = (size - a + s - 1) / s
		}
		return dimPhase{t, o, n}
	}
	// Padding of dy so that every phase reads inside its plane.
	pad := 0
	for a := 0; a < s; a++ {
		for _, d := range []struct {
			ph  dimPhase
			out int
		}{{dim(a, g.h), g.ho}, {dim(a, g.w), g.wo}} {
			if d.ph.n == 0 {
				continue
			}
			for _, o := range d.ph.offs {
				pad = max(pad, -o, d.ph.n-1+o-(d.out-1))
			}
		}
	}
	sc := &shiftedConv{stride: 1, pad: pad, phases: 1, hq: g.ho + 2*pad, wq: g.wo + 2*pad}
	sc.planeQ = sc.hq * sc.wq
	pd = &phasedDgrad{pad: sc}
	var bufs [][]float32
	for a := 0; a < s; a++ {
		ra := dim(a, g.h)
		for bb := 0; bb < s; bb++ {
			cb := dim(bb, g.w)
			ph := dgradPhase{a: a, b: bb, hi: ra.n, wj: cb.n, ntaps: len(ra.taps) * len(cb.taps)}
			if ph.hi > 0 && ph.wj > 0 && ph.ntaps > 0 {
				ph.nq = (ph.hi-1)*sc.wq + ph.wj
				kdim := g.cout * ph.ntaps
				ph.rowOffs = make([]int, kdim)
				mat := b.scratch.get(kdim * g.cin)
				for co := 0; co < g.cout; co++ {
					t := 0
					for ti, kh := range ra.taps {
						for tj, kw := range cb.taps {
							r := co*ph.ntaps + t
							ph.rowOffs[r] = co*sc.planeQ + (ra.offs[ti]+pad)*sc.wq + cb.offs[tj] + pad
							row := mat[r*g.cin : (r+1)*g.cin]
							for ci := range row {
								row[ci] = ws[(co*g.cin+ci)*kk+kh*k+kw]
							}
							t++
						}
					}
				}
				buf := b.scratch.get(gemm.PackedBSize(kdim, g.cin))
				pb, err := gemm.PackB(buf, false, kdim, g.cin, mat, g.cin)
				b.scratch.put(mat)
				if err != nil {
					panic(err) // shapes were checked by the caller
				}
				ph.pb = pb
				bufs = append(bufs, buf)
				pd.maxNQ = max(pd.maxNQ, ph.nq)
			}
			pd.maxPh = max(pd.maxPh, ph.hi*ph.wj)
			pd.phases = append(pd.phases, ph)
		}
	}
	return pd, func() {
		for _, buf := range bufs {
			b.scratch.put(buf)
		}
	}
}

// convBackwardDataPhased computes dx of a strided convolution image by
// image on the polyphase layout (see above). Every element of dx is
// written.
func (b *Backend) convBackwardDataPhased(g *convGeom, dys, ws, dxs []float32) {
	pd, release := b.newPhasedDgrad(g, ws)
	defer release()
	sc := pd.pad
	inLen, outLen := g.cin*g.h*g.w, g.cout*g.ho*g.wo
	hw := g.h * g.w
	grain := max(1, g.n/(4*runtime.GOMAXPROCS(0)))
	parallelFor(g.n, grain, func(lo, hi int) {
		dyp := b.scratch.get(sc.paddedLen(g.cout))
		grid := b.scratch.get((pd.maxNQ + gridSlack) * g.cin)
		plane := b.scratch.get(max(1, pd.maxPh*g.cin))
		defer b.scratch.put(dyp)
		defer b.scratch.put(grid)
		defer b.scratch.put(plane)
		clear(dyp)
		for i := lo; i < hi; i++ {
			sc.padImage(dys[i*outLen:(i+1)*outLen], dyp, g.cout, g.ho, g.wo)
			dx := dxs[i*inLen : (i+1)*inLen]
			for pi := range pd.phases {
				ph := &pd.phases[pi]
				if ph.hi == 0 || ph.wj == 0 {
					continue
				}
				if ph.nq == 0 { // no tap reaches this phase: its gradient is 0
					ph.scatter(dx, nil, g.cin, g.stride, g.w, hw)
					continue
				}
				gemm.SgemmColOffsetsA(ph.pb, ph.nq, 1, dyp, ph.rowOffs, 0, grid, g.cin)
				n := ph.hi * ph.wj
				for r := 0; r < ph.hi; r++ {
					vec.Transpose(plane[r*ph.wj:], n, grid[r*sc.wq*g.cin:], g.cin, ph.wj, g.cin)
				}
				ph.scatter(dx, plane[:n*g.cin], g.cin, g.stride, g.w, hw)
			}
		}
	})
}

// scatter writes the phase plane [Cin, hi, wj] (zeros when plane is nil)
// into its positions dx[ci, s*i+a, s*j+b] of one image.
func (ph *dgradPhase) scatter(dx, plane []float32, cin, s, w, hw int) {
	n := ph.hi * ph.wj
	for ci := 0; ci < cin; ci++ {
		for i := 0; i < ph.hi; i++ {
			drow := dx[ci*hw+(s*i+ph.a)*w+ph.b:]
			if plane == nil {
				for j := 0; j < ph.wj; j++ {
					drow[s*j] = 0
				}
				continue
			}
			prow := plane[ci*n+i*ph.wj : ci*n+(i+1)*ph.wj]
			for j, v := range prow {
				drow[s*j] = v
			}
		}
	}
}
