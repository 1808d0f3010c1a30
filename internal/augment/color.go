package augment

import "math"

// The colour operations work in place on channel planes of n pixels each
// (planes[c*n:(c+1)*n]) holding values in [0,1], and clamp their result to
// [0,1] as torchvision does for float tensors.

func clamp01(v float32) float32 {
	if v < 0 {
		return 0
	}
	if v > 1 {
		return 1
	}
	return v
}

// adjustBrightness scales every value by f (f >= 0).
func adjustBrightness(planes []float32, f float32) {
	for i, v := range planes {
		planes[i] = min(v*f, 1)
	}
}

// grayMean returns the mean luma of the image (the mean of the single plane
// when channels == 1).
func grayMean(planes []float32, channels, n int) float32 {
	var sum float64
	if channels == 3 {
		r, g, b := planes[:n], planes[n:2*n], planes[2*n:3*n]
		for i := range r {
			sum += float64(lumaR*r[i] + lumaG*g[i] + lumaB*b[i])
		}
	} else {
		for _, v := range planes[:n] {
			sum += float64(v)
		}
	}
	return float32(sum / float64(n))
}

// adjustContrast blends the image with the mean of its grayscale version:
// x' = f*x + (1-f)*mean.
func adjustContrast(planes []float32, channels, n int, f float32) {
	m := (1 - f) * grayMean(planes, channels, n)
	for i, v := range planes[:channels*n] {
		planes[i] = clamp01(f*v + m)
	}
}

// adjustSaturation blends an RGB image with its grayscale version per pixel:
// x' = f*x + (1-f)*gray.
func adjustSaturation(planes []float32, n int, f float32) {
	r, g, b := planes[:n], planes[n:2*n], planes[2*n:3*n]
	k := 1 - f
	for i := range r {
		l := k * (lumaR*r[i] + lumaG*g[i] + lumaB*b[i])
		r[i] = clamp01(f*r[i] + l)
		g[i] = clamp01(f*g[i] + l)
		b[i] = clamp01(f*b[i] + l)
	}
}

// adjustHue rotates the hue of an RGB image by shift (a fraction of a full
// turn, in [-0.5,0.5]) in HSV space, keeping saturation and value.
func adjustHue(planes []float32, n int, shift float32) {
	r, g, b := planes[:n], planes[n:2*n], planes[2*n:3*n]
	for i := range r {
		r[i], g[i], b[i] = hueShift(r[i], g[i], b[i], shift)
	}
}

// hueShift rotates one RGB pixel's hue by shift turns. Gray pixels (no
// chroma) are returned unchanged.
func hueShift(r, g, b, shift float32) (float32, float32, float32) {
	hi := max(r, g, b)
	lo := min(r, g, b)
	d := hi - lo
	if d <= 0 {
		return r, g, b
	}
	var h float32 // in sixths of a turn
	switch hi {
	case r:
		h = (g - b) / d
	case g:
		h = (b-r)/d + 2
	default:
		h = (r-g)/d + 4
	}
	t := float64(h)/6 + float64(shift)
	t -= math.Floor(t)
	h6 := t * 6
	sector := int(h6)
	f := float32(h6 - float64(sector))
	// With s = d/hi and v = hi: v(1-s) = lo, v(1-sf) = hi-d*f,
	// v(1-s(1-f)) = lo+d*f.
	rise, fall := lo+d*f, hi-d*f
	switch sector {
	case 0, 6:
		return hi, rise, lo
	case 1:
		return fall, hi, lo
	case 2:
		return lo, hi, rise
	case 3:
		return lo, fall, hi
	case 4:
		return rise, lo, hi
	default:
		return hi, lo, fall
	}
}

// toGray replaces each RGB pixel by its luma in all three channels.
func toGray(planes []float32, n int) {
	r, g, b := planes[:n], planes[n:2*n], planes[2*n:3*n]
	for i := range r {
		l := min(lumaR*r[i]+lumaG*g[i]+lumaB*b[i], 1)
		r[i], g[i], b[i] = l, l, l
	}
}

// solarize inverts every value at or above threshold: x' = 1-x.
func solarize(planes []float32, threshold float32) {
	for i, v := range planes {
		if v >= threshold {
			planes[i] = 1 - v
		}
	}
}
