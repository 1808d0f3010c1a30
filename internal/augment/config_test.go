package augment

import (
	"math"
	"strings"
	"testing"
)

func TestDefaultConfigIsValid(t *testing.T) {
	for _, tc := range []struct{ size, channels int }{{224, 3}, {96, 3}, {32, 3}, {28, 1}} {
		cfg := DefaultConfig(tc.size, tc.channels)
		if err := cfg.Validate(); err != nil {
			t.Errorf("DefaultConfig(%d,%d).Validate() = %v", tc.size, tc.channels, err)
		}
		if len(cfg.Mean) != tc.channels || len(cfg.Std) != tc.channels {
			t.Errorf("DefaultConfig(%d,%d): mean/std lengths %d/%d", tc.size, tc.channels, len(cfg.Mean), len(cfg.Std))
		}
		p := mustNew(t, cfg)
		if c, h, w := p.OutputShape(); c != tc.channels || h != tc.size || w != tc.size {
			t.Errorf("OutputShape = %d,%d,%d, want %d,%d,%d", c, h, w, tc.channels, tc.size, tc.size)
		}
	}
	if got := DefaultConfig(28, 1); got.Mean[0] != 0.5 || got.Std[0] != 0.5 {
		t.Errorf("1-channel defaults mean/std = %v/%v, want 0.5/0.5", got.Mean, got.Std)
	}
	if got := DefaultConfig(224, 3); got.Mean[2] != 0.406 || got.Std[0] != 0.229 {
		t.Errorf("3-channel defaults are not ImageNet's: %v %v", got.Mean, got.Std)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name   string
		mutate func(*Config)
		field  string
	}{
		{"zero size", func(c *Config) { c.Size = 0 }, "size"},
		{"huge size", func(c *Config) { c.Size = 1 << 20 }, "size"},
		{"two channels", func(c *Config) { c.Channels = 2 }, "channels"},
		{"scale above one", func(c *Config) { c.CropScale = [2]float64{0.08, 1.2} }, "crop_scale"},
		{"scale zero", func(c *Config) { c.CropScale = [2]float64{0, 1} }, "crop_scale"},
		{"scale reversed", func(c *Config) { c.CropScale = [2]float64{0.9, 0.5} }, "crop_scale"},
		{"scale NaN", func(c *Config) { c.CropScale = [2]float64{nan, 1} }, "crop_scale"},
		{"ratio negative", func(c *Config) { c.CropRatio = [2]float64{-1, 1} }, "crop_ratio"},
		{"ratio reversed", func(c *Config) { c.CropRatio = [2]float64{2, 1} }, "crop_ratio"},
		{"ratio infinite", func(c *Config) { c.CropRatio = [2]float64{1, math.Inf(1)} }, "crop_ratio"},
		{"flip above one", func(c *Config) { c.FlipP = 1.5 }, "flip_p"},
		{"jitter negative", func(c *Config) { c.JitterP = -0.1 }, "jitter_p"},
		{"jitter NaN", func(c *Config) { c.JitterP = nan }, "jitter_p"},
		{"strength negative", func(c *Config) { c.Strength = -1 }, "strength"},
		{"brightness NaN", func(c *Config) { c.Brightness = nan }, "brightness"},
		{"contrast negative", func(c *Config) { c.Contrast = -0.2 }, "contrast"},
		{"saturation infinite", func(c *Config) { c.Saturation = math.Inf(1) }, "saturation"},
		{"hue above half", func(c *Config) { c.Hue = 0.6 }, "hue"},
		{"strength times hue above half", func(c *Config) { c.Strength = 3 }, "strength*hue"},
		{"gray above one", func(c *Config) { c.GrayP = 2 }, "gray_p"},
		{"blur negative", func(c *Config) { c.BlurP = -1 }, "blur_p"},
		{"blur sigma zero", func(c *Config) { c.BlurSigma = [2]float64{0, 2} }, "blur_sigma"},
		{"blur sigma reversed", func(c *Config) { c.BlurSigma = [2]float64{2, 1} }, "blur_sigma"},
		{"blur kernel frac zero", func(c *Config) { c.BlurKernelFrac = 0 }, "blur_kernel_frac"},
		{"solarize above one", func(c *Config) { c.SolarizeP = 1.1 }, "solarize_p"},
		{"solarize threshold", func(c *Config) { c.SolarizeThreshold = 1.5 }, "solarize_threshold"},
		{"mean length", func(c *Config) { c.Mean = c.Mean[:2] }, "mean"},
		{"std length", func(c *Config) { c.Std = nil }, "std"},
		{"std zero", func(c *Config) { c.Std[1] = 0 }, "std[1]"},
		{"mean NaN", func(c *Config) { c.Mean[0] = nan }, "mean[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig(32, 3)
			tc.mutate(&cfg)
			err := cfg.Validate()
			if err == nil {
				t.Fatalf("Validate accepted %s", tc.name)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name %q", err, tc.field)
			}
			if _, err := New(cfg); err == nil {
				t.Errorf("New accepted %s", tc.name)
			}
		})
	}
}

func TestValidateBlurFieldsIgnoredWithoutBlur(t *testing.T) {
	cfg := DefaultConfig(32, 3)
	cfg.BlurP = 0
	cfg.BlurSigma = [2]float64{}
	cfg.BlurKernelFrac = 0
	if err := cfg.Validate(); err != nil {
		t.Errorf("blur settings should not matter with blur_p = 0: %v", err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := DefaultConfig(32, 3)
	cfg.Size, cfg.FlipP, cfg.Std = -1, 3, []float64{1}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate accepted three bad fields")
	}
	for _, field := range []string{"size", "flip_p", "std"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error %q does not name %q", err, field)
		}
	}
}

func TestBlurKernelSize(t *testing.T) {
	tests := []struct {
		size int
		frac float64
		want int
	}{
		{224, 0.1, 23}, {96, 0.1, 9}, {32, 0.1, 3}, {10, 0.1, 3}, {1, 0.1, 3}, {100, 0.1, 11}, {64, 0.5, 33},
	}
	for _, tc := range tests {
		if got := blurKernelSize(tc.size, tc.frac); got != tc.want {
			t.Errorf("blurKernelSize(%d, %v) = %d, want %d", tc.size, tc.frac, got, tc.want)
		}
	}
}
