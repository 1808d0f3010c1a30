package augment

import (
	"math"
	"testing"
)

// expectedCropAreaMean integrates, independently of the implementation, the
// mean area fraction of RandomResizedCrop on a W×H image (rounding ignored):
// each attempt draws s ~ U(scale), log r ~ U(log ratio) and is accepted when
// the box fits; after 10 failures the fallback crop has area fallbackFrac.
func expectedCropAreaMean(w, h float64, scale, ratio [2]float64, fallbackFrac float64) float64 {
	const n = 600
	var acc, sumS float64
	for i := range n {
		s := scale[0] + (scale[1]-scale[0])*(float64(i)+0.5)/n
		for j := range n {
			r := math.Exp(math.Log(ratio[0]) + (math.Log(ratio[1])-math.Log(ratio[0]))*(float64(j)+0.5)/n)
			a := s * w * h
			if math.Sqrt(a*r) <= w && math.Sqrt(a/r) <= h {
				acc++
				sumS += s
			}
		}
	}
	pAcc := acc / (n * n)
	pFail := math.Pow(1-pAcc, 10)
	return (1-pFail)*(sumS/acc) + pFail*fallbackFrac
}

func TestRandomResizedCropDistribution(t *testing.T) {
	tests := []struct {
		name         string
		w, h         int
		scale, ratio [2]float64
		fallbackFrac float64
	}{
		{"simclr square", 1000, 1000, [2]float64{0.08, 1}, [2]float64{3. / 4, 4. / 3}, 1},
		{"simclr landscape", 1200, 800, [2]float64{0.08, 1}, [2]float64{3. / 4, 4. / 3}, (4. / 3 * 800) / 1200},
		{"always fits", 1000, 800, [2]float64{0.08, 0.5}, [2]float64{3. / 4, 4. / 3}, 1},
		{"narrow scale", 900, 900, [2]float64{0.2, 0.3}, [2]float64{0.5, 2}, 1},
	}
	const samples = 20000
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := newRNG(1)
			area := float64(tc.w * tc.h)
			// Rounding w and h to integers moves the area by at most
			// about half a pixel row and column.
			tolArea := (0.5*float64(tc.w+tc.h) + 1) / area
			var sum float64
			for i := range samples {
				x, y, w, h := randomResizedCrop(tc.w, tc.h, tc.scale, tc.ratio, rng)
				if x < 0 || y < 0 || w < 1 || h < 1 || x+w > tc.w || y+h > tc.h {
					t.Fatalf("sample %d: box (%d,%d,%d,%d) outside %dx%d", i, x, y, w, h, tc.w, tc.h)
				}
				frac := float64(w*h) / area
				if frac < tc.scale[0]-tolArea || frac > tc.scale[1]+tolArea {
					t.Fatalf("sample %d: area fraction %v outside %v", i, frac, tc.scale)
				}
				r := float64(w) / float64(h)
				tolR := 1.0/float64(h) + float64(w)/float64(h*h) // one pixel of rounding on either side
				if r < tc.ratio[0]*(1-tolR)-1e-9 || r > tc.ratio[1]*(1+tolR)+1e-9 {
					t.Fatalf("sample %d: aspect %v (w=%d h=%d) outside %v", i, r, w, h, tc.ratio)
				}
				sum += frac
			}
			mean := sum / samples
			want := expectedCropAreaMean(float64(tc.w), float64(tc.h), tc.scale, tc.ratio, tc.fallbackFrac)
			// Standard error of the mean is below (range/sqrt(12))/sqrt(n) ~ 0.002.
			t.Logf("mean area fraction %.4f, integrated expectation %.4f", mean, want)
			if math.Abs(mean-want) > 0.01 {
				t.Errorf("mean area fraction %.4f, want %.4f ± 0.01", mean, want)
			}
		})
	}
}

func TestRandomResizedCropFallback(t *testing.T) {
	// No attempt can fit (the image is far outside the ratio range and the
	// scale is large), so the centre crop with the ratio clamped is used.
	tests := []struct {
		name         string
		w, h         int
		wantX, wantY int
		wantW, wantH int
	}{
		{"wide", 1000, 100, 433, 0, 133, 100},
		{"tall", 100, 1000, 0, 433, 100, 133},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := newRNG(3)
			for range 20 {
				x, y, w, h := randomResizedCrop(tc.w, tc.h, [2]float64{0.9, 1}, [2]float64{3. / 4, 4. / 3}, rng)
				if x != tc.wantX || y != tc.wantY || w != tc.wantW || h != tc.wantH {
					t.Fatalf("crop = (%d,%d,%d,%d), want (%d,%d,%d,%d)", x, y, w, h, tc.wantX, tc.wantY, tc.wantW, tc.wantH)
				}
			}
		})
	}
}

func TestRandomResizedCropPositionsCoverImage(t *testing.T) {
	// Small crops must land all over the image, not only in one place.
	rng := newRNG(5)
	var left, right, top, bottom bool
	for range 2000 {
		x, y, w, h := randomResizedCrop(200, 200, [2]float64{0.08, 0.1}, [2]float64{1, 1}, rng)
		left = left || x < 20
		right = right || x+w > 180
		top = top || y < 20
		bottom = bottom || y+h > 180
	}
	if !left || !right || !top || !bottom {
		t.Errorf("crop positions did not reach every edge: left=%v right=%v top=%v bottom=%v", left, right, top, bottom)
	}
}
