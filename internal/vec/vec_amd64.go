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
