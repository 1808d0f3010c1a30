// Package vec holds the CPU backend's streaming loops, with AVX2 assembly
// on amd64 and portable Go elsewhere: batch normalisation (float64 sums over
// float32 data, per-element affine maps, the input gradient, each also with
// the following ReLU fused in), ReLU, add, strided row copies and an 8x8
// block transpose.
//
// Both implementations give bit-identical results: the sums use eight
// float64 accumulators (element i goes to accumulator i mod 8, as the two
// 4-lane vector registers of the assembly hold them), combined in the fixed
// order t_j = a_j + a_(j+4), ((t0 + t1) + (t2 + t3)), then the tail of
// fewer than eight elements is added in order; products and sums are
// rounded one by one (never fused), in the order the Go expressions state.
package vec

import "math"

// SumSqShift returns sum (v[i]-shift) and sum (v[i]-shift)^2 in float64.
func SumSqShift(v []float32, shift float64) (s, sq float64) {
	n := len(v) &^ 7
	if n > 0 {
		s, sq = sumSqShiftBody(v[:n], shift)
	}
	for _, x := range v[n:] {
		d := float64(x) - shift
		s += d
		sq += float64(d * d)
	}
	return s, sq
}

// SumDotDev returns sum g[i] and sum g[i]*(x[i]-mean) in float64; g must be
// at least as long as x.
func SumDotDev(x, g []float32, mean float64) (sg, sgx float64) {
	g = g[:len(x)]
	n := len(x) &^ 7
	if n > 0 {
		sg, sgx = sumDotDevBody(x[:n], g[:n], mean)
	}
	for i := n; i < len(x); i++ {
		gi := float64(g[i])
		sg += gi
		sgx += float64(gi * (float64(x[i]) - mean))
	}
	return sg, sgx
}

// Affine sets dst[i] = (src[i]-mean)*scale + shift in float32; dst must be
// at least as long as src and may alias it.
func Affine(dst, src []float32, mean, scale, shift float32) {
	dst = dst[:len(src)]
	n := len(src) &^ 7
	if n > 0 {
		affineBody(dst[:n], src[:n], mean, scale, shift)
	}
	for i := n; i < len(src); i++ {
		dst[i] = float32((src[i]-mean)*scale) + shift
	}
}

// BatchNormDx sets dx[i] = k*((dy[i]-a) - (x[i]-mean)*bcoef) in float32,
// the batch-norm input gradient; dy and dx must be at least as long as x and
// dx may alias dy.
func BatchNormDx(dx, x, dy []float32, k, a, mean, bcoef float32) {
	dx = dx[:len(x)]
	dy = dy[:len(x)]
	n := len(x) &^ 7
	if n > 0 {
		batchNormDxBody(dx[:n], x[:n], dy[:n], k, a, mean, bcoef)
	}
	for i := n; i < len(x); i++ {
		dx[i] = k * ((dy[i] - a) - float32((x[i]-mean)*bcoef))
	}
}

// AffineReLU is Affine followed by ReLU (see ReLU): dst[i] =
// relu((src[i]-mean)*scale + shift), bit-identical to the two in turn.
func AffineReLU(dst, src []float32, mean, scale, shift float32) {
	dst = dst[:len(src)]
	n := len(src) &^ 7
	if n > 0 {
		affineReLUBody(dst[:n], src[:n], mean, scale, shift)
	}
	for i := n; i < len(src); i++ {
		b := math.Float32bits(float32((src[i]-mean)*scale) + shift)
		dst[i] = math.Float32frombits(b &^ reluDropMask(b))
	}
}

// SumDotDevMasked is SumDotDev of the gradient g masked by ReLU's output y:
// g[i] counts where y[i] > 0 (see ReLUBackward) and is 0 elsewhere. y must
// be at least as long as x.
func SumDotDevMasked(x, g, y []float32, mean float64) (sg, sgx float64) {
	g = g[:len(x)]
	y = y[:len(x)]
	n := len(x) &^ 7
	if n > 0 {
		sg, sgx = sumDotDevMaskedBody(x[:n], g[:n], y[:n], mean)
	}
	for i := n; i < len(x); i++ {
		gi := float64(math.Float32frombits(math.Float32bits(g[i]) & reluKeepMask(math.Float32bits(y[i]))))
		sg += gi
		sgx += float64(gi * (float64(x[i]) - mean))
	}
	return sg, sgx
}

// BatchNormDxMasked is BatchNormDx with dy masked by ReLU's output y like
// SumDotDevMasked; dx may alias dy.
func BatchNormDxMasked(dx, x, dy, y []float32, k, a, mean, bcoef float32) {
	dx = dx[:len(x)]
	dy = dy[:len(x)]
	y = y[:len(x)]
	n := len(x) &^ 7
	if n > 0 {
		batchNormDxMaskedBody(dx[:n], x[:n], dy[:n], y[:n], k, a, mean, bcoef)
	}
	for i := n; i < len(x); i++ {
		g := math.Float32frombits(math.Float32bits(dy[i]) & reluKeepMask(math.Float32bits(y[i])))
		dx[i] = k * ((g - a) - float32((x[i]-mean)*bcoef))
	}
}

// The portable bodies; len(v) is a multiple of 8.

func sumSqShiftGo(v []float32, shift float64) (s, sq float64) {
	var a, b [8]float64
	for i := 0; i+8 <= len(v); i += 8 {
		q := v[i : i+8 : i+8]
		for j := range a {
			d := float64(q[j]) - shift
			a[j] += d
			b[j] += float64(d * d)
		}
	}
	return combine8(&a), combine8(&b)
}

func sumDotDevGo(x, g []float32, mean float64) (sg, sgx float64) {
	var a, b [8]float64
	g = g[:len(x)]
	for i := 0; i+8 <= len(x); i += 8 {
		p := x[i : i+8 : i+8]
		q := g[i : i+8 : i+8]
		for j := range a {
			gj := float64(q[j])
			a[j] += gj
			b[j] += float64(gj * (float64(p[j]) - mean))
		}
	}
	return combine8(&a), combine8(&b)
}

func affineGo(dst, src []float32, mean, scale, shift float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = float32((v-mean)*scale) + shift
	}
}

func batchNormDxGo(dx, x, dy []float32, k, a, mean, bcoef float32) {
	dx = dx[:len(x)]
	dy = dy[:len(x)]
	for i, v := range x {
		dx[i] = k * ((dy[i] - a) - float32((v-mean)*bcoef))
	}
}

func affineReLUGo(dst, src []float32, mean, scale, shift float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		b := math.Float32bits(float32((v-mean)*scale) + shift)
		dst[i] = math.Float32frombits(b &^ reluDropMask(b))
	}
}

func sumDotDevMaskedGo(x, g, y []float32, mean float64) (sg, sgx float64) {
	var a, b [8]float64
	g = g[:len(x)]
	y = y[:len(x)]
	for i := 0; i+8 <= len(x); i += 8 {
		p := x[i : i+8 : i+8]
		q := g[i : i+8 : i+8]
		r := y[i : i+8 : i+8]
		for j := range a {
			gj := float64(math.Float32frombits(math.Float32bits(q[j]) & reluKeepMask(math.Float32bits(r[j]))))
			a[j] += gj
			b[j] += float64(gj * (float64(p[j]) - mean))
		}
	}
	return combine8(&a), combine8(&b)
}

func batchNormDxMaskedGo(dx, x, dy, y []float32, k, a, mean, bcoef float32) {
	dx = dx[:len(x)]
	dy = dy[:len(x)]
	y = y[:len(x)]
	for i, v := range x {
		g := math.Float32frombits(math.Float32bits(dy[i]) & reluKeepMask(math.Float32bits(y[i])))
		dx[i] = k * ((g - a) - float32((v-mean)*bcoef))
	}
}

// combine8 adds eight lane accumulators in the fixed order of the package
// comment.
func combine8(a *[8]float64) float64 {
	t0, t1, t2, t3 := a[0]+a[4], a[1]+a[5], a[2]+a[6], a[3]+a[7]
	return (t0 + t1) + (t2 + t3)
}
