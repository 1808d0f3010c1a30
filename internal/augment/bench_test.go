package augment

import (
	"fmt"
	"image"
	"runtime"
	"sync/atomic"
	"testing"
)

// BenchmarkPipeline measures SimCLR view throughput (default config, blur
// only for the ImageNet size) for CIFAR-, STL- and ImageNet-like inputs, run
// on all GOMAXPROCS goroutines and reported per core.
func BenchmarkPipeline(b *testing.B) {
	cases := []struct {
		size int
		img  image.Image
		blur float64
	}{
		{32, randomNRGBA(32, 32, 1), 0},
		{96, randomNRGBA(96, 96, 2), 0.5},
		{224, randomNRGBA(500, 375, 3), 0.5},
	}
	for _, tc := range cases {
		b.Run(fmt.Sprintf("%dpx", tc.size), func(b *testing.B) {
			cfg := DefaultConfig(tc.size, 3)
			cfg.BlurP = tc.blur
			p := mustNew(b, cfg)
			var seed atomic.Uint64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				rng := newRNG(seed.Add(1))
				dst := make([]float32, 3*tc.size*tc.size)
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
