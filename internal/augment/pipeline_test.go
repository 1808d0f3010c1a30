package augment

import (
	"image"
	"image/color"
	"image/draw"
	"math"
	"strings"
	"sync"
	"testing"
)

func TestPipelineShapeAndRange(t *testing.T) {
	gray := image.NewGray(image.Rect(0, 0, 40, 30))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i * 7)
	}
	withSolarize := DefaultConfig(32, 3)
	withSolarize.SolarizeP = 0.5
	strong := DefaultConfig(48, 3)
	strong.Strength, strong.JitterP, strong.BlurP = 2.5, 1, 1
	tests := []struct {
		name string
		cfg  Config
		img  image.Image
	}{
		{"cifar", DefaultConfig(32, 3), randomNRGBA(32, 32, 1)},
		{"stl", DefaultConfig(96, 3), randomNRGBA(96, 96, 2)},
		{"imagenet-like", DefaultConfig(64, 3), randomNRGBA(150, 110, 3)},
		{"gray to 1 channel", DefaultConfig(28, 1), gray},
		{"gray to 3 channels", DefaultConfig(24, 3), gray},
		{"colour to 1 channel", DefaultConfig(20, 1), randomNRGBA(50, 60, 4)},
		{"solarize", withSolarize, randomNRGBA(40, 40, 5)},
		{"strong jitter and blur", strong, randomNRGBA(70, 50, 6)},
		{"tiny input", DefaultConfig(16, 3), randomNRGBA(1, 1, 7)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustNew(t, tc.cfg)
			c, h, w := p.OutputShape()
			n := h * w
			for seed := range uint64(40) {
				v := view(t, p, tc.img, seed)
				if len(v) != c*n {
					t.Fatalf("len = %d, want %d", len(v), c*n)
				}
				for ch := range c {
					for i, x := range v[ch*n : (ch+1)*n] {
						raw := float64(x)*tc.cfg.Std[ch] + tc.cfg.Mean[ch]
						if math.IsNaN(raw) || raw < -1e-5 || raw > 1+1e-5 {
							t.Fatalf("seed %d: channel %d pixel %d = %v, outside [0,1] before normalisation", seed, ch, i, raw)
						}
					}
				}
			}
		})
	}
}

func TestPipelineDeterminism(t *testing.T) {
	cfg := DefaultConfig(32, 3)
	cfg.BlurP, cfg.SolarizeP = 0.5, 0.2
	p := mustNew(t, cfg)
	img := randomNRGBA(64, 48, 11)
	for seed := range uint64(20) {
		a, b := view(t, p, img, seed), view(t, p, img, seed)
		if d := maxAbsDiff(a, b); d != 0 {
			t.Fatalf("seed %d: two runs differ by %v", seed, d)
		}
		if d := maxAbsDiff(a, view(t, p, img, seed+1000)); d < 1e-3 {
			t.Errorf("seeds %d and %d give the same view (max diff %v)", seed, seed+1000, d)
		}
	}
}

func TestPlainPipelineReproducesImage(t *testing.T) {
	img := randomNRGBA(16, 16, 3)
	p := mustNew(t, plainConfig(16, 3))
	v := view(t, p, img, 1)
	for c := range 3 {
		for i := range 256 {
			want := float32(img.Pix[4*i+c]) / 255
			if d := math.Abs(float64(v[c*256+i] - want)); d > 1e-6 {
				t.Fatalf("channel %d pixel %d = %v, want %v", c, i, v[c*256+i], want)
			}
		}
	}
}

func TestJitterWithZeroFactorsIsIdentity(t *testing.T) {
	img := randomNRGBA(24, 24, 9)
	base := plainConfig(24, 3)
	ref := view(t, mustNew(t, base), img, 1)

	zeroStrength := base
	zeroStrength.JitterP, zeroStrength.Strength = 1, 0
	zeroFactors := base
	zeroFactors.JitterP = 1
	zeroFactors.Brightness, zeroFactors.Contrast, zeroFactors.Saturation, zeroFactors.Hue = 0, 0, 0, 0
	active := base
	active.JitterP = 1
	for _, tc := range []struct {
		name     string
		cfg      Config
		identity bool
	}{
		{"strength 0", zeroStrength, true},
		{"all factors 0", zeroFactors, true},
		{"default factors", active, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustNew(t, tc.cfg)
			for seed := range uint64(10) {
				d := maxAbsDiff(view(t, p, img, seed), ref)
				if tc.identity && d > 1e-6 {
					t.Fatalf("seed %d: jitter changed the image by %v", seed, d)
				}
				if !tc.identity && d < 1e-3 {
					t.Fatalf("seed %d: active jitter left the image unchanged", seed)
				}
			}
		})
	}
}

func TestFlip(t *testing.T) {
	// Left half black, right half white.
	img := image.NewNRGBA(image.Rect(0, 0, 32, 32))
	for y := range 32 {
		for x := range 32 {
			v := uint8(0)
			if x >= 16 {
				v = 255
			}
			img.SetNRGBA(x, y, color.NRGBA{v, v, v, 255})
		}
	}
	t.Run("rate", func(t *testing.T) {
		for _, p := range []float64{0, 0.3, 0.5, 1} {
			cfg := plainConfig(32, 3)
			cfg.FlipP = p
			pl := mustNew(t, cfg)
			const n = 3000
			rng := newRNG(42)
			dst := make([]float32, 3*32*32)
			flips := 0
			for range n {
				if err := pl.Apply(img, rng, dst); err != nil {
					t.Fatal(err)
				}
				if dst[0] > 0.5 { // left edge is white: flipped
					flips++
				}
			}
			sd := math.Sqrt(n * p * (1 - p))
			if got := float64(flips); math.Abs(got-n*p) > 4.5*sd+1e-9 {
				t.Errorf("FlipP=%v: %d flips in %d, want %v ± %.1f", p, flips, n, n*p, 4.5*sd)
			}
		}
	})
	t.Run("mirror", func(t *testing.T) {
		src := randomNRGBA(20, 20, 4)
		noFlip, always := plainConfig(20, 3), plainConfig(20, 3)
		always.FlipP = 1
		a, b := view(t, mustNew(t, noFlip), src, 1), view(t, mustNew(t, always), src, 1)
		for c := range 3 {
			for y := range 20 {
				for x := range 20 {
					if a[(c*20+y)*20+x] != b[(c*20+y)*20+19-x] {
						t.Fatalf("flipped view is not the mirror image at c=%d y=%d x=%d", c, y, x)
					}
				}
			}
		}
	})
}

func TestRandomGrayscale(t *testing.T) {
	img := randomNRGBA(16, 16, 8)
	cfg := plainConfig(16, 3)
	cfg.GrayP = 1
	v := view(t, mustNew(t, cfg), img, 1)
	n := 256
	for i := range n {
		if v[i] != v[n+i] || v[i] != v[2*n+i] {
			t.Fatalf("pixel %d channels differ: %v %v %v", i, v[i], v[n+i], v[2*n+i])
		}
		p := img.Pix[4*i : 4*i+3]
		want := (0.299*float64(p[0]) + 0.587*float64(p[1]) + 0.114*float64(p[2])) / 255
		if math.Abs(float64(v[i])-want) > 1e-5 {
			t.Fatalf("pixel %d gray = %v, want %v", i, v[i], want)
		}
	}
	cfg.GrayP = 0
	v = view(t, mustNew(t, cfg), img, 1)
	if maxAbsDiff(v[:n], v[n:2*n]) == 0 {
		t.Error("GrayP=0 still produced equal channels")
	}
}

func TestOneChannelFromColour(t *testing.T) {
	img := solidNRGBA(12, 12, color.NRGBA{200, 100, 50, 255})
	cfg := plainConfig(12, 1)
	cfg.JitterP = 1 // saturation and hue are skipped; brightness/contrast still apply
	cfg.Strength = 0
	v := view(t, mustNew(t, cfg), img, 1)
	want := (0.299*200 + 0.587*100 + 0.114*50) / 255
	for i, x := range v {
		if math.Abs(float64(x)-want) > 1e-5 {
			t.Fatalf("pixel %d = %v, want luma %v", i, x, want)
		}
	}
}

func TestBlurAndSolarizeInPipeline(t *testing.T) {
	img := solidNRGBA(32, 32, color.NRGBA{204, 51, 102, 255})
	blur := plainConfig(32, 3)
	blur.BlurP, blur.BlurSigma = 1, [2]float64{1.5, 2}
	sol := plainConfig(32, 3)
	sol.SolarizeP, sol.SolarizeThreshold = 1, 0.5
	tests := []struct {
		name string
		cfg  Config
		want [3]float64
	}{
		{"blur keeps a constant image", blur, [3]float64{0.8, 0.2, 0.4}},
		{"solarize inverts values above threshold", sol, [3]float64{0.2, 0.2, 0.4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := view(t, mustNew(t, tc.cfg), img, 3)
			for c := range 3 {
				for i := range 1024 {
					if d := math.Abs(float64(v[c*1024+i]) - tc.want[c]); d > 1e-5 {
						t.Fatalf("channel %d pixel %d = %v, want %v", c, i, v[c*1024+i], tc.want[c])
					}
				}
			}
		})
	}
	// Blur must actually smooth a non-constant image.
	noisy := randomNRGBA(32, 32, 2)
	if d := maxAbsDiff(view(t, mustNew(t, blur), noisy, 1), view(t, mustNew(t, plainConfig(32, 3)), noisy, 1)); d < 0.05 {
		t.Errorf("blur changed a noisy image by only %v", d)
	}
}

func TestInputTypesAgree(t *testing.T) {
	ref := randomNRGBA(30, 26, 5)
	// Offset bounds exercise images whose Min is not the origin.
	offset := image.NewNRGBA(image.Rect(10, 20, 40, 46))
	draw.Draw(offset, offset.Bounds(), ref, image.Point{}, draw.Src)
	rgba := image.NewRGBA(ref.Bounds())
	draw.Draw(rgba, rgba.Bounds(), ref, image.Point{}, draw.Src)
	ycc := image.NewYCbCr(ref.Bounds(), image.YCbCrSubsampleRatio420)
	for y := range 26 {
		for x := range 30 {
			c := ref.NRGBAAt(x, y)
			yy, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
			ycc.Y[ycc.YOffset(x, y)] = yy
			ycc.Cb[ycc.COffset(x, y)] = cb
			ycc.Cr[ycc.COffset(x, y)] = cr
		}
	}
	yccAsNRGBA := image.NewNRGBA(ref.Bounds())
	draw.Draw(yccAsNRGBA, ref.Bounds(), ycc, image.Point{}, draw.Src)
	paletted := image.NewPaletted(ref.Bounds(), color.Palette{color.Black, color.White, color.NRGBA{255, 0, 0, 255}})
	draw.Draw(paletted, ref.Bounds(), ref, image.Point{}, draw.Src)
	palettedAsNRGBA := image.NewNRGBA(ref.Bounds())
	draw.Draw(palettedAsNRGBA, ref.Bounds(), paletted, image.Point{}, draw.Src)
	gray := image.NewGray(ref.Bounds())
	draw.Draw(gray, ref.Bounds(), ref, image.Point{}, draw.Src)
	grayAsNRGBA := image.NewNRGBA(ref.Bounds())
	draw.Draw(grayAsNRGBA, ref.Bounds(), gray, image.Point{}, draw.Src)
	// Half-transparent pixels: straight colour is kept, alpha dropped.
	translucent := image.NewNRGBA(ref.Bounds())
	copy(translucent.Pix, ref.Pix)
	for i := 3; i < len(translucent.Pix); i += 4 {
		translucent.Pix[i] = 255
	}
	premul := image.NewRGBA(ref.Bounds())
	for y := range 26 {
		for x := range 30 {
			c := ref.NRGBAAt(x, y)
			c.A = 128
			premul.Set(x, y, c)
		}
	}

	tests := []struct {
		name      string
		img, want image.Image
		tol       float64
	}{
		{"offset bounds", offset, ref, 0},
		{"RGBA", rgba, ref, 0},
		{"YCbCr", ycc, yccAsNRGBA, 1.5 / 255},
		{"Paletted (generic path)", paletted, palettedAsNRGBA, 1e-6},
		{"Gray", gray, grayAsNRGBA, 1e-6},
		{"premultiplied half alpha", premul, translucent, 2.01 / 255}, // 8-bit premultiplied storage at alpha 128 loses one bit
	}
	// Colour jitter is off: its gains would amplify the 8-bit rounding of
	// the reference conversions. Crop, flip and blur stay random.
	cfg := DefaultConfig(24, 3)
	cfg.JitterP, cfg.BlurP = 0, 0.5
	for i := range cfg.Mean {
		cfg.Mean[i], cfg.Std[i] = 0, 1
	}
	p := mustNew(t, cfg)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for seed := range uint64(5) {
				if d := maxAbsDiff(view(t, p, tc.img, seed), view(t, p, tc.want, seed)); d > tc.tol+1e-6 {
					t.Fatalf("seed %d: differs from the NRGBA reference by %v (tolerance %v)", seed, d, tc.tol)
				}
			}
		})
	}
}

func TestApplyErrors(t *testing.T) {
	p := mustNew(t, DefaultConfig(8, 3))
	good := make([]float32, 3*8*8)
	img := randomNRGBA(8, 8, 1)
	var nilPipe *Pipeline
	tests := []struct {
		name  string
		apply func() error
		want  string
	}{
		{"nil image", func() error { return p.Apply(nil, newRNG(1), good) }, "image is nil"},
		{"nil rng", func() error { return p.Apply(img, nil, good) }, "rand.Rand"},
		{"short dst", func() error { return p.Apply(img, newRNG(1), good[:10]) }, "dst holds 10 values, want 192"},
		{"empty image", func() error { return p.Apply(image.NewNRGBA(image.Rect(0, 0, 0, 5)), newRNG(1), good) }, "empty"},
		{"nil pipeline", func() error { return nilPipe.Apply(img, newRNG(1), good) }, "augment.New"},
		{"truncated NRGBA buffer", func() error {
			bad := randomNRGBA(8, 8, 1)
			bad.Pix = bad.Pix[:100]
			return p.Apply(bad, newRNG(1), good)
		}, "corrupt"},
		{"truncated Gray buffer", func() error {
			return p.Apply(&image.Gray{Pix: make([]uint8, 10), Stride: 8, Rect: image.Rect(0, 0, 8, 8)}, newRNG(1), good)
		}, "corrupt"},
		{"truncated YCbCr planes", func() error {
			ycc := image.NewYCbCr(image.Rect(0, 0, 8, 8), image.YCbCrSubsampleRatio420)
			ycc.Cr = ycc.Cr[:3]
			return p.Apply(ycc, newRNG(1), good)
		}, "corrupt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.apply()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestConcurrentUseMatchesSerial(t *testing.T) {
	cfg := DefaultConfig(32, 3)
	p := mustNew(t, cfg)
	imgs := []image.Image{randomNRGBA(40, 40, 1), randomNRGBA(100, 70, 2), randomNRGBA(32, 32, 3)}
	const perWorker = 12
	const workers = 6
	want := make([][]float32, workers*perWorker)
	for i := range want {
		want[i] = view(t, p, imgs[i%len(imgs)], uint64(i))
	}
	got := make([][]float32, len(want))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perWorker {
				i := w*perWorker + j
				dst := make([]float32, 3*32*32)
				if err := p.Apply(imgs[i%len(imgs)], newRNG(uint64(i)), dst); err == nil {
					got[i] = dst
				}
			}
		}()
	}
	wg.Wait()
	for i := range want {
		if d := maxAbsDiff(got[i], want[i]); d != 0 {
			t.Fatalf("view %d differs between concurrent and serial runs by %v", i, d)
		}
	}
}

func TestExtremeShapesDoNotPanic(t *testing.T) {
	shapes := [][2]int{{1, 1}, {1, 300}, {300, 1}, {2, 3}, {640, 7}}
	for _, size := range []int{1, 3, 17, 64} {
		cfg := DefaultConfig(size, 3)
		cfg.BlurP, cfg.SolarizeP = 1, 0.5
		p := mustNew(t, cfg)
		e, err := NewEval(size, 3, ImageNetMean, ImageNetStd)
		if err != nil {
			t.Fatal(err)
		}
		dst := make([]float32, 3*size*size)
		for _, s := range shapes {
			img := randomNRGBA(s[0], s[1], uint64(size))
			for seed := range uint64(5) {
				if err := p.Apply(img, newRNG(seed), dst); err != nil {
					t.Fatalf("size %d image %v: %v", size, s, err)
				}
			}
			if err := e.Apply(img, nil, dst); err != nil {
				t.Fatalf("eval size %d image %v: %v", size, s, err)
			}
			for i, v := range dst {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("size %d image %v: value %d = %v", size, s, i, v)
				}
			}
		}
	}
}
