package augment

import (
	"math"
	"testing"
)

func TestGaussianKernel(t *testing.T) {
	for _, tc := range []struct {
		size  int
		sigma float64
	}{{3, 0.1}, {9, 1}, {23, 2}, {23, 0.5}} {
		k := make([]float32, tc.size)
		gaussianKernel(k, tc.sigma)
		var sum float64
		for i, v := range k {
			sum += float64(v)
			if v != k[len(k)-1-i] {
				t.Errorf("size %d sigma %v: kernel not symmetric: %v", tc.size, tc.sigma, k)
			}
		}
		if !near(sum, 1, 1e-6) {
			t.Errorf("size %d sigma %v: kernel sums to %v", tc.size, tc.sigma, sum)
		}
		c := tc.size / 2
		if want := math.Exp(-0.5 / (tc.sigma * tc.sigma)); k[c+1] > 1e-30 && !near(float64(k[c+1]/k[c]), want, 1e-5) {
			t.Errorf("size %d sigma %v: neighbour ratio %v, want %v", tc.size, tc.sigma, k[c+1]/k[c], want)
		}
	}
}

func TestReflectIndex(t *testing.T) {
	tests := []struct{ i, n, want int }{
		{0, 5, 0}, {4, 5, 4}, {-1, 5, 1}, {-2, 5, 2}, {5, 5, 3}, {6, 5, 2},
		{-4, 5, 4}, {-5, 5, 3}, {9, 5, 1},
		{-1, 2, 1}, {2, 2, 0}, {3, 2, 1},
		{-3, 1, 0}, {4, 1, 0},
	}
	for _, tc := range tests {
		if got := reflectIndex(tc.i, tc.n); got != tc.want {
			t.Errorf("reflectIndex(%d, %d) = %d, want %d", tc.i, tc.n, got, tc.want)
		}
	}
}

func TestGaussianBlurPreservesConstant(t *testing.T) {
	tests := []struct {
		w, h, k int
	}{{32, 32, 3}, {224, 224, 23}, {7, 5, 9}, {1, 1, 3}, {1, 6, 5}}
	for _, tc := range tests {
		planes := make([]float32, 3*tc.w*tc.h)
		for c := range 3 {
			for i := range tc.w * tc.h {
				planes[c*tc.w*tc.h+i] = 0.25 * float32(c+1)
			}
		}
		k := make([]float32, tc.k)
		gaussianKernel(k, 1.3)
		gaussianBlur(planes, 3, tc.w, tc.h, k, new(scratch))
		for i, v := range planes {
			want := 0.25 * float64(i/(tc.w*tc.h)+1)
			if !near(float64(v), want, 1e-6) {
				t.Fatalf("%dx%d k=%d: value %d = %v, want %v", tc.w, tc.h, tc.k, i, v, want)
			}
		}
	}
}

func TestGaussianBlurImpulse(t *testing.T) {
	// An impulse far from the edges spreads into the outer product of the
	// kernel with itself, keeping its mass.
	const w, h = 15, 13
	planes := make([]float32, w*h)
	planes[6*w+7] = 1
	k := make([]float32, 5)
	gaussianKernel(k, 1)
	gaussianBlur(planes, 1, w, h, k, new(scratch))
	var sum float64
	for y := range h {
		for x := range w {
			v := float64(planes[y*w+x])
			sum += v
			want := 0.0
			if dx, dy := x-7, y-6; dx >= -2 && dx <= 2 && dy >= -2 && dy <= 2 {
				want = float64(k[dx+2]) * float64(k[dy+2])
			}
			if !near(v, want, 1e-7) {
				t.Fatalf("(%d,%d) = %v, want %v", x, y, v, want)
			}
		}
	}
	if !near(sum, 1, 1e-6) {
		t.Errorf("mass after blur = %v, want 1", sum)
	}
}

func TestGaussianBlurReflectsAtEdges(t *testing.T) {
	// A 1-D row [1 0 0 0] with kernel [a b a] and reflect padding: the left
	// edge sees its mirror neighbour (0), so out[0] = b, out[1] = a.
	planes := []float32{1, 0, 0, 0}
	k := []float32{0.25, 0.5, 0.25}
	gaussianBlur(planes, 1, 4, 1, k, new(scratch))
	want := []float32{0.5, 0.25, 0, 0}
	for i := range want {
		if !near(float64(planes[i]), float64(want[i]), 1e-7) {
			t.Fatalf("got %v, want %v", planes, want)
		}
	}
}

func TestTrimKernel(t *testing.T) {
	tests := []struct {
		size    int
		sigma   float64
		wantLen int
	}{{23, 0.1, 1}, {23, 2, 23}, {9, 0.5, 7}, {3, 0.1, 1}, {23, 1, 11}}
	img := make([]float32, 3*40*30)
	for i := range img {
		img[i] = float32((i*37)%101) / 100
	}
	for _, tc := range tests {
		k := make([]float32, tc.size)
		gaussianKernel(k, tc.sigma)
		tk := trimKernel(k)
		if len(tk) != tc.wantLen || len(tk)%2 != 1 {
			t.Errorf("size %d sigma %v: trimmed to %d taps, want %d", tc.size, tc.sigma, len(tk), tc.wantLen)
		}
		full := append([]float32(nil), img...)
		trimmed := append([]float32(nil), img...)
		gaussianBlur(full, 3, 40, 30, k, new(scratch))
		gaussianBlur(trimmed, 3, 40, 30, tk, new(scratch))
		if d := maxAbsDiff(full, trimmed); d > 1e-6 {
			t.Errorf("size %d sigma %v: trimmed blur differs by %v", tc.size, tc.sigma, d)
		}
	}
}
