//go:build !amd64 || noasm

package vec

func sumSqShiftBody(v []float32, shift float64) (s, sq float64) { return sumSqShiftGo(v, shift) }

func sumDotDevBody(x, g []float32, mean float64) (sg, sgx float64) {
	return sumDotDevGo(x, g, mean)
}

func affineBody(dst, src []float32, mean, scale, shift float32) {
	affineGo(dst, src, mean, scale, shift)
}

func batchNormDxBody(dx, x, dy []float32, k, a, mean, bcoef float32) {
	batchNormDxGo(dx, x, dy, k, a, mean, bcoef)
}
