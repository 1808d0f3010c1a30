package augment

import (
	"image"
	"image/color"
	"testing"
)

func TestAxisWeights(t *testing.T) {
	tests := []struct {
		name                                     string
		srcStart, srcLen, outLen, outStart, outN int
		centreTol                                float64 // source pixels
	}{
		// A triangle sampled at pixel centres is exactly centred for
		// upscaling and integer factors, and slightly off otherwise (as in
		// PIL), by a fraction of a pixel; a half-pixel alignment error would
		// exceed the 0.2 tolerance.
		{"identity", 0, 32, 32, 0, 32, 1e-4},
		{"upscale", 5, 7, 32, 0, 32, 1e-4},
		{"downscale x2", 0, 64, 32, 0, 32, 1e-4},
		{"downscale x7.3", 3, 1642, 224, 0, 224, 0.2},
		{"crop of resized axis", 10, 500, 298, 37, 224, 0.2},
		{"single source pixel", 4, 1, 9, 0, 9, 1e-4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var a axisWeights
			a.build(tc.srcStart, tc.srcLen, tc.outLen, tc.outStart, tc.outN, false)
			if len(a.start) != tc.outN {
				t.Fatalf("%d outputs, want %d", len(a.start), tc.outN)
			}
			if a.lo < tc.srcStart || a.hi > tc.srcStart+tc.srcLen {
				t.Fatalf("source range [%d,%d) leaves [%d,%d)", a.lo, a.hi, tc.srcStart, tc.srcStart+tc.srcLen)
			}
			scale := float64(tc.srcLen) / float64(tc.outLen)
			for k := range tc.outN {
				w := a.w[k*a.taps:][:a.taps]
				var sum, mom float64
				for tp, v := range w {
					if v < 0 {
						t.Fatalf("output %d: negative weight %v", k, v)
					}
					sum += float64(v)
					mom += float64(v) * (float64(a.start[k]+tp) + 0.5)
				}
				if !near(sum, 1, 1e-5) {
					t.Fatalf("output %d: weights sum to %v", k, sum)
				}
				// Away from the edges the filter is centred on the output's
				// position in source coordinates.
				centre := float64(tc.srcStart) + (float64(tc.outStart+k)+0.5)*scale
				support := max(scale, 1)
				if centre-support >= float64(tc.srcStart) && centre+support <= float64(tc.srcStart+tc.srcLen) && !near(mom, centre, tc.centreTol) {
					t.Fatalf("output %d: filter centred at %v, want %v", k, mom, centre)
				}
			}
			var r axisWeights
			r.build(tc.srcStart, tc.srcLen, tc.outLen, tc.outStart, tc.outN, true)
			for k := range tc.outN {
				if r.start[k] != a.start[tc.outN-1-k] {
					t.Fatalf("reversed weights: output %d starts at %d, want %d", k, r.start[k], a.start[tc.outN-1-k])
				}
			}
		})
	}
}

// rampImage has R = x, G = y, B = 0 (in 8-bit levels).
func rampImage(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x), uint8(y), 0, 255})
		}
	}
	return img
}

func TestResampleLinearRamp(t *testing.T) {
	// A triangle filter reproduces a linear function wherever its window is
	// not clipped (exactly for upscaling and integer factors), so the output
	// equals the ramp at each output pixel's centre in source coordinates.
	tests := []struct {
		name       string
		srcW, srcH int
		outW, outH int
		tol        float64 // levels; see TestAxisWeights for non-integer factors
	}{
		{"down x2", 200, 160, 100, 80, 1e-3},
		{"down x3.7", 222, 185, 60, 50, 0.08},
		{"up x2.5", 40, 30, 100, 75, 1e-3},
		{"mixed", 100, 20, 50, 60, 1e-3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := rampImage(tc.srcW, tc.srcH)
			var xa, ya axisWeights
			xa.build(0, tc.srcW, tc.outW, 0, tc.outW, false)
			ya.build(0, tc.srcH, tc.outH, 0, tc.outH, false)
			dst := make([]float32, 3*tc.outW*tc.outH)
			resample(img, &xa, &ya, 3, dst, new(scratch))
			sx, sy := float64(tc.srcW)/float64(tc.outW), float64(tc.srcH)/float64(tc.outH)
			checked := 0
			for y := range tc.outH {
				cy := (float64(y) + 0.5) * sy
				for x := range tc.outW {
					cx := (float64(x) + 0.5) * sx
					if cx-max(sx, 1) < 0 || cx+max(sx, 1) > float64(tc.srcW) || cy-max(sy, 1) < 0 || cy+max(sy, 1) > float64(tc.srcH) {
						continue // window clipped at the border
					}
					checked++
					gotR := float64(dst[y*tc.outW+x]) * 255
					gotG := float64(dst[(tc.outH+y)*tc.outW+x]) * 255
					if !near(gotR, cx-0.5, tc.tol) || !near(gotG, cy-0.5, tc.tol) {
						t.Fatalf("(%d,%d): R,G = %v,%v levels, want %v,%v", x, y, gotR, gotG, cx-0.5, cy-0.5)
					}
					if b := dst[(2*tc.outH+y)*tc.outW+x]; b != 0 {
						t.Fatalf("(%d,%d): B = %v, want 0", x, y, b)
					}
				}
			}
			if checked < tc.outW*tc.outH/3 {
				t.Fatalf("only %d interior pixels checked", checked)
			}
		})
	}
}

func TestResampleAntialiasesStep(t *testing.T) {
	// Halving a black|white step: output column 19 (centre at source 39)
	// averages source columns 37..40 with triangle weights 1:3:3:1, so it
	// gets 1/8 of the white column 40. Plain 2-tap bilinear would give 0.
	img := image.NewGray(image.Rect(0, 0, 80, 8))
	for y := range 8 {
		for x := 40; x < 80; x++ {
			img.Pix[y*80+x] = 255
		}
	}
	var xa, ya axisWeights
	xa.build(0, 80, 40, 0, 40, false)
	ya.build(0, 8, 4, 0, 4, false)
	dst := make([]float32, 40*4)
	resample(img, &xa, &ya, 1, dst, new(scratch))
	want := map[int]float64{17: 0, 18: 0, 19: 0.125, 20: 0.875, 21: 1}
	for x, w := range want {
		if !near(float64(dst[40+x]), w, 1e-6) {
			t.Errorf("column %d = %v, want %v", x, dst[40+x], w)
		}
	}
}
