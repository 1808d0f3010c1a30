//go:build !noasm

package vec

import "golang.org/x/sys/cpu"

// haveAVX2 reports whether the assembly bodies can run.
var haveAVX2 = cpu.X86.HasAVX2

// Implemented in vec_amd64.s; n is a positive multiple of 8.
//
//go:noescape
func sumSqShiftAVX2(v *float32, n int, shift float64) (s, sq float64)

//go:noescape
func sumDotDevAVX2(x, gr *float32, n int, mean float64) (sg, sgx float64)

//go:noescape
func affineAVX2(dst, src *float32, n int, mean, scale, shift float32)

//go:noescape
func batchNormDxAVX2(dx, x, dy *float32, n int, k, a, mean, bcoef float32)

func sumSqShiftBody(v []float32, shift float64) (s, sq float64) {
	if !haveAVX2 {
		return sumSqShiftGo(v, shift)
	}
	return sumSqShiftAVX2(&v[0], len(v), shift)
}

func sumDotDevBody(x, g []float32, mean float64) (sg, sgx float64) {
	if !haveAVX2 {
		return sumDotDevGo(x, g, mean)
	}
	_ = g[len(x)-1]
	return sumDotDevAVX2(&x[0], &g[0], len(x), mean)
}

func affineBody(dst, src []float32, mean, scale, shift float32) {
	if !haveAVX2 {
		affineGo(dst, src, mean, scale, shift)
		return
	}
	_ = dst[len(src)-1]
	affineAVX2(&dst[0], &src[0], len(src), mean, scale, shift)
}

func batchNormDxBody(dx, x, dy []float32, k, a, mean, bcoef float32) {
	if !haveAVX2 {
		batchNormDxGo(dx, x, dy, k, a, mean, bcoef)
		return
	}
	_ = dx[len(x)-1]
	_ = dy[len(x)-1]
	batchNormDxAVX2(&dx[0], &x[0], &dy[0], len(x), k, a, mean, bcoef)
}

// transpose8x8AVX2 transposes the 8×8 block at src (row stride lds) into
// dst (row stride ldd); transpose8x8MaskAVX2 stores only the lanes enabled
// in mask.
//
//go:noescape
func transpose8x8AVX2(dst *float32, ldd int, src *float32, lds int)

//go:noescape
func transpose8x8MaskAVX2(dst *float32, ldd int, src *float32, lds int, mask *[8]int32)

// rowMasks[n] enables the first n lanes.
var rowMasks = func() (m [9][8]int32) {
	for n := range m {
		for i := 0; i < n; i++ {
			m[n][i] = -1
		}
	}
	return m
}()

// transposeBlock transposes one 8×8 block, writing n ≤ 8 rows of src.
func transposeBlock(dst []float32, ldd int, src []float32, lds, n int) {
	_ = src[7*lds+7]
	_ = dst[7*ldd+n-1]
	if n == 8 {
		transpose8x8AVX2(&dst[0], ldd, &src[0], lds)
		return
	}
	transpose8x8MaskAVX2(&dst[0], ldd, &src[0], lds, &rowMasks[n])
}

//go:noescape
func reluAVX2(dst, src *float32, n int)

//go:noescape
func reluBackwardAVX2(dx, y, dy *float32, n int)

//go:noescape
func addAVX2(dst, a, b *float32, n int)

func reluBody(dst, src []float32) {
	if !haveAVX2 {
		reluGo(dst, src)
		return
	}
	_ = dst[len(src)-1]
	reluAVX2(&dst[0], &src[0], len(src))
}

func reluBackwardBody(dx, y, dy []float32) {
	if !haveAVX2 {
		reluBackwardGo(dx, y, dy)
		return
	}
	_ = dx[len(y)-1]
	_ = dy[len(y)-1]
	reluBackwardAVX2(&dx[0], &y[0], &dy[0], len(y))
}

func addBody(dst, a, b []float32) {
	if !haveAVX2 {
		addGo(dst, a, b)
		return
	}
	_ = dst[len(a)-1]
	_ = b[len(a)-1]
	addAVX2(&dst[0], &a[0], &b[0], len(a))
}

// copyRowsShortAVX copies rows of 4 <= cols < 8 floats (rows >= 1).
//
//go:noescape
func copyRowsShortAVX(dst *float32, ldd int, src *float32, lds, rows, cols int)

// copyRowsAVX2 copies rows of cols >= 8 floats; the last 8 floats of a row
// are copied by one unaligned load/store that may overlap the previous one.
//
//go:noescape
func copyRowsAVX2(dst *float32, ldd int, src *float32, lds, rows, cols int)

//go:noescape
func affineReLUAVX2(dst, src *float32, n int, mean, scale, shift float32)

//go:noescape
func sumDotDevMaskedAVX2(x, gr, y *float32, n int, mean float64) (sg, sgx float64)

//go:noescape
func batchNormDxMaskedAVX2(dx, x, dy, y *float32, n int, k, a, mean, bcoef float32)

func affineReLUBody(dst, src []float32, mean, scale, shift float32) {
	if !haveAVX2 {
		affineReLUGo(dst, src, mean, scale, shift)
		return
	}
	_ = dst[len(src)-1]
	affineReLUAVX2(&dst[0], &src[0], len(src), mean, scale, shift)
}

func sumDotDevMaskedBody(x, g, y []float32, mean float64) (sg, sgx float64) {
	if !haveAVX2 {
		return sumDotDevMaskedGo(x, g, y, mean)
	}
	_ = g[len(x)-1]
	_ = y[len(x)-1]
	return sumDotDevMaskedAVX2(&x[0], &g[0], &y[0], len(x), mean)
}

func batchNormDxMaskedBody(dx, x, dy, y []float32, k, a, mean, bcoef float32) {
	if !haveAVX2 {
		batchNormDxMaskedGo(dx, x, dy, y, k, a, mean, bcoef)
		return
	}
	_ = dx[len(x)-1]
	_ = dy[len(x)-1]
	_ = y[len(x)-1]
	batchNormDxMaskedAVX2(&dx[0], &x[0], &dy[0], &y[0], len(x), k, a, mean, bcoef)
}
