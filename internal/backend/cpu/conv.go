package cpu

import (
	"simclr/internal/backend"
	"simclr/internal/gemm"
	"simclr/internal/vec"
)

// maxFilterPartials is the number of batch chunks whose partial weight
// gradients Conv2DBackwardFilter computes independently and then adds in
// chunk order. It is a constant so the summation order depends only on N.
const maxFilterPartials = 8

// convGeom holds the sizes of one convolution.
type convGeom struct {
	n, cin, h, w    int
	cout, k         int
	stride, pad     int
	ho, wo          int
	colRows, colLen int // im2col matrix: colRows x colLen (= Cin*K*K x Ho*Wo)
}

// identity reports whether im2col is the identity (1x1, stride 1, no pad),
// so the input image can be used as the column matrix directly.
func (g *convGeom) identity() bool { return g.k == 1 && g.stride == 1 && g.pad == 0 }

// newConvGeom extends the geometry the shape inference returns
// (backend.CheckConv2D*) with the im2col sizes.
func newConvGeom(cg backend.ConvGeometry, err error) (convGeom, error) {
	if err != nil {
		return convGeom{}, err
	}
	g := convGeom{n: cg.N, cin: cg.Cin, h: cg.H, w: cg.W, cout: cg.Cout, k: cg.K, stride: cg.Stride, pad: cg.Pad, ho: cg.Ho, wo: cg.Wo}
	g.colRows = g.cin * g.k * g.k
	g.colLen = g.ho * g.wo
	return g, nil
}

// validOut returns the range [lo, hi) of output columns ow whose input
// column ow*stride - pad + kw lies inside [0, size).
func validOut(kw, pad, stride, size, outSize int) (lo, hi int) {
	if d := pad - kw; d > 0 {
		lo = (d + stride - 1) / stride
	}
	last := size - 1 + pad - kw
	if last < 0 {
		return lo, lo
	}
	hi = min(last/stride+1, outSize)
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

// im2col writes the column matrix of one image x [Cin,H,W] into col, a
// matrix with row stride ld: row (ci*K+kh)*K+kw holds x[ci, oh*s-p+kh,
// ow*s-p+kw] (0 outside the image) at column off + oh*Wo+ow.
func im2col(g *convGeom, x, col []float32, ld, off int) {
	if g.stride == 1 && g.wo == g.w {
		im2colSameWidth(g, x, col, ld, off)
		return
	}
	k, s, p, h, w, ho, wo := g.k, g.stride, g.pad, g.h, g.w, g.ho, g.wo
	hw := h * w
	for ci := 0; ci < g.cin; ci++ {
		plane := x[ci*hw : (ci+1)*hw]
		for kh := 0; kh < k; kh++ {
			for kw := 0; kw < k; kw++ {
				r := (ci*k+kh)*k + kw
				row := col[r*ld+off : r*ld+off+g.colLen]
				ow0, ow1 := validOut(kw, p, s, w, wo)
				for oh := 0; oh < ho; oh++ {
					dst := row[oh*wo : (oh+1)*wo]
					ih := oh*s - p + kh
					if ih < 0 || ih >= h {
						clear(dst)
						continue
					}
					clear(dst[:ow0])
					clear(dst[ow1:])
					if ow1 <= ow0 {
						continue
					}
					src := plane[ih*w : (ih+1)*w]
					iw := ow0*s - p + kw
					if s == 1 {
						copy(dst[ow0:ow1], src[iw:iw+ow1-ow0])
						continue
					}
					seg := dst[ow0:ow1]
					for j := range seg {
						seg[j] = src[iw]
						iw += s
					}
				}
			}
		}
	}
}

// im2colSameWidth is im2col for stride 1 when the output is as wide as the
// input (2*pad = K-1, e.g. 3x3 with padding 1). Then row (ci,kh,kw) of the
// column matrix is the plane shifted by (kh-pad)*W + (kw-pad) elements, so
// the valid part is one contiguous copy; afterwards the rows above and below
// the image and the columns that wrapped around from the neighbouring image
// row are zeroed.
func im2colSameWidth(g *convGeom, x, col []float32, ld, off int) {
	k, p, h, w, ho, wo := g.k, g.pad, g.h, g.w, g.ho, g.wo
	hw := h * w
	for ci := 0; ci < g.cin; ci++ {
		plane := x[ci*hw : (ci+1)*hw]
		for kh := 0; kh < k; kh++ {
			oh0, oh1 := validOut(kh, p, 1, h, ho)
			for kw := 0; kw < k; kw++ {
				r := (ci*k+kh)*k + kw
				row := col[r*ld+off : r*ld+off+g.colLen]
				ow0, ow1 := validOut(kw, p, 1, w, wo)
				if oh1 <= oh0 || ow1 <= ow0 {
					clear(row)
					continue
				}
				clear(row[:oh0*wo])
				clear(row[oh1*wo:])
				d0, d1 := oh0*wo+ow0, (oh1-1)*wo+ow1
				delta := (kh-p)*w + (kw - p)
				copy(row[d0:d1], plane[d0+delta:d1+delta])
				if ow0 == 0 && ow1 == wo {
					continue
				}
				// Zero column j of every valid output row (usually one
				// column, so walk down the columns).
				end := oh1 * wo
				for j := 0; j < ow0; j++ {
					for i := oh0*wo + j; i < end; i += wo {
						row[i] = 0
					}
				}
				for j := ow1; j < wo; j++ {
					for i := oh0*wo + j; i < end; i += wo {
						row[i] = 0
					}
				}
			}
		}
	}
}

// col2im adds the column matrix of one image (stored like im2col's, with
// row stride ld and column offset off) back into the image dx [Cin,H,W],
// which it zeroes first: the adjoint of im2col. The summation order is
// fixed (row by row of col).
func col2im(g *convGeom, col, dx []float32, ld, off int) {
	clear(dx)
	k, s, p, h, w, ho, wo := g.k, g.stride, g.pad, g.h, g.w, g.ho, g.wo
	hw := h * w
	for ci := 0; ci < g.cin; ci++ {
		plane := dx[ci*hw : (ci+1)*hw]
		for kh := 0; kh < k; kh++ {
			for kw := 0; kw < k; kw++ {
				r := (ci*k+kh)*k + kw
				row := col[r*ld+off : r*ld+off+g.colLen]
				ow0, ow1 := validOut(kw, p, s, w, wo)
				if ow1 <= ow0 {
					continue
				}
				for oh := 0; oh < ho; oh++ {
					ih := oh*s - p + kh
					if ih < 0 || ih >= h {
						continue
					}
					src := row[oh*wo+ow0 : oh*wo+ow1]
					dst := plane[ih*w : (ih+1)*w]
					iw := ow0*s - p + kw
					if s == 1 {
						d := dst[iw : iw+len(src)]
						for j, v := range src {
							d[j] += v
						}
						continue
					}
					for _, v := range src {
						dst[iw] += v
						iw += s
					}
				}
			}
		}
	}
}

// convTargetCols is the number of output positions one im2col + Sgemm call
// aims for: when an image's output is smaller (deep layers: 8x8, 4x4),
// several images share one gemm so that it stays efficient.
const convTargetCols = 512

// groupSize returns how many images share one column matrix. It depends
// only on the shapes, so results never depend on the number of workers.
func (g *convGeom) groupSize() int {
	b := (convTargetCols + g.colLen - 1) / g.colLen
	return max(1, min(b, g.n))
}

// convScratch holds one worker's column matrix and output staging buffer.
type convScratch struct {
	col, tmp []float32
}

func (b *Backend) getConvScratch(g *convGeom, group int) convScratch {
	var s convScratch
	if !(g.identity() && group == 1) {
		s.col = b.scratch.get(g.colRows * group * g.colLen)
	}
	if group > 1 {
		s.tmp = b.scratch.get(g.cout * group * g.colLen)
	}
	return s
}

func (b *Backend) putConvScratch(s convScratch) {
	if s.col != nil {
		b.scratch.put(s.col)
	}
	if s.tmp != nil {
		b.scratch.put(s.tmp)
	}
}

// columns returns the column matrix [Cin*K*K, nb*Ho*Wo] of images
// i0..i0+nb-1 of x (the image itself for a single image and a 1x1
// stride-1 unpadded kernel).
func (g *convGeom) columns(x []float32, i0, nb int, s convScratch) []float32 {
	inLen := g.cin * g.h * g.w
	if g.identity() && nb == 1 {
		return x[i0*inLen : (i0+1)*inLen]
	}
	cols := nb * g.colLen
	for j := 0; j < nb; j++ {
		im2col(g, x[(i0+j)*inLen:(i0+j+1)*inLen], s.col, cols, j*g.colLen)
	}
	return s.col[:g.colRows*cols]
}

// gatherOut returns dy of images i0..i0+nb-1 as one [Cout, nb*Ho*Wo]
// matrix (dy itself for a single image).
func (g *convGeom) gatherOut(dy []float32, i0, nb int, s convScratch) []float32 {
	outLen := g.cout * g.colLen
	if nb == 1 {
		return dy[i0*outLen : (i0+1)*outLen]
	}
	cols := nb * g.colLen
	for j := 0; j < nb; j++ {
		img := dy[(i0+j)*outLen : (i0+j+1)*outLen]
		for co := 0; co < g.cout; co++ {
			copy(s.tmp[co*cols+j*g.colLen:co*cols+(j+1)*g.colLen], img[co*g.colLen:(co+1)*g.colLen])
		}
	}
	return s.tmp[:g.cout*cols]
}

// packWeights packs the weight matrix op(w) (m×k; w is [m,k], or [k,m]
// when trans) once for all the images of a convolution. release hands the
// buffer back to the scratch pool.
func (b *Backend) packWeights(trans bool, m, k int, ws []float32) (pw *gemm.PackedA, release func()) {
	buf := b.scratch.get(gemm.PackedASize(m, k))
	lda := k
	if trans {
		lda = m
	}
	pw, err := gemm.PackA(buf, trans, m, k, ws, lda)
	if err != nil {
		panic(err) // shapes were checked by the caller
	}
	return pw, func() { b.scratch.put(buf) }
}

// Conv2DForward computes y = conv(x, w): x [N,Cin,H,W], w [Cout,Cin,K,K],
// y [N,Cout,Ho,Wo]. Images are processed in parallel, on the shifted
// layout (conv_shifted.go: the gemm reads the padded image in place) where
// it applies, else in groups (one image for large outputs) as im2col + one
// gemm.
func (b *Backend) Conv2DForward(x, w, y *Tensor, p backend.ConvParams) error {
	if err := checkHost(backend.OpConv2DForward, "x w y", x, w, y); err != nil {
		return err
	}
	g, err := newConvGeom(backend.CheckConv2DForward(x.Shape, w.Shape, y.Shape, p))
	if err != nil {
		return err
	}
	b.convForwardRounded(b.MatmulPrecision(), &g, x.Host, w.Host, y.Host)
	return nil
}

// convForward computes ys = conv(xs, ws) for the geometry g: on the
// shifted layout when it applies, else ws is packed once, then per group of
// images im2col + one gemm product.
func (b *Backend) convForward(gp *convGeom, xs, ws, ys []float32) {
	g := *gp
	if g.winograd(b.convPath) {
		b.convForwardWinograd(&g, xs, ws, ys) // conv_winograd.go
		return
	}
	if s, ok := g.shifted(b.convPath); ok {
		b.convForwardShifted(&g, s, ws, xs, ys)
		return
	}
	group := g.groupSize()
	outLen := g.cout * g.colLen
	pw, release := b.packWeights(false, g.cout, g.colRows, ws)
	defer release()
	groups := (g.n + group - 1) / group
	inner := innerThreads(groups)
	// product writes w · col(images i0..i0+nb-1) to out.
	product := func(s convScratch, i0, nb int, out []float32) {
		cols := nb * g.colLen
		gemm.SgemmPackedA(inner, pw, false, cols, 1, g.columns(xs, i0, nb, s), cols, 0, out, cols)
	}
	parallelFor(groups, 1, func(lo, hi int) {
		s := b.getConvScratch(&g, group)
		defer b.putConvScratch(s)
		for gi := lo; gi < hi; gi++ {
			i0 := gi * group
			nb := min(group, g.n-i0)
			cols := nb * g.colLen
			if nb == 1 {
				product(s, i0, 1, ys[i0*outLen:(i0+1)*outLen])
				continue
			}
			product(s, i0, nb, s.tmp[:g.cout*cols])
			for j := 0; j < nb; j++ {
				img := ys[(i0+j)*outLen : (i0+j+1)*outLen]
				for co := 0; co < g.cout; co++ {
					copy(img[co*g.colLen:(co+1)*g.colLen], s.tmp[co*cols+j*g.colLen:co*cols+(j+1)*g.colLen])
				}
			}
		}
	})
}

// Conv2DBackwardData computes dx, the gradient of the convolution with
// respect to its input. A stride-1 convolution whose output is as large as
// its input runs as the forward convolution of dy with the flipped kernel
// (see convBackwardDataSameWidth); any other runs, per group of images,
// dcol = w^T dy followed by col2im.
func (b *Backend) Conv2DBackwardData(dy, w, dx *Tensor, p backend.ConvParams) error {
	if err := checkHost(backend.OpConv2DBackwardData, "dy w dx", dy, w, dx); err != nil {
		return err
	}
	g, err := newConvGeom(backend.CheckConv2DBackwardData(dy.Shape, w.Shape, dx.Shape, p))
	if err != nil {
		return err
	}
	if g.stride == 1 && g.wo == g.w && g.k > 1 {
		b.convBackwardDataSameWidth(&g, dy.Host, w.Host, dx.Host)
		return nil
	}
	dys, ws, release := b.roundOperands(dy.Host, w.Host)
	defer release()
	dxs := dx.Host
	if g.stride > 1 && g.k > 1 && b.convPath != convIm2col {
		b.convBackwardDataPhased(&g, dys, ws, dxs) // conv_dgrad_phase.go
		return nil
	}
	group := g.groupSize()
	inLen := g.cin * g.h * g.w
	pw, releaseW := b.packWeights(true, g.colRows, g.cout, ws)
	defer releaseW()
	inner := innerThreads((g.n + group - 1) / group)
	parallelFor((g.n+group-1)/group, 1, func(lo, hi int) {
		s := b.getConvScratch(&g, group)
		defer b.putConvScratch(s)
		for gi := lo; gi < hi; gi++ {
			i0 := gi * group
			nb := min(group, g.n-i0)
			cols := nb * g.colLen
			dyg := g.gatherOut(dys, i0, nb, s)
			if g.identity() && nb == 1 {
				gemm.SgemmPackedA(inner, pw, false, cols, 1, dyg, cols, 0, dxs[i0*inLen:(i0+1)*inLen], cols)
				continue
			}
			gemm.SgemmPackedA(inner, pw, false, cols, 1, dyg, cols, 0, s.col, cols)
			for j := 0; j < nb; j++ {
				col2im(&g, s.col, dxs[(i0+j)*inLen:(i0+j+1)*inLen], cols, j*g.colLen)
			}
		}
	})
	return nil
}

// convBackwardDataSameWidth computes dx for a stride-1 convolution whose
// output is as large as its input (2*pad = K-1) as the forward convolution
// of dy with the flipped, transposed kernel:
//
//	dx[ci,ih,iw] = sum_{co,kh,kw} dy[co, ih-pad+kh, iw-pad+kw] * w[co,ci,K-1-kh,K-1-kw]
//
// which needs no col2im (a scattered, scalar accumulation) and runs on the
// fast im2col path.
func (b *Backend) convBackwardDataSameWidth(g *convGeom, dys, ws, dxs []float32) {
	kk := g.k * g.k
	wt := b.scratch.get(g.cin * g.cout * kk)
	defer b.scratch.put(wt)
	for co := 0; co < g.cout; co++ {
		for ci := 0; ci < g.cin; ci++ {
			src := ws[(co*g.cin+ci)*kk : (co*g.cin+ci+1)*kk]
			dst := wt[(ci*g.cout+co)*kk : (ci*g.cout+co+1)*kk]
			for i := range dst {
				dst[i] = src[kk-1-i]
			}
		}
	}
	t := convGeom{
		n: g.n, cin: g.cout, h: g.ho, w: g.wo,
		cout: g.cin, k: g.k, stride: 1, pad: g.pad,
		ho: g.h, wo: g.w,
		colRows: g.cout * kk, colLen: g.h * g.w,
	}
	b.convForwardRounded(b.MatmulPrecision(), &t, dys, wt[:g.cin*g.cout*kk], dxs)
}

// Conv2DBackwardFilter computes dw = sum_n dy[n] col(x[n])^T (col read in
// place from the padded image on the shifted layout, else built by im2col).
// The batch is
// cut into at most maxFilterPartials fixed chunks (their size depends only
// on N); each chunk accumulates its images in order into its own partial,
// and the partials are added in chunk order, so dw does not depend on
// GOMAXPROCS.
func (b *Backend) Conv2DBackwardFilter(x, dy, dw *Tensor, p backend.ConvParams) error {
	if err := checkHost(backend.OpConv2DBackwardFilter, "x dy dw", x, dy, dw); err != nil {
		return err
	}
	g, err := newConvGeom(backend.CheckConv2DBackwardFilter(x.Shape, dy.Shape, dw.Shape, p))
	if err != nil {
		return err
	}
	if g.n == 0 {
		clear(dw.Host)
		return nil
	}
	per := (g.n + maxFilterPartials - 1) / maxFilterPartials
	chunks := (g.n + per - 1) / per
	wLen := len(dw.Host)
	partials := make([][]float32, chunks)
	partials[0] = dw.Host
	for c := 1; c < chunks; c++ {
		partials[c] = b.scratch.get(wLen)
	}
	// Each chunk reads its images of x and dy rounded to the matmul
	// precision (precision.go): views of them in FP32, else copies made
	// when the chunk starts.
	prec := b.MatmulPrecision()
	xs, dys := x.Host, dy.Host
	inLen, outLen := g.cin*g.h*g.w, g.cout*g.ho*g.wo
	inner := innerThreads(chunks)
	if s, ok := g.shifted(b.convPath); ok {
		parallelFor(chunks, 1, func(c0, c1 int) {
			for c := c0; c < c1; c++ {
				i0, i1 := c*per, min((c+1)*per, g.n)
				xc, dyc, release := b.roundPairTo(prec, xs[i0*inLen:i1*inLen], dys[i0*outLen:i1*outLen])
				b.filterChunkShifted(&g, s, xc, dyc, 0, i1-i0, partials[c])
				release()
			}
		})
	} else {
		b.filterChunksIm2col(prec, &g, xs, dys, per, chunks, inner, partials)
	}
	if chunks > 1 {
		out := dw.Host
		parallelFor(wLen, elemGrain, func(lo, hi int) {
			addPartials(out[lo:hi], partials[1:chunks], lo, false)
		})
		for c := 1; c < chunks; c++ {
			b.scratch.put(partials[c])
		}
	}
	return nil
}

// addPartials adds the partials' elements lo..lo+len(acc)-1 into acc, one
// partial after the other (the order that makes dw independent of
// GOMAXPROCS): with vec.Add (AVX2 when available), or with the element
// loop when element is set (the loop before vec.Add took it over; the
// reference of its test and benchmark). Each element gets the same
// additions in the same order either way, so the sums are bit-identical.
func addPartials(acc []float32, partials [][]float32, lo int, element bool) {
	for _, p := range partials {
		src := p[lo : lo+len(acc)]
		if !element {
			vec.Add(acc, acc, src)
			continue
		}
		for j, v := range src {
			acc[j] += v
		}
	}
}

// filterChunksIm2col computes each chunk's partial weight gradient with
// im2col + gemm over groups of images.
func (b *Backend) filterChunksIm2col(prec backend.Precision, gp *convGeom, xs, dys []float32, per, chunks, inner int, partials [][]float32) {
	g := *gp
	group := min(g.groupSize(), per)
	inLen, outLen := g.cin*g.h*g.w, g.cout*g.colLen
	parallelFor(chunks, 1, func(c0, c1 int) {
		s := b.getConvScratch(&g, group)
		defer b.putConvScratch(s)
		for c := c0; c < c1; c++ {
			start, end := c*per, min((c+1)*per, g.n)
			// The chunk's images of x and dy, rounded to prec.
			xc, dyc, release := b.roundPairTo(prec, xs[start*inLen:end*inLen], dys[start*outLen:end*outLen])
			beta := float32(0)
			for i0 := 0; i0 < end-start; i0 += group {
				nb := min(group, end-start-i0)
				cols := nb * g.colLen
				dyg := g.gatherOut(dyc, i0, nb, s)
				cm := g.columns(xc, i0, nb, s)
				gemm.SgemmThreads(inner, false, true, g.cout, g.colRows, cols, 1, dyg, cols, cm, cols, beta, partials[c], g.colRows)
				beta = 1
			}
			release()
		}
	})
}
