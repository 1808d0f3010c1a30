package augment

import "math"

// gaussianKernel fills k (odd length) with a normalised 1-D Gaussian of the
// given sigma sampled at integer offsets -(len-1)/2 .. (len-1)/2.
func gaussianKernel(k []float32, sigma float64) {
	half := float64(len(k)-1) / 2
	var sum float64
	for i := range k {
		x := (float64(i) - half) / sigma
		sum += math.Exp(-0.5 * x * x)
	}
	for i := range k {
		x := (float64(i) - half) / sigma
		k[i] = float32(math.Exp(-0.5*x*x) / sum)
	}
}

// reflectIndex maps i into [0,n) by mirroring about the edge pixels without
// repeating them (torch "reflect" padding), extended periodically when the
// kernel is wider than the image.
func reflectIndex(i, n int) int {
	if n == 1 {
		return 0
	}
	period := 2 * (n - 1)
	i %= period
	if i < 0 {
		i += period
	}
	if i >= n {
		i = period - i
	}
	return i
}

// gaussianBlur convolves each of the channels planes (w x h) with the
// separable kernel k (odd length) using reflect padding, in place. ws
// provides the scratch buffers.
func gaussianBlur(planes []float32, channels, w, h int, k []float32, ws *scratch) {
	r := len(k) / 2
	ws.pad = grow(ws.pad, w+2*r)
	ws.blur = grow(ws.blur, w*h)
	ws.rows = grow(ws.rows, len(k))
	pad, tmp := ws.pad, ws.blur
	for c := range channels {
		plane := planes[c*w*h:][:w*h]
		// Horizontal pass into tmp through a reflect-padded row.
		for y := range h {
			row := plane[y*w:][:w]
			copy(pad[r:], row)
			for i := range r {
				pad[r-1-i] = row[reflectIndex(-1-i, w)]
				pad[r+w+i] = row[reflectIndex(w+i, w)]
			}
			convolveRow(tmp[y*w:][:w], pad, k)
		}
		// Vertical pass back into the plane, whole rows at a time.
		for y := range h {
			for t := range k {
				ws.rows[t] = tmp[reflectIndex(y-r+t, h)*w:][:w]
			}
			weightedRowSum(plane[y*w:][:w], ws.rows, k)
		}
	}
}

// trimKernel drops the symmetric outer taps of a normalised Gaussian kernel
// that are below 1e-8: together they weigh less than one float32 ulp of the
// result, and skipping them saves most of the work for small sigmas and
// avoids denormal arithmetic.
func trimKernel(k []float32) []float32 {
	i := 0
	for i < len(k)/2 && k[i] < 1e-8 {
		i++
	}
	return k[i : len(k)-i]
}
