package model

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// meanStd returns the sample mean and standard deviation.
func meanStd(v []float32) (float64, float64) {
	var s, s2 float64
	for _, x := range v {
		s += float64(x)
		s2 += float64(x) * float64(x)
	}
	n := float64(len(v))
	m := s / n
	return m, math.Sqrt(s2/n - m*m)
}

// TestResNetInit checks torchvision's initialisation: conv weights
// N(0, 2/fan_out) with fan_out = Cout*K*K, BN gamma 1, beta 0, running mean
// 0, running var 1, num_batches_tracked 0.
func TestResNetInit(t *testing.T) {
	b := newBackend(t)
	r, err := NewResNet(b, Config{Arch: "resnet18", Stem: StemImageNet, Width: 16, InChannels: 3}, 42)
	if err != nil {
		t.Fatal(err)
	}
	convs := 0
	for _, e := range r.StateDict() {
		switch {
		case e.I64 != nil:
			if *e.I64 != 0 {
				t.Errorf("%s = %d, want 0", e.Name, *e.I64)
			}
		case len(e.F32.Shape) == 4:
			v := download(t, b, e.F32)
			want := math.Sqrt(2 / float64(e.F32.Shape[0]*e.F32.Shape[2]*e.F32.Shape[3]))
			m, s := meanStd(v)
			// With n samples the sample std is within ~3/sqrt(2n) relative, the mean within 3*std/sqrt(n).
			n := float64(len(v))
			if math.Abs(s/want-1) > 3/math.Sqrt(2*n)+0.01 {
				t.Errorf("%s: std %.4f, want %.4f (n=%d)", e.Name, s, want, len(v))
			}
			if math.Abs(m) > 4*want/math.Sqrt(n) {
				t.Errorf("%s: mean %.4f, want ~0", e.Name, m)
			}
			convs++
		default:
			want := float32(0)
			if strings.HasSuffix(e.Name, ".weight") || strings.HasSuffix(e.Name, ".running_var") {
				want = 1
			}
			for i, v := range download(t, b, e.F32) {
				if v != want {
					t.Fatalf("%s[%d] = %v, want %v", e.Name, i, v, want)
				}
			}
		}
	}
	if convs != 20 {
		t.Errorf("checked %d conv weights, resnet18 has 20", convs)
	}
}

// TestProjectorInit checks PyTorch's nn.Linear initialisation:
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias (std bound/sqrt(3)).
func TestProjectorInit(t *testing.T) {
	b := newBackend(t)
	cfg := tinyConfig()
	cfg.HeadBN, cfg.HeadHidden, cfg.HeadOut = false, 128, 64
	p, err := NewProjector(b, 256, cfg, 9)
	if err != nil {
		t.Fatal(err)
	}
	for _, prm := range p.Params() {
		fanIn := 256
		if prm.Name != "projector.0.weight" && prm.Name != "projector.0.bias" {
			fanIn = 128
		}
		bound := 1 / math.Sqrt(float64(fanIn))
		v := download(t, b, prm.Value)
		for i, x := range v {
			if math.Abs(float64(x)) > bound {
				t.Fatalf("%s[%d] = %v outside ±%.4f", prm.Name, i, x, bound)
			}
		}
		if len(v) >= 1000 {
			if _, s := meanStd(v); math.Abs(s/(bound/math.Sqrt(3))-1) > 0.05 {
				t.Errorf("%s: std %.4f, want %.4f", prm.Name, s, bound/math.Sqrt(3))
			}
		}
	}
}

// stateValues downloads a whole state dict, buffers included.
func stateValues(t *testing.T, m interface{ StateDict() []StateEntry }, dl func(*StateEntry) []float32) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	for _, e := range m.StateDict() {
		out[e.Name] = dl(&e)
	}
	return out
}

func TestSeedDeterminism(t *testing.T) {
	b := newBackend(t)
	dl := func(e *StateEntry) []float32 {
		if e.F32 == nil {
			return []float32{float32(*e.I64)}
		}
		return download(t, b, e.F32)
	}
	build := func(seed int64) map[string][]float32 {
		m, err := NewSimCLR(b, tinyConfig(), seed)
		if err != nil {
			t.Fatal(err)
		}
		return stateValues(t, m, dl)
	}
	a, a2, c := build(7), build(7), build(8)
	for name, v := range a {
		if !slices.Equal(v, a2[name]) {
			t.Errorf("%s differs between two models built with seed 7", name)
		}
	}
	for _, name := range []string{"conv1.weight", "layer3.0.conv2.weight", "projector.0.weight", "projector.3.bias"} {
		if slices.Equal(a[name], c[name]) {
			t.Errorf("%s is the same for seeds 7 and 8", name)
		}
	}
}
