package augment

import (
	"image"
	"runtime"
	"sync/atomic"
	"testing"
)

// BenchmarkPipeline measures SimCLR view throughput (default config, blur
// only for the ImageNet size) for Fashion-MNIST- (gray, 28 px, the settings
// of configs/fashion-mnist.yaml), CIFAR-, STL- and ImageNet-like inputs, run
// on all GOMAXPROCS goroutines and reported per core.
func BenchmarkPipeline(b *testing.B) {
	cases := []struct {
		name     string
		size, ch int
		img      image.Image
		blur     float64
		strength float64
	}{
		{"28px_gray", 28, 1, randomGray(28, 28, 4), 0, 0.5},
		{"32px", 32, 3, randomNRGBA(32, 32, 1), 0, 1},
		{"96px", 96, 3, randomNRGBA(96, 96, 2), 0.5, 1},
		{"224px", 224, 3, randomNRGBA(500, 375, 3), 0.5, 1},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			cfg := DefaultConfig(tc.size, tc.ch)
			cfg.BlurP = tc.blur
			cfg.Strength = tc.strength
			p := mustNew(b, cfg)
			var seed atomic.Uint64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				rng := newRNG(seed.Add(1))
				dst := make([]float32, tc.ch*tc.size*tc.size)
				for pb.Next() {
					if err := p.Apply(tc.img, rng, dst); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportViews(b)
		})
	}
}

// BenchmarkEval measures the deterministic evaluation transform on an
// ImageNet-like 500x375 input.
func BenchmarkEval(b *testing.B) {
	e, err := NewEval(224, 3, ImageNetMean, ImageNetStd)
	if err != nil {
		b.Fatal(err)
	}
	img := randomNRGBA(500, 375, 4)
	b.RunParallel(func(pb *testing.PB) {
		dst := make([]float32, 3*224*224)
		for pb.Next() {
			if err := e.Apply(img, nil, dst); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportViews(b)
}

func reportViews(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s/float64(runtime.GOMAXPROCS(0)), "views/s/core")
	}
}

// BenchmarkGaussianBlur224 measures one 23-tap blur of a 3x224x224 view.
func BenchmarkGaussianBlur224(b *testing.B) {
	planes := make([]float32, 3*224*224)
	for i := range planes {
		planes[i] = float32(i%251) / 251
	}
	k := make([]float32, 23)
	gaussianKernel(k, 1.5)
	var ws scratch
	for b.Loop() {
		gaussianBlur(planes, 3, 224, 224, k, &ws)
	}
}

// BenchmarkResample500to224 measures the full-image crop of a 500x375
// input resized to 224x224.
func BenchmarkResample500to224(b *testing.B) {
	img := randomNRGBA(500, 375, 1)
	var xa, ya axisWeights
	dst := make([]float32, 3*224*224)
	var ws scratch
	for b.Loop() {
		xa.build(0, 500, 224, 0, 224, false)
		ya.build(0, 375, 224, 0, 224, false)
		resample(img, &xa, &ya, 3, dst, &ws)
	}
}

// randomGray returns a w×h gray image of uniform random pixels.
func randomGray(w, h int, seed uint64) *image.Gray {
	rng := newRNG(seed)
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.IntN(256))
	}
	return img
}
