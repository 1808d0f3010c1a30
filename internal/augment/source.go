package augment

import (
	"image"
	"image/color"
)

// Luma weights (ITU-R 601-2), as used by torchvision/PIL for grayscale.
const (
	lumaR = 0.299
	lumaG = 0.587
	lumaB = 0.114
)

// u8 maps an 8-bit sample to [0,1].
var u8 = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()

// loadRow reads pixels (x0..x1-1, y) of img, in absolute image coordinates,
// as values in [0,1] into out: channel c occupies out[c*stride:][:x1-x0].
// With channels == 1 colour pixels are converted to luma; with channels == 3
// gray pixels are replicated. Alpha is dropped (straight colour is kept), as
// PIL's convert("RGB") does. The caller guarantees the span is in bounds.
func loadRow(img image.Image, y, x0, x1, channels int, out []float32, stride int) {
	n := x1 - x0
	switch m := img.(type) {
	case *image.NRGBA:
		pix := m.Pix[m.PixOffset(x0, y):][:4*n]
		if channels == 3 {
			r, g, b := out[:n], out[stride:][:n], out[2*stride:][:n]
			for i := range n {
				p := pix[4*i : 4*i+3]
				r[i], g[i], b[i] = u8[p[0]], u8[p[1]], u8[p[2]]
			}
		} else {
			l := out[:n]
			for i := range n {
				p := pix[4*i : 4*i+3]
				l[i] = lumaR*u8[p[0]] + lumaG*u8[p[1]] + lumaB*u8[p[2]]
			}
		}
	case *image.RGBA:
		pix := m.Pix[m.PixOffset(x0, y):][:4*n]
		for i := range n {
			p := pix[4*i : 4*i+4]
			r, g, b := u8[p[0]], u8[p[1]], u8[p[2]]
			if a := p[3]; a != 255 {
				r, g, b = unpremultiply(r, g, b, u8[a])
			}
			storePixel(out, stride, i, channels, r, g, b)
		}
	case *image.Gray:
		pix := m.Pix[m.PixOffset(x0, y):][:n]
		for c := range channels {
			dst := out[c*stride:][:n]
			for i, v := range pix {
				dst[i] = u8[v]
			}
		}
	case *image.YCbCr:
		for i := range n {
			yi, ci := m.YOffset(x0+i, y), m.COffset(x0+i, y)
			R, G, B := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
			storePixel(out, stride, i, channels, u8[R], u8[G], u8[B])
		}
	default:
		// Any other image type: one interface call per pixel. The decoders
		// used for training data (PNG, JPEG) produce the fast-path types.
		for i := range n {
			R, G, B, A := img.At(x0+i, y).RGBA()
			r, g, b := float32(R)/0xffff, float32(G)/0xffff, float32(B)/0xffff
			if A != 0xffff {
				r, g, b = unpremultiply(r, g, b, float32(A)/0xffff)
			}
			storePixel(out, stride, i, channels, r, g, b)
		}
	}
}

// storePixel writes one RGB pixel in [0,1] to the planes of out.
func storePixel(out []float32, stride, i, channels int, r, g, b float32) {
	if channels == 3 {
		out[i], out[stride+i], out[2*stride+i] = r, g, b
		return
	}
	out[i] = lumaR*r + lumaG*g + lumaB*b
}

// unpremultiply turns alpha-premultiplied colour into straight colour; fully
// transparent pixels become black.
func unpremultiply(r, g, b, a float32) (float32, float32, float32) {
	if a == 0 {
		return 0, 0, 0
	}
	return min(r/a, 1), min(g/a, 1), min(b/a, 1)
}
