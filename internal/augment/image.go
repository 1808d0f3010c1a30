package augment

import (
	"image"
	"math"
)

// ToImage turns a normalised CHW view back into an image (for previews):
// each value is mapped to x*std+mean, clamped to [0,1] and quantised to 8
// bits. One channel gives an *image.Gray, three or more an *image.NRGBA of
// the first three channels, two a gray image of the first. It never panics:
// missing mean/std entries count as 0/1, values beyond the end of chw as 0,
// and non-positive sizes or an h×w larger than chw give an empty image.
func ToImage(chw []float32, c, h, w int, mean, std []float64) image.Image {
	if h <= 0 || w <= 0 || w > len(chw)/h {
		h, w = 0, 0
	}
	n := h * w
	val := func(ch, i int) uint8 {
		j := ch*n + i
		if j >= len(chw) || ch >= c {
			return 0
		}
		m, s := 0.0, 1.0
		if ch < len(mean) {
			m = mean[ch]
		}
		if ch < len(std) {
			s = std[ch]
		}
		v := float64(chw[j])*s + m
		if !(v > 0) { // also NaN
			return 0
		}
		if v >= 1 {
			return 255
		}
		return uint8(math.Round(v * 255))
	}
	if c >= 3 {
		img := image.NewNRGBA(image.Rect(0, 0, w, h))
		for i := range n {
			p := img.Pix[4*i : 4*i+4]
			p[0], p[1], p[2], p[3] = val(0, i), val(1, i), val(2, i), 255
		}
		return img
	}
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range n {
		img.Pix[i] = val(0, i)
	}
	return img
}
