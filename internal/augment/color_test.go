package augment

import (
	"math"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestHueShift(t *testing.T) {
	tests := []struct {
		name  string
		in    [3]float32
		shift float32
		want  [3]float32
	}{
		{"red +1/3 is green", [3]float32{1, 0, 0}, 1. / 3, [3]float32{0, 1, 0}},
		{"red +2/3 is blue", [3]float32{1, 0, 0}, 2. / 3, [3]float32{0, 0, 1}},
		{"red -1/3 is blue", [3]float32{1, 0, 0}, -1. / 3, [3]float32{0, 0, 1}},
		{"green +1/3 is blue", [3]float32{0, 1, 0}, 1. / 3, [3]float32{0, 0, 1}},
		{"blue +1/3 is red", [3]float32{0, 0, 1}, 1. / 3, [3]float32{1, 0, 0}},
		{"red +1/6 is yellow", [3]float32{1, 0, 0}, 1. / 6, [3]float32{1, 1, 0}},
		{"dark red +1/2 is dark cyan", [3]float32{0.5, 0.1, 0.1}, 0.5, [3]float32{0.1, 0.5, 0.5}},
		{"gray unchanged", [3]float32{0.4, 0.4, 0.4}, 0.3, [3]float32{0.4, 0.4, 0.4}},
		{"zero shift unchanged", [3]float32{0.2, 0.7, 0.3}, 0, [3]float32{0.2, 0.7, 0.3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			planes := []float32{tc.in[0], tc.in[1], tc.in[2]}
			adjustHue(planes, 1, tc.shift)
			for c := range 3 {
				if !near(float64(planes[c]), float64(tc.want[c]), 1e-5) {
					t.Fatalf("got %v, want %v", planes, tc.want)
				}
			}
		})
	}
}

func TestHueShiftRoundTripKeepsSaturationAndValue(t *testing.T) {
	rng := newRNG(2)
	for range 2000 {
		r, g, b := float32(rng.Float64()), float32(rng.Float64()), float32(rng.Float64())
		shift := float32(rng.Float64() - 0.5)
		r2, g2, b2 := hueShift(r, g, b, shift)
		if !near(float64(max(r2, g2, b2)), float64(max(r, g, b)), 1e-6) || !near(float64(min(r2, g2, b2)), float64(min(r, g, b)), 1e-6) {
			t.Fatalf("hue shift of (%v,%v,%v) by %v changed max/min: (%v,%v,%v)", r, g, b, shift, r2, g2, b2)
		}
		r3, g3, b3 := hueShift(r2, g2, b2, -shift)
		if !near(float64(r3), float64(r), 1e-4) || !near(float64(g3), float64(g), 1e-4) || !near(float64(b3), float64(b), 1e-4) {
			t.Fatalf("shift %v and back: (%v,%v,%v) -> (%v,%v,%v)", shift, r, g, b, r3, g3, b3)
		}
	}
}

func TestBrightnessContrastSaturation(t *testing.T) {
	// Two RGB pixels: (0.2,0.4,0.6) and (0.8,0.5,0.1).
	base := func() []float32 { return []float32{0.2, 0.8, 0.4, 0.5, 0.6, 0.1} }
	l0 := 0.299*0.2 + 0.587*0.4 + 0.114*0.6
	l1 := 0.299*0.8 + 0.587*0.5 + 0.114*0.1
	mean := (l0 + l1) / 2
	tests := []struct {
		name  string
		apply func([]float32)
		want  []float64
	}{
		{"brightness 1.5 clamps at 1", func(p []float32) { adjustBrightness(p, 1.5) },
			[]float64{0.3, 1, 0.6, 0.75, 0.9, 0.15}},
		{"brightness 0 is black", func(p []float32) { adjustBrightness(p, 0) },
			[]float64{0, 0, 0, 0, 0, 0}},
		{"contrast 0 is the gray mean", func(p []float32) { adjustContrast(p, 3, 2, 0) },
			[]float64{mean, mean, mean, mean, mean, mean}},
		{"contrast 2 doubles distance to the mean, clamped", func(p []float32) { adjustContrast(p, 3, 2, 2) },
			[]float64{0, 1, 2*0.4 - mean, 2*0.5 - mean, 2*0.6 - mean, 0}}, // 2*0.2-mean < 0, 2*0.8-mean > 1
		{"saturation 0 is grayscale", func(p []float32) { adjustSaturation(p, 2, 0) },
			[]float64{l0, l1, l0, l1, l0, l1}},
		{"saturation 1.5", func(p []float32) { adjustSaturation(p, 2, 1.5) },
			[]float64{1.5*0.2 - 0.5*l0, 1.5*0.8 - 0.5*l1, 1.5*0.4 - 0.5*l0, 1.5*0.5 - 0.5*l1, 1.5*0.6 - 0.5*l0, 0}},
		{"grayscale", func(p []float32) { toGray(p, 2) },
			[]float64{l0, l1, l0, l1, l0, l1}},
		{"solarize at 0.5", func(p []float32) { solarize(p, 0.5) },
			[]float64{0.2, 0.2, 0.4, 0.5, 0.4, 0.1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := base()
			tc.apply(p)
			for i := range p {
				if !near(float64(p[i]), tc.want[i], 1e-6) {
					t.Fatalf("got %v, want %v", p, tc.want)
				}
			}
		})
	}
}

func TestContrastOneChannelUsesPlaneMean(t *testing.T) {
	p := []float32{0.1, 0.3, 0.5, 0.7}
	adjustContrast(p, 1, 4, 0.5)
	want := []float64{0.25, 0.35, 0.45, 0.55}
	for i := range p {
		if !near(float64(p[i]), want[i], 1e-6) {
			t.Fatalf("got %v, want %v", p, want)
		}
	}
}
