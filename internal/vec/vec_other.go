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

const haveAVX2 = false

func transposeBlock(dst []float32, ldd int, src []float32, lds, n int) {
	for i := 0; i < n; i++ {
		for j := 0; j < 8; j++ {
			dst[j*ldd+i] = src[i*lds+j]
		}
	}
}

func reluBody(dst, src []float32)          { reluGo(dst, src) }
func reluBackwardBody(dx, y, dy []float32) { reluBackwardGo(dx, y, dy) }
func addBody(dst, a, b []float32)          { addGo(dst, a, b) }

func copyRowsAVX2(dst *float32, ldd int, src *float32, lds, rows, cols int) {
	panic("vec: copyRowsAVX2 without AVX2")
}

func copyRowsShortAVX(dst *float32, ldd int, src *float32, lds, rows, cols int) {
	panic("vec: copyRowsShortAVX without AVX2")
}

func affineReLUBody(dst, src []float32, mean, scale, shift float32) {
	affineReLUGo(dst, src, mean, scale, shift)
}

func sumDotDevMaskedBody(x, g, y []float32, mean float64) (sg, sgx float64) {
	return sumDotDevMaskedGo(x, g, y, mean)
}

func batchNormDxMaskedBody(dx, x, dy, y []float32, k, a, mean, bcoef float32) {
	batchNormDxMaskedGo(dx, x, dy, y, k, a, mean, bcoef)
}
