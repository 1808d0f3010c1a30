package model

import (
	"bytes"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/gradcheck"
	"simclr/internal/tensor"
)

// gradInput is one tensor whose gradient is checked: its host values (the
// very slice the forward reads) and the analytic gradient.
type gradInput struct {
	name         string
	values, grad []float32
}

// reluTensors lists the ReLU outputs a module keeps after a train Forward:
// their on/off pattern tells whether a finite-difference step crossed a kink.
func reluTensors(m any) []*tensor.Tensor {
	switch m := m.(type) {
	case *BasicBlock:
		return []*tensor.Tensor{m.a1, m.out}
	case *Bottleneck:
		return []*tensor.Tensor{m.a1, m.a2, m.out}
	case *Projector:
		var ts []*tensor.Tensor
		for _, h := range m.hidden {
			ts = append(ts, h.act)
		}
		return ts
	case projectorModule:
		return reluTensors(m.Projector)
	case *ResNet:
		ts := []*tensor.Tensor{m.stem}
		for _, blk := range m.blocks {
			ts = append(ts, reluTensors(blk)...)
		}
		return ts
	case *SimCLR:
		return append(reluTensors(m.Encoder), reluTensors(m.Projector)...)
	}
	panic("reluTensors: unknown module")
}

// reluPattern returns one byte per ReLU output: 1 where it is positive.
func reluPattern(t *testing.T, b backend.Backend, ts []*tensor.Tensor) []byte {
	var p []byte
	for _, x := range ts {
		for _, v := range download(t, b, x) {
			if v > 0 {
				p = append(p, 1)
			} else {
				p = append(p, 0)
			}
		}
	}
	return p
}

// checkGradients compares analytic gradients with central differences of
// loss, one element at a time (at most perInput sampled elements per input;
// 0 = all), with gradcheck.Check.
//
// ReLU kinks: a step of one weight moves every activation downstream, and
// now and then one of them crosses zero inside [w-eps, w+eps]; the central
// difference is then off by up to that activation's whole contribution,
// however right the backward is. pattern (called after each loss evaluation)
// returns the on/off pattern of every ReLU; an element whose evaluations saw
// different patterns is retried with eps/4 and skipped only if it crosses a
// kink there too. (A much smaller step drowns in float32 rounding: the loss
// is accurate to about 1e-6 relative.) Every other element must match. At most a quarter of the
// elements may be skipped, so the check keeps its teeth.
func checkGradients(t *testing.T, loss func() float64, pattern func() []byte, inputs []gradInput, eps, rtol, atol float64, perInput int) {
	t.Helper()
	var seen [][]byte
	f := func() float64 {
		l := loss()
		seen = append(seen, pattern())
		return l
	}
	smooth := func() bool {
		for _, p := range seen[1:] {
			if !bytes.Equal(p, seen[0]) {
				return false
			}
		}
		return true
	}
	total, skipped := 0, 0
	rng := testRNG(uint64(len(inputs)))
	for _, in := range inputs {
		if len(in.values) != len(in.grad) {
			t.Fatalf("%s: %d values, %d gradients", in.name, len(in.values), len(in.grad))
		}
		idx := rng.Perm(len(in.values))
		if perInput > 0 && len(idx) > perInput {
			idx = idx[:perInput]
		}
		for _, i := range idx {
			total++
			v, g := [][]float32{in.values[i : i+1]}, [][]float32{in.grad[i : i+1]}
			judged := false
			for _, step := range []float64{eps, eps / 4} {
				seen = seen[:0]
				err := gradcheck.Check(f, v, g, step, rtol, atol)
				if !smooth() {
					continue
				}
				judged = true
				if err != nil {
					t.Errorf("%s[%d] (eps %g): %v", in.name, i, step, err)
				}
				break
			}
			if !judged {
				skipped++
			}
		}
	}
	if skipped*4 > total {
		t.Errorf("%d of %d elements crossed a ReLU kink at both steps; too few were checked", skipped, total)
	}
	t.Logf("%d elements checked, %d skipped at kinks", total-skipped, skipped)
}

// module is what a finite-difference check of a block or head needs.
type module interface {
	Forward(x *tensor.Tensor, train bool) (*tensor.Tensor, error)
	Backward(dy *tensor.Tensor) (*tensor.Tensor, error)
	Params() []*Param
}

// checkModuleGradients checks dL/dx and dL/dparam of a train-mode module
// against central differences of L = sum(r * Forward(x)) with a fixed random
// r (the gradcheck package pattern). Inputs are perturbed through the CPU
// backend's host storage.
func checkModuleGradients(t *testing.T, b backend.Backend, m module, x *tensor.Tensor, eps, rtol, atol float64) {
	t.Helper()
	y, err := m.Forward(x, true)
	if err != nil {
		t.Fatal(err)
	}
	r := gradcheck.RandomVector(y.Numel(), 99)
	dy, err := b.New(y.Shape...)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Upload(dy, r); err != nil {
		t.Fatal(err)
	}
	dx, err := m.Backward(dy)
	if err != nil {
		t.Fatal(err)
	}
	inputs := []gradInput{{"x", x.Host, download(t, b, dx)}}
	for _, p := range m.Params() {
		inputs = append(inputs, gradInput{p.Name, p.Value.Host, download(t, b, p.Grad)})
	}
	loss := func() float64 {
		y, err := m.Forward(x, true)
		if err != nil {
			t.Fatal(err)
		}
		return gradcheck.Dot64(r, download(t, b, y))
	}
	relus := reluTensors(m)
	checkGradients(t, loss, func() []byte { return reluPattern(t, b, relus) }, inputs, eps, rtol, atol, 0)
}

func TestBlockGradients(t *testing.T) {
	tests := []struct {
		name                 string
		bottleneck           bool
		inC, outC, stride, h int
	}{
		{"basic stride 1", false, 4, 4, 1, 6},
		{"basic stride 2 downsample", false, 3, 6, 2, 5},
		{"basic channel change", false, 3, 5, 1, 5},
		{"bottleneck stride 2 downsample", true, 4, 2, 2, 6},
		{"bottleneck identity", true, 8, 2, 1, 5},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend(t)
			var m module
			var err error
			if tt.bottleneck {
				m, err = NewBottleneck(b, "layer2.0", tt.inC, tt.outC, tt.stride, testRNG(uint64(i)))
			} else {
				m, err = NewBasicBlock(b, "layer2.0", tt.inC, tt.outC, tt.stride, testRNG(uint64(i)))
			}
			if err != nil {
				t.Fatal(err)
			}
			x := randomInput(t, b, uint64(10+i), 3, tt.inC, tt.h, tt.h)
			checkModuleGradients(t, b, m, x, 1e-3, 1e-2, 5e-3)
		})
	}
}

func TestProjectorGradients(t *testing.T) {
	for _, tt := range []struct {
		layers int
		bn     bool
	}{{2, false}, {2, true}, {3, false}, {3, true}} {
		cfg := tinyConfig()
		cfg.HeadLayers, cfg.HeadBN, cfg.HeadHidden, cfg.HeadOut = tt.layers, tt.bn, 6, 5
		b := newBackend(t)
		p, err := NewProjector(b, 7, cfg, 5)
		if err != nil {
			t.Fatal(err)
		}
		x := randomInput(t, b, 3, 6, 7)
		checkModuleGradients(t, b, projectorModule{p}, x, 3e-3, 1e-2, 2e-3)
	}
}

// projectorModule adapts Projector to module.
type projectorModule struct{ *Projector }

// TestSimCLRGradients checks the whole SimCLR step end to end (encoder, head,
// normalisation, similarity, NT-Xent) on a sample of parameters of every
// depth against central differences of the loss.
func TestSimCLRGradients(t *testing.T) {
	b := newBackend(t)
	cfg := tinyConfig()
	cfg.Width = 3
	m, err := NewSimCLR(b, cfg, 11)
	if err != nil {
		t.Fatal(err)
	}
	x := randomInput(t, b, 4, 6, 3, 8, 8) // N = 3 pairs
	const tau = 0.5
	if _, err := m.Step(x, tau); err != nil {
		t.Fatal(err)
	}
	checked := map[string]bool{
		"conv1.weight": true, "bn1.weight": true, "layer1.0.conv2.weight": true, "layer2.0.downsample.0.weight": true,
		"layer2.0.downsample.1.bias": true, "layer3.1.bn1.bias": true, "layer4.1.conv2.weight": true,
		"layer4.1.bn2.weight": true, "projector.0.weight": true, "projector.1.weight": true, "projector.3.bias": true,
	}
	var inputs []gradInput
	for _, p := range m.Params() {
		if checked[p.Name] {
			inputs = append(inputs, gradInput{p.Name, p.Value.Host, download(t, b, p.Grad)})
		}
	}
	if len(inputs) != len(checked) {
		t.Fatalf("found %d of the %d parameters to check", len(inputs), len(checked))
	}
	loss := func() float64 {
		l, err := m.Step(x, tau)
		if err != nil {
			t.Fatal(err)
		}
		return float64(l)
	}
	relus := reluTensors(m)
	checkGradients(t, loss, func() []byte { return reluPattern(t, b, relus) }, inputs, 5e-4, 2e-2, 3e-4, 10)
}

// TestResNetImageNetStemGradients checks ResNet.Backward through the
// ImageNet stem (7x7 stride-2 conv, BN, ReLU, 3x3 max-pool) and a bottleneck
// against central differences of L = sum(r * features).
func TestResNetImageNetStemGradients(t *testing.T) {
	b := newBackend(t)
	r, err := NewResNet(b, Config{Arch: "resnet18", Stem: StemImageNet, Width: 2, InChannels: 1}, 8)
	if err != nil {
		t.Fatal(err)
	}
	x := randomInput(t, b, 5, 4, 1, 32, 32)
	feat, err := r.Forward(x, true)
	if err != nil {
		t.Fatal(err)
	}
	rv := gradcheck.RandomVector(feat.Numel(), 6)
	dfeat, err := b.New(feat.Shape...)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Upload(dfeat, rv); err != nil {
		t.Fatal(err)
	}
	if err := r.Backward(dfeat); err != nil {
		t.Fatal(err)
	}
	var inputs []gradInput
	for _, p := range r.Params() {
		switch p.Name {
		case "conv1.weight", "bn1.bias", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
			"layer2.1.conv2.weight", "layer4.0.bn2.weight", "layer4.1.bn2.bias":
			inputs = append(inputs, gradInput{p.Name, p.Value.Host, download(t, b, p.Grad)})
		}
	}
	if len(inputs) != 7 {
		t.Fatalf("found %d of the 7 parameters to check", len(inputs))
	}
	loss := func() float64 {
		f, err := r.Forward(x, true)
		if err != nil {
			t.Fatal(err)
		}
		return gradcheck.Dot64(rv, download(t, b, f))
	}
	relus := reluTensors(r)
	pattern := func() []byte {
		return append(reluPattern(t, b, relus), maxPoolArgmax(r.stem.Shape, download(t, b, r.stem))...)
	}
	checkGradients(t, loss, pattern, inputs, 6e-4, 2e-2, 1e-3, 10)
}

// maxPoolArgmax returns, for every window of the stem's 3x3 stride-2 pad-1
// max-pool, the position of its first maximum: when a step changes it, the
// pool's gradient switches inputs (a kink like ReLU's).
func maxPoolArgmax(shape tensor.Shape, x []float32) []byte {
	n, c, h, w := shape[0], shape[1], shape[2], shape[3]
	p := imagenetPool
	ho, wo := backend.ConvOutSize(h, p.Kernel, p.Stride, p.Pad), backend.ConvOutSize(w, p.Kernel, p.Stride, p.Pad)
	var out []byte
	for plane := 0; plane < n*c; plane++ {
		img := x[plane*h*w : (plane+1)*h*w]
		for oy := 0; oy < ho; oy++ {
			for ox := 0; ox < wo; ox++ {
				best, arg := float32(0), -1
				for k := 0; k < p.Kernel*p.Kernel; k++ {
					iy, ix := oy*p.Stride-p.Pad+k/p.Kernel, ox*p.Stride-p.Pad+k%p.Kernel
					if iy < 0 || iy >= h || ix < 0 || ix >= w {
						continue
					}
					if v := img[iy*w+ix]; arg < 0 || v > best {
						best, arg = v, k
					}
				}
				out = append(out, byte(arg))
			}
		}
	}
	return out
}
