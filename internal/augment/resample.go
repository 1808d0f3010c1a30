package augment

import (
	"image"
	"math"
)

// axisWeights holds the 1-D resampling filter of one axis: output k is
// sum_t w[k*taps+t] * src[start[k]+t], with source indices in absolute image
// coordinates. All windows lie inside [lo,hi).
type axisWeights struct {
	start  []int
	w      []float32
	taps   int
	lo, hi int
	// scratch: positive-weight window of each output
	plo, phi []int
}

// build computes the triangle-filter (bilinear) weights that resize the
// source span [srcStart, srcStart+srcLen) to outLen samples, keeping only
// the outCount outputs starting at outStart (a centre crop of the resized
// axis). When downscaling the filter is widened by the scale factor, which
// is PIL's and torchvision's antialiased bilinear resize; when upscaling it
// is plain bilinear interpolation with half-pixel centres and edge clamping.
// Reverse stores the outputs in reverse order (a horizontal flip).
func (a *axisWeights) build(srcStart, srcLen, outLen, outStart, outCount int, reverse bool) {
	scale := float64(srcLen) / float64(outLen)
	support := max(scale, 1) // triangle half-width in source pixels
	inv := 1 / support
	srcEnd := srcStart + srcLen

	a.start = grow(a.start, outCount)
	a.plo, a.phi = grow(a.plo, outCount), grow(a.phi, outCount)
	taps := 1
	for k := range outCount {
		centre := float64(srcStart) + (float64(outStart+k)+0.5)*scale
		// Source pixel j (centre j+0.5) has positive weight iff
		// |j+0.5-centre| < support.
		lo := int(math.Floor(centre-support-0.5)) + 1
		hi := int(math.Ceil(centre+support-0.5)) - 1
		lo, hi = max(lo, srcStart), min(hi, srcEnd-1)
		if hi < lo { // cannot happen for valid spans; keep one sample
			lo = min(max(int(centre), srcStart), srcEnd-1)
			hi = lo
		}
		a.plo[k], a.phi[k] = lo, hi
		taps = max(taps, hi-lo+1)
	}
	taps = min(taps, srcLen)
	a.taps = taps
	a.w = grow(a.w, outCount*taps)
	a.lo, a.hi = srcEnd, srcStart
	for k := range outCount {
		centre := float64(srcStart) + (float64(outStart+k)+0.5)*scale
		st := min(max(a.plo[k], srcStart), srcEnd-taps)
		var sum float64
		for t := range taps {
			sum += max(0, 1-math.Abs(float64(st+t)+0.5-centre)*inv)
		}
		dst := a.w[k*taps:][:taps]
		for t := range taps {
			dst[t] = float32(max(0, 1-math.Abs(float64(st+t)+0.5-centre)*inv) / sum)
		}
		a.start[k] = st
		a.lo, a.hi = min(a.lo, st), max(a.hi, st+taps)
	}
	if reverse {
		for i, j := 0, outCount-1; i < j; i, j = i+1, j-1 {
			a.start[i], a.start[j] = a.start[j], a.start[i]
			wi, wj := a.w[i*taps:][:taps], a.w[j*taps:][:taps]
			for t := range taps {
				wi[t], wj[t] = wj[t], wi[t]
			}
		}
	}
}

// grow returns s resized to n elements, reallocating only when needed.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// resample reads the source rows and columns that xa and ya need from img
// and writes channels planes of len(ya.start) x len(xa.start) values in
// [0,1] to dst. ws provides the scratch buffers.
func resample(img image.Image, xa, ya *axisWeights, channels int, dst []float32, ws *scratch) {
	outW, outH := len(xa.start), len(ya.start)
	rowW, nRows := xa.hi-xa.lo, ya.hi-ya.lo
	ws.row = grow(ws.row, channels*rowW)
	ws.tmp = grow(ws.tmp, channels*nRows*outW)
	ws.rows = grow(ws.rows, ya.taps)

	// Horizontal pass: each needed source row -> outW samples per channel.
	for y := ya.lo; y < ya.hi; y++ {
		loadRow(img, y, xa.lo, xa.hi, channels, ws.row, rowW)
		for c := range channels {
			gatherRow(ws.tmp[(c*nRows+y-ya.lo)*outW:][:outW], ws.row[c*rowW:][:rowW], xa.start, xa.lo, xa.w, xa.taps)
		}
	}

	// Vertical pass: each output row is a weighted sum of whole rows.
	yt := ya.taps
	for c := range channels {
		plane := ws.tmp[c*nRows*outW:][:nRows*outW]
		for ky := range outH {
			first := ya.start[ky] - ya.lo
			for t := range yt {
				ws.rows[t] = plane[(first+t)*outW:][:outW]
			}
			weightedRowSum(dst[(c*outH+ky)*outW:][:outW], ws.rows, ya.w[ky*yt:][:yt])
		}
	}
}

// scratch holds the reusable buffers of resample and gaussianBlur.
type scratch struct {
	row, tmp, pad, blur []float32
	rows                [][]float32
}
