package augment

import (
	"image"
	"math"
	"strings"
	"testing"
)

func TestEvalCentreCrop(t *testing.T) {
	// The shorter side already equals size, so the view is a pure centre
	// crop; offsets round half to even like Python's round.
	tests := []struct {
		name             string
		w, h, size       int
		wantTop, wantLft int
	}{
		{"square, untouched", 32, 32, 32, 0, 0},
		{"tall by 10", 40, 50, 40, 5, 0},
		{"tall by 1 rounds 0.5 down", 40, 41, 40, 0, 0},
		{"tall by 3 rounds 1.5 up", 40, 43, 40, 2, 0},
		{"wide by 5 rounds 2.5 down", 45, 40, 40, 0, 2},
		{"wide by 7 rounds 3.5 up", 47, 40, 40, 0, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := NewEval(tc.size, 3, []float64{0, 0, 0}, []float64{1, 1, 1})
			if err != nil {
				t.Fatal(err)
			}
			dst := make([]float32, 3*tc.size*tc.size)
			if err := e.Apply(rampImage(tc.w, tc.h), nil, dst); err != nil {
				t.Fatal(err)
			}
			n := tc.size * tc.size
			for y := range tc.size {
				for x := range tc.size {
					r := math.Round(float64(dst[y*tc.size+x]) * 255)
					g := math.Round(float64(dst[n+y*tc.size+x]) * 255)
					if int(r) != tc.wantLft+x || int(g) != tc.wantTop+y {
						t.Fatalf("view (%d,%d) holds source (%v,%v), want (%d,%d)", x, y, r, g, tc.wantLft+x, tc.wantTop+y)
					}
				}
			}
		})
	}
}

func TestEvalResizesShorterSide(t *testing.T) {
	// 80x100 -> 40x50 (factor 2), then rows 5..44 are kept. Interior view
	// pixel (x,y) is centred on source (2x+1, 2(y+5)+1), where the ramp
	// value is 2x+0.5 and 2(y+5)+0.5.
	e, err := NewEval(40, 3, []float64{0, 0, 0}, []float64{1, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float32, 3*40*40)
	if err := e.Apply(rampImage(80, 100), nil, dst); err != nil {
		t.Fatal(err)
	}
	for y := 1; y < 39; y++ {
		for x := 1; x < 39; x++ {
			r := float64(dst[y*40+x]) * 255
			g := float64(dst[1600+y*40+x]) * 255
			if !near(r, 2*float64(x)+0.5, 1e-3) || !near(g, 2*float64(y+5)+0.5, 1e-3) {
				t.Fatalf("(%d,%d) = (%v,%v), want (%v,%v)", x, y, r, g, 2*float64(x)+0.5, 2*float64(y+5)+0.5)
			}
		}
	}
}

func TestEvalNormalisesAndRoundTrips(t *testing.T) {
	img := randomNRGBA(20, 20, 3)
	mean, std := []float64{0.485, 0.456, 0.406}, []float64{0.229, 0.224, 0.225}
	e, err := NewEval(20, 3, mean, std)
	if err != nil {
		t.Fatal(err)
	}
	if c, h, w := e.OutputShape(); c != 3 || h != 20 || w != 20 {
		t.Fatalf("OutputShape = %d,%d,%d", c, h, w)
	}
	dst := make([]float32, 3*400)
	if err := e.Apply(img, newRNG(1), dst); err != nil {
		t.Fatal(err)
	}
	for c := range 3 {
		want := (float64(img.Pix[c])/255 - mean[c]) / std[c]
		if !near(float64(dst[c*400]), want, 1e-5) {
			t.Errorf("channel %d pixel 0 = %v, want %v", c, dst[c*400], want)
		}
	}
	back, ok := ToImage(dst, 3, 20, 20, mean, std).(*image.NRGBA)
	if !ok {
		t.Fatal("ToImage of 3 channels is not *image.NRGBA")
	}
	for i := range back.Pix {
		if back.Pix[i] != img.Pix[i] {
			t.Fatalf("round trip byte %d = %d, want %d", i, back.Pix[i], img.Pix[i])
		}
	}
}

func TestEvalErrors(t *testing.T) {
	tests := []struct {
		name      string
		size, ch  int
		mean, std []float64
		want      string
	}{
		{"zero size", 0, 3, []float64{0, 0, 0}, []float64{1, 1, 1}, "size"},
		{"four channels", 32, 4, []float64{0, 0, 0, 0}, []float64{1, 1, 1, 1}, "channels"},
		{"short mean", 32, 3, []float64{0}, []float64{1, 1, 1}, "mean"},
		{"zero std", 32, 1, []float64{0}, []float64{0}, "std[0]"},
		{"NaN std", 32, 1, []float64{0}, []float64{math.NaN()}, "std[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewEval(tc.size, tc.ch, tc.mean, tc.std)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
	e, err := NewEval(8, 1, []float64{0.5}, []float64{0.5})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Apply(randomNRGBA(8, 8, 1), nil, make([]float32, 63)); err == nil || !strings.Contains(err.Error(), "want 64") {
		t.Errorf("short dst: err = %v", err)
	}
	if err := e.Apply(nil, nil, make([]float32, 64)); err == nil {
		t.Error("nil image accepted")
	}
	var nilEval *Eval
	if err := nilEval.Apply(randomNRGBA(8, 8, 1), nil, make([]float32, 64)); err == nil {
		t.Error("nil *Eval accepted")
	}
}

func TestToImageNeverPanics(t *testing.T) {
	tests := []struct {
		name    string
		chw     []float32
		c, h, w int
		mean    []float64
		std     []float64
		wantW   int
		wantH   int
	}{
		{"gray", []float32{0, 1, -1, 0.5}, 1, 2, 2, []float64{0.5}, []float64{0.5}, 2, 2},
		{"short data", []float32{1, 1, 1, 1}, 3, 2, 2, nil, nil, 2, 2},
		{"missing stats", make([]float32, 12), 3, 2, 2, nil, nil, 2, 2},
		{"negative size", nil, 3, -1, 4, nil, nil, 0, 0},
		{"larger than data", make([]float32, 3), 1, 2, 2, nil, nil, 0, 0},
		{"zero channels", make([]float32, 4), 0, 2, 2, nil, nil, 2, 2},
		{"NaN and Inf", []float32{float32(math.NaN()), float32(math.Inf(1))}, 1, 1, 2, nil, nil, 2, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := ToImage(tc.chw, tc.c, tc.h, tc.w, tc.mean, tc.std)
			if b := img.Bounds(); b.Dx() != tc.wantW || b.Dy() != tc.wantH {
				t.Errorf("bounds %v, want %dx%d", b, tc.wantW, tc.wantH)
			}
		})
	}
	g := ToImage([]float32{0, 1, -1, 0.5}, 1, 2, 2, []float64{0.5}, []float64{0.5}).(*image.Gray)
	if want := []uint8{128, 255, 0, 191}; string(g.Pix) != string(want) {
		t.Errorf("gray pixels %v, want %v", g.Pix, want)
	}
}
