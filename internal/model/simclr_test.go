package model

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/tensor"
)

// allGrads downloads every parameter gradient.
func allGrads(t *testing.T, b backend.Backend, ps []*Param) [][]float32 {
	t.Helper()
	var g [][]float32
	for _, p := range ps {
		g = append(g, download(t, b, p.Grad))
	}
	return g
}

// TestStepDeterminism: two models from one seed give bit-identical losses
// and gradients, and repeating a step (weights unchanged) reproduces them —
// gradients are overwritten, not accumulated.
func TestStepDeterminism(t *testing.T) {
	b := newBackend(t)
	x := randomInput(t, b, 21, 8, 3, 12, 12)
	var losses []float32
	var grads [][][]float32
	for i := 0; i < 2; i++ {
		m, err := NewSimCLR(b, tinyConfig(), 5)
		if err != nil {
			t.Fatal(err)
		}
		for rep := 0; rep < 2; rep++ {
			loss, err := m.Step(x, 0.2)
			if err != nil {
				t.Fatal(err)
			}
			losses = append(losses, loss)
			grads = append(grads, allGrads(t, b, m.Params()))
		}
	}
	for i := 1; i < len(losses); i++ {
		if losses[i] != losses[0] {
			t.Fatalf("losses %v are not identical", losses)
		}
		for k := range grads[0] {
			if !slices.Equal(grads[i][k], grads[0][k]) {
				t.Fatalf("run %d: gradient %d differs", i, k)
			}
		}
	}
	if !(losses[0] > 0) || math.IsInf(float64(losses[0]), 0) {
		t.Fatalf("loss %v, want a finite positive value", losses[0])
	}
	// Cosine similarities lie in [-1, 1], so each row's loss is at most
	// 2/tau + log(2N-1).
	if limit := 2/0.2 + math.Log(7); float64(losses[0]) > limit {
		t.Errorf("loss %v above the bound %.3f", losses[0], limit)
	}
}

// sgdStep applies p -= lr*grad to every parameter through the backend.
func sgdStep(t *testing.T, b backend.Backend, ps []*Param, lr float32) {
	t.Helper()
	for _, p := range ps {
		v, g := download(t, b, p.Value), download(t, b, p.Grad)
		for i := range v {
			v[i] -= lr * g[i]
		}
		if err := b.Upload(p.Value, v); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStepOverwritesEveryGradient fills every gradient with NaN and checks
// that one Step replaces all of them with finite values.
func TestStepOverwritesEveryGradient(t *testing.T) {
	b := newBackend(t)
	cfg := tinyConfig()
	cfg.Arch, cfg.Stem, cfg.HeadLayers = "resnet50", StemImageNet, 3
	m, err := NewSimCLR(b, cfg, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params() {
		nan := make([]float32, p.Grad.Numel())
		for i := range nan {
			nan[i] = float32(math.NaN())
		}
		if err := b.Upload(p.Grad, nan); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Step(randomInput(t, b, 5, 4, 3, 16, 16), 0.1); err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params() {
		for i, g := range download(t, b, p.Grad) {
			if math.IsNaN(float64(g)) || math.IsInf(float64(g), 0) {
				t.Fatalf("%s grad[%d] = %v after Step", p.Name, i, g)
			}
		}
	}
}

func TestLossDecreases(t *testing.T) {
	b := newBackend(t)
	m, err := NewSimCLR(b, tinyConfig(), 3)
	if err != nil {
		t.Fatal(err)
	}
	x := randomInput(t, b, 22, 8, 3, 8, 8)
	var losses []float32
	for i := 0; i < 8; i++ {
		loss, err := m.Step(x, 0.5)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, loss)
		sgdStep(t, b, m.Params(), 0.1)
	}
	if !(losses[len(losses)-1] < 0.9*losses[0]) {
		t.Fatalf("losses %v: the last is not 10%% below the first", losses)
	}
	for _, e := range m.StateDict() {
		if e.I64 != nil && *e.I64 != int64(len(losses)) {
			t.Fatalf("%s = %d after %d train steps", e.Name, *e.I64, len(losses))
		}
	}
}

// TestSteadyStateAllocations: after the first step of a batch shape, steps
// allocate no backend tensors and the peak memory stays put; a new batch
// shape allocates once more.
func TestSteadyStateAllocations(t *testing.T) {
	cb := &countingBackend{Backend: newBackend(t)}
	cfg := tinyConfig()
	cfg.Stem = StemImageNet
	m, err := NewSimCLR(cb, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	x := randomInput(t, cb, 1, 4, 3, 16, 16)
	if _, err := m.Step(x, 0.1); err != nil {
		t.Fatal(err)
	}
	news, peak := cb.news, cb.PeakBytes()
	for i := 0; i < 3; i++ {
		if _, err := m.Step(x, 0.1); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Encoder.Forward(x, false); err != nil {
			t.Fatal(err)
		}
	}
	if cb.news != news || cb.PeakBytes() != peak {
		t.Fatalf("steady state: New calls %d -> %d, peak bytes %d -> %d", news, cb.news, peak, cb.PeakBytes())
	}
	x2 := randomInput(t, cb, 2, 6, 3, 16, 16)
	before := cb.news
	for i := 0; i < 2; i++ {
		if _, err := m.Step(x2, 0.1); err != nil {
			t.Fatal(err)
		}
	}
	if cb.news == before {
		t.Fatal("a new batch shape allocated no buffers")
	}
	afterTwo := cb.news
	if _, err := m.Step(x2, 0.1); err != nil {
		t.Fatal(err)
	}
	if cb.news != afterTwo {
		t.Fatalf("second shape: New calls grew from %d to %d", afterTwo, cb.news)
	}
	m.ReleaseBuffers()
	if _, err := m.Step(x, 0.1); err != nil {
		t.Fatalf("step after ReleaseBuffers: %v", err)
	}
}

// TestGradientBuffersPooled: a step keeps no gradient buffer per layer.
// The activation gradients come from the arena, which after a step holds
// at most 4 slabs for every shape together (a downsampling block's
// backward holds its output gradient, the main branch's input gradient and
// the shortcut's two gradients at once), each
// as large as the largest activation, every one back in the arena after
// the encoder's backward (the head's result, read by the encoder, is
// still taken); a second step takes the same slabs.
func TestGradientBuffersPooled(t *testing.T) {
	for _, cfg := range []Config{
		tinyConfig(),
		{Arch: "resnet50", Stem: StemImageNet, Width: 2, InChannels: 3, HeadLayers: 3, HeadHidden: 16, HeadOut: 8},
	} {
		t.Run(cfg.Arch, func(t *testing.T) {
			cb := &countingBackend{Backend: newBackend(t)}
			m, err := NewSimCLR(cb, cfg, 1)
			if err != nil {
				t.Fatal(err)
			}
			x := randomInput(t, cb, 1, 4, 3, 16, 16)
			if _, err := m.Step(x, 0.1); err != nil {
				t.Fatal(err)
			}
			enc := m.Encoder.bufs
			buffers, news := enc.gradBuffers(), cb.news
			if buffers > 4 {
				t.Errorf("%d gradient slabs, want at most 4", buffers)
			}
			for _, s := range enc.slabs {
				if s.Numel() < enc.maxAct {
					t.Errorf("a slab of %d elements, want at least the largest activation's %d", s.Numel(), enc.maxAct)
				}
			}
			layers := 0
			for k := range enc.m {
				if strings.HasSuffix(k.name, "/dx") || strings.HasSuffix(k.name, "/ds") {
					t.Errorf("per-layer gradient buffer %s %v", k.name, k.dims[:k.rank])
				}
				if strings.HasSuffix(k.name, "/y") {
					layers++
				}
			}
			if buffers < 2 || 2*buffers > layers {
				t.Errorf("%d pooled gradient buffers for %d layers, want at least 2 and at most half", buffers, layers)
			}
			if enc.gradsTaken() != 0 || m.Projector.bufs.gradsTaken() != 1 {
				t.Errorf("after a step: encoder %d, head %d gradient buffers taken; want 0 and 1", enc.gradsTaken(), m.Projector.bufs.gradsTaken())
			}
			if _, err := m.Step(x, 0.1); err != nil {
				t.Fatal(err)
			}
			if enc.gradBuffers() != buffers || cb.news != news {
				t.Errorf("second step: %d -> %d gradient buffers, %d new tensors", buffers, enc.gradBuffers(), cb.news-news)
			}
		})
	}
}

func TestStepErrors(t *testing.T) {
	b := newBackend(t)
	m, err := NewSimCLR(b, tinyConfig(), 1)
	if err != nil {
		t.Fatal(err)
	}
	good := randomInput(t, b, 1, 4, 3, 8, 8)
	nan := randomInput(t, b, 1, 4, 3, 8, 8)
	v := download(t, b, nan)
	v[17] = float32(math.NaN())
	if err := b.Upload(nan, v); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		x    *tensor.Tensor
		tau  float32
		want string
	}{
		{"nil input", nil, 0.1, "input is nil"},
		{"odd batch", randomInput(t, b, 1, 5, 3, 8, 8), 0.1, "[2N C H W]"},
		{"one pair", randomInput(t, b, 1, 2, 3, 8, 8), 0.1, "N >= 2"},
		{"rank 3", randomInput(t, b, 1, 4, 3, 8), 0.1, "[2N C H W]"},
		{"wrong channels", randomInput(t, b, 1, 4, 1, 8, 8), 0.1, "want [N 3 H W]"},
		{"zero tau", good, 0, "temperature 0"},
		{"negative tau", good, -0.5, "temperature -0.5"},
		{"NaN tau", good, float32(math.NaN()), "temperature NaN"},
		{"inf tau", good, float32(math.Inf(1)), "temperature +Inf"},
		{"NaN input", nan, 0.1, "NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.Step(tt.x, tt.tau)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Step error %v, want it to contain %q", err, tt.want)
			}
		})
	}
	if _, err := m.Step(good, 0.1); err != nil {
		t.Fatalf("a good step after the errors failed: %v", err)
	}
}

func TestForwardBackwardErrors(t *testing.T) {
	b := newBackend(t)
	cfg := tinyConfig()
	r, err := NewResNet(b, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	x := randomInput(t, b, 1, 2, 3, 8, 8)
	if err := r.Backward(randomInput(t, b, 1, 2, 32)); err == nil || !strings.Contains(err.Error(), "train=true") {
		t.Fatalf("Backward before Forward: %v", err)
	}
	if _, err := r.Forward(x, false); err != nil {
		t.Fatal(err)
	}
	if err := r.Backward(randomInput(t, b, 1, 2, 32)); err == nil || !strings.Contains(err.Error(), "train=true") {
		t.Fatalf("Backward after an eval Forward: %v", err)
	}
	if _, err := r.Forward(x, true); err != nil {
		t.Fatal(err)
	}
	err = r.Backward(randomInput(t, b, 1, 2, 31))
	if err == nil || !strings.Contains(err.Error(), "gradient vs output") {
		t.Fatalf("Backward with a wrong gradient shape: %v", err)
	}
	if se := (*tensor.ShapeError)(nil); !errors.As(err, &se) {
		t.Fatalf("error %v is not a *tensor.ShapeError", err)
	}
	if err := r.Backward(randomInput(t, b, 1, 2, 32)); err != nil {
		t.Fatalf("Backward after the bad call: %v", err)
	}
	// Batch 1 at 8x8 leaves 1 value per channel at layer4's BN.
	if _, err := r.Forward(randomInput(t, b, 1, 1, 3, 8, 8), true); err == nil || !strings.Contains(err.Error(), "layer4.0.bn1") {
		t.Fatalf("train Forward with one value per channel: %v", err)
	}
	if _, err := r.Forward(randomInput(t, b, 1, 1, 3, 8, 8), false); err != nil {
		t.Fatalf("eval Forward of one image: %v", err)
	}
	if _, err := r.Forward(randomInput(t, b, 1, 2, 8, 8), true); err == nil || !strings.Contains(err.Error(), "want [N 3 H W]") {
		t.Fatalf("rank-3 input: %v", err)
	}

	p, err := NewProjector(b, 32, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Forward(randomInput(t, b, 1, 4, 31), true); err == nil || !strings.Contains(err.Error(), "want [N 32]") {
		t.Fatalf("projector input 31 wide: %v", err)
	}
	if _, err := p.Backward(randomInput(t, b, 1, 4, cfg.HeadOut)); err == nil {
		t.Fatal("projector Backward after a failed Forward succeeded")
	}

	blk, err := NewBasicBlock(b, "layer1.0", 4, 4, 1, testRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := blk.Forward(randomInput(t, b, 1, 2, 3, 6, 6), true); err == nil || !strings.Contains(err.Error(), "layer1.0.conv1") {
		t.Fatalf("block input with 3 channels: %v", err)
	}
	if _, err := blk.Backward(randomInput(t, b, 1, 2, 4, 6, 6)); err == nil {
		t.Fatal("block Backward without Forward succeeded")
	}
}

func TestConstructorErrors(t *testing.T) {
	b := newBackend(t)
	bad := tinyConfig()
	bad.Arch = "vgg16"
	if _, err := NewResNet(b, bad, 1); err == nil || !strings.Contains(err.Error(), "vgg16") {
		t.Errorf("NewResNet(vgg16): %v", err)
	}
	if _, err := NewResNet(nil, tinyConfig(), 1); err == nil {
		t.Error("NewResNet(nil backend) succeeded")
	}
	noHead := tinyConfig()
	noHead.HeadOut = 0
	if _, err := NewSimCLR(b, noHead, 1); err == nil || !strings.Contains(err.Error(), "head_out") {
		t.Errorf("NewSimCLR without head_out: %v", err)
	}
	if _, err := NewProjector(b, 0, tinyConfig(), 1); err == nil {
		t.Error("NewProjector with input size 0 succeeded")
	}
	if _, err := NewBasicBlock(b, "x", 0, 4, 1, testRNG(1)); err == nil {
		t.Error("NewBasicBlock with 0 input channels succeeded")
	}
	if _, err := NewBottleneck(b, "x", 4, 4, 0, testRNG(1)); err == nil {
		t.Error("NewBottleneck with stride 0 succeeded")
	}
	if _, err := NewBottleneck(b, "x", 4, 4, 1, nil); err == nil {
		t.Error("NewBottleneck with nil rng succeeded")
	}
}

// BenchmarkSimCLRStep times one training step of a CIFAR-stem ResNet-18 at
// width 16 on 2x16 images of 32 px.
func BenchmarkSimCLRStep(b *testing.B) {
	be := newBackend(b)
	cfg := tinyConfig()
	cfg.Width, cfg.HeadHidden, cfg.HeadOut = 16, 128, 64
	m, err := NewSimCLR(be, cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	x := randomInput(b, be, 1, 32, 3, 32, 32)
	for b.Loop() {
		if _, err := m.Step(x, 0.5); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(32*b.N)/b.Elapsed().Seconds(), "images/s")
}

// TestStepIntoMatchesStep: StepInto leaves in its slot bit for bit the
// loss Step returns and fills the same gradients, on both NT-Xent paths;
// the other slots are untouched.
func TestStepIntoMatchesStep(t *testing.T) {
	b := newBackend(t)
	x := randomInput(t, b, 21, 8, 3, 12, 12)
	for _, mode := range []string{LossFusedOff, LossFusedOn} {
		t.Run(mode, func(t *testing.T) {
			m, err := NewSimCLR(b, tinyConfig(), 5)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.SetLossFused(mode); err != nil {
				t.Fatal(err)
			}
			want, err := m.Step(x, 0.2)
			if err != nil {
				t.Fatal(err)
			}
			wantGrads := allGrads(t, b, m.Params())
			losses, err := b.New(3)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Free(losses)
			if err := b.Upload(losses, []float32{-1, -1, -1}); err != nil {
				t.Fatal(err)
			}
			if err := m.StepInto(x, 0.2, LossSlot{T: losses, I: 1}); err != nil {
				t.Fatal(err)
			}
			got := download(t, b, losses)
			if math.Float32bits(got[1]) != math.Float32bits(want) || got[0] != -1 || got[2] != -1 {
				t.Fatalf("losses %v, want [-1 %v -1]", got, want)
			}
			for k, g := range allGrads(t, b, m.Params()) {
				if !slices.Equal(g, wantGrads[k]) {
					t.Fatalf("gradient %d differs from Step's", k)
				}
			}
		})
	}
}
