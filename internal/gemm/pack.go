package gemm

import "simclr/internal/vec"

// Packing copies a block of op(A) or op(B) into the contiguous layout the
// micro-kernels read, resolving transposes and strides once per block so the
// kernel sees a single layout. Rows or columns past the edge of the matrix are
// filled with zeros so edge tiles can run the same kernel.

// packA packs rows i0..i0+mc-1 and columns p0..p0+kc-1 of op(A) into dst as
// ceil(mc/mr) micro-panels; panel r holds, for p = 0..kc-1, the mr values
// op(A)[i0+r*mr+i][p0+p] at dst[r*mr*kc + p*mr + i].
func packA(dst []float32, trans bool, a []float32, lda, i0, mc, p0, kc int) {
	for ir := 0; ir < mc; ir += mr {
		rows := min(mr, mc-ir)
		d := dst[ir*kc : ir*kc+kc*mr]
		if trans {
			// op(A)[i][p] = a[p*lda+i]: each k-step is a contiguous run of rows.
			for p := 0; p < kc; p++ {
				src := a[(p0+p)*lda+i0+ir:]
				dp := d[p*mr : p*mr+mr : p*mr+mr]
				if rows == mr {
					dp[0], dp[1], dp[2], dp[3], dp[4], dp[5] = src[0], src[1], src[2], src[3], src[4], src[5]
					continue
				}
				copy(dp, src[:rows])
				clear(dp[rows:])
			}
			continue
		}
		// op(A)[i][p] = a[i*lda+p]: interleave mr row streams.
		if rows == mr {
			base := (i0+ir)*lda + p0
			r0 := a[base : base+kc]
			r1 := a[base+lda : base+lda+kc]
			r2 := a[base+2*lda : base+2*lda+kc]
			r3 := a[base+3*lda : base+3*lda+kc]
			r4 := a[base+4*lda : base+4*lda+kc]
			r5 := a[base+5*lda : base+5*lda+kc]
			for p := 0; p < kc; p++ {
				dp := d[p*mr : p*mr+mr : p*mr+mr]
				dp[0], dp[1], dp[2], dp[3], dp[4], dp[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
			}
			continue
		}
		clear(d)
		for i := 0; i < rows; i++ {
			base := (i0+ir+i)*lda + p0
			src := a[base : base+kc]
			for p, v := range src {
				d[p*mr+i] = v
			}
		}
	}
}

// packB packs rows p0..p0+kc-1 and columns j0..j0+nc-1 of op(B) into dst as
// ceil(nc/nr) micro-panels; panel s holds, for p = 0..kc-1, the nr values
// op(B)[p0+p][j0+s*nr+j] at dst[s*nr*kc + p*nr + j].
func packB(dst []float32, trans bool, b []float32, ldb, p0, kc, j0, nc int) {
	if !trans {
		// op(B)[p][j] = b[p*ldb+j]: read each row of the block once, scatter
		// its nr-wide pieces into the panels.
		full := nc / nr * nr
		if full > 0 {
			packBRows(dst, b[p0*ldb+j0:], kc, full/nr, ldb)
		}
		if full < nc {
			for p := 0; p < kc; p++ {
				base := (p0+p)*ldb + j0
				row := b[base : base+nc]
				off := full*kc + p*nr
				dp := dst[off : off+nr]
				n := copy(dp, row[full:])
				clear(dp[n:])
			}
		}
		return
	}
	// op(B)[p][j] = b[j*ldb+p]: each column of op(B) is a contiguous row of b.
	for jr := 0; jr < nc; jr += nr {
		cols := min(nr, nc-jr)
		d := dst[jr*kc : jr*kc+kc*nr]
		if cols == nr {
			packBTransPanel(d, b[(j0+jr)*ldb+p0:], kc, ldb)
			continue
		}
		if cols < nr {
			clear(d)
		}
		for j := 0; j < cols; j++ {
			base := (j0+jr+j)*ldb + p0
			src := b[base : base+kc]
			for p, v := range src {
				d[p*nr+j] = v
			}
		}
	}
}

// packBRowsGo is the portable form of packBRows.
func packBRowsGo(dst, src []float32, kc, panels, ldb int) {
	for p := 0; p < kc; p++ {
		row := src[p*ldb : p*ldb+panels*nr]
		for s := 0; s < panels; s++ {
			off := s*kc*nr + p*nr
			d := dst[off : off+nr : off+nr]
			r := row[s*nr : s*nr+nr : s*nr+nr]
			for j := range d {
				d[j] = r[j]
			}
		}
	}
}

// packBTransPanel packs one full micro-panel of a transposed B: the nr rows
// src[j*ldb : j*ldb+kc] (j = 0..nr-1) become d[p*nr+j], a transpose done
// by vec.Transpose in 8x8 blocks (AVX2 shuffles; the kc mod 8 last columns
// and machines without AVX2 one element at a time). A pure copy, so the
// packed panel is the one packBTransPanelGo writes.
func packBTransPanel(d, src []float32, kc, ldb int) {
	vec.Transpose(d[:kc*nr], nr, src, ldb, nr, kc)
}

// packBTransPanelGo is packBTransPanel element by element: it reads nr
// streams at once and writes d front to back (the packing before
// vec.Transpose took it over; the reference of its test and benchmark).
func packBTransPanelGo(d, src []float32, kc, ldb int) {
	var rows [nr][]float32
	for j := range rows {
		rows[j] = src[j*ldb : j*ldb+kc : j*ldb+kc]
	}
	d = d[:kc*nr]
	// Two halves of eight streams keep the row slices in registers.
	for h := 0; h < nr; h += 8 {
		r0, r1, r2, r3 := rows[h], rows[h+1], rows[h+2], rows[h+3]
		r4, r5, r6, r7 := rows[h+4], rows[h+5], rows[h+6], rows[h+7]
		r1, r2, r3 = r1[:len(r0)], r2[:len(r0)], r3[:len(r0)]
		r4, r5, r6, r7 = r4[:len(r0)], r5[:len(r0)], r6[:len(r0)], r7[:len(r0)]
		for p := range r0 {
			o := p*nr + h
			dp := d[o : o+8 : o+8]
			dp[0], dp[1], dp[2], dp[3] = r0[p], r1[p], r2[p], r3[p]
			dp[4], dp[5], dp[6], dp[7] = r4[p], r5[p], r6[p], r7[p]
		}
	}
}
