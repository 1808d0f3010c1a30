package cpu

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"simclr/internal/backend"
)

// TestMomentumStepByHand checks two steps of each variant on values worked
// out by hand (lr 0.1, momentum 0.9).
func TestMomentumStepByHand(t *testing.T) {
	tests := []struct {
		name   string
		opts   backend.MomentumOpts
		p0, g  []float32
		step1  []float64 // p after the first step
		buf1   []float64
		step2  []float64 // p after a second step with the same g
		bufEnd []float64
	}{
		{
			// g' = g + 0.1p. Elem 0: g'=0.6, buf=0.6, p=0.94; then
			// g'=0.5+0.094=0.594, buf=0.54+0.594=1.134, p=0.94-0.1134=0.8266.
			// Elem 1 (g=0): g'=-0.2, p=-1.98; g'=-0.198, buf=-0.378, p=-1.9422.
			name:  "sgd weight decay",
			opts:  backend.MomentumOpts{LR: 0.1, Momentum: 0.9, WeightDecay: 0.1, TrustRatio: 1},
			p0:    []float32{1, -2},
			g:     []float32{0.5, 0},
			step1: []float64{0.94, -1.98}, buf1: []float64{0.6, -0.2},
			step2: []float64{0.8266, -1.9422}, bufEnd: []float64{1.134, -0.378},
		},
		{
			// Nesterov: d = g' + 0.9 buf. Step 1: g'=0.6, buf=0.6, d=1.14,
			// p=0.886. Step 2: g'=0.5886, buf=1.1286, d=0.5886+1.01574=1.60434,
			// p=0.886-0.160434=0.725566.
			name:  "nesterov",
			opts:  backend.MomentumOpts{LR: 0.1, Momentum: 0.9, WeightDecay: 0.1, TrustRatio: 1, Nesterov: true},
			p0:    []float32{1},
			g:     []float32{0.5},
			step1: []float64{0.886}, buf1: []float64{0.6},
			step2: []float64{0.725566}, bufEnd: []float64{1.1286},
		},
		{
			// LARS trust ratio 2, no decay: g'=1; p=0.9; buf=0.9+1=1.9, p=0.71.
			name:  "trust ratio",
			opts:  backend.MomentumOpts{LR: 0.1, Momentum: 0.9, TrustRatio: 2},
			p0:    []float32{1},
			g:     []float32{0.5},
			step1: []float64{0.9}, buf1: []float64{1},
			step2: []float64{0.71}, bufEnd: []float64{1.9},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := New()
			n := len(tc.p0)
			p := newT(t, b, tc.p0, n)
			g := newT(t, b, tc.g, n)
			buf := randT(t, b, 1, 100, n) // stale contents: the first step must ignore them
			o := tc.opts
			o.FirstStep = true
			must(t, b.MomentumStep(p, g, buf, o))
			closeTo(t, "p step 1", p.Host, tc.step1, 1e-6, 1e-7)
			closeTo(t, "buf step 1", buf.Host, tc.buf1, 1e-6, 1e-7)
			o.FirstStep = false
			must(t, b.MomentumStep(p, g, buf, o))
			closeTo(t, "p step 2", p.Host, tc.step2, 1e-6, 1e-7)
			closeTo(t, "buf step 2", buf.Host, tc.bufEnd, 1e-6, 1e-7)
		})
	}
}

// TestAdamWStepByHand: lr 0.1, betas (0.9, 0.999), eps 1e-8, wd 0.01,
// p0 = 1 and gradients 0.5, -0.25, 0.125. Step 1: p = 0.999 -
// 0.1*(0.05/0.1)/(sqrt(0.00025/0.001)+1e-8) = 0.899000002. Steps 2 and 3
// follow the same formula (m = 0.02, v = 0.00031225, bc1 = 0.19,
// bc2 = 0.001999 -> p = 0.871467299; then p = 0.836552918).
func TestAdamWStepByHand(t *testing.T) {
	b := New()
	p := newT(t, b, []float32{1}, 1)
	g := newT(t, b, nil, 1)
	m, v := newT(t, b, nil, 1), newT(t, b, nil, 1)
	o := backend.AdamWOpts{LR: 0.1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}
	steps := []struct {
		g       float32
		p, m, v float64
	}{
		{0.5, 0.899000002, 0.05, 0.00025},
		{-0.25, 0.8714672987, 0.02, 0.00031225},
		{0.125, 0.8365529176, 0.0305, 0.00032756275},
	}
	for i, s := range steps {
		g.Host[0] = s.g
		o.Step = i + 1
		must(t, b.AdamWStep(p, g, m, v, o))
		closeTo(t, "p", p.Host, []float64{s.p}, 1e-6, 0)
		closeTo(t, "m", m.Host, []float64{s.m}, 1e-6, 0)
		closeTo(t, "v", v.Host, []float64{s.v}, 1e-6, 0)
	}
}

// TestOptimizerStepsLarge runs both steps on tensors spanning several
// parallel chunks and compares every element with the scalar formula.
func TestOptimizerStepsLarge(t *testing.T) {
	b := New()
	n := 3*elemGrain + 17
	p := randT(t, b, 1, 1, n)
	g := randT(t, b, 2, 1, n)
	buf := randT(t, b, 3, 1, n)
	p0, buf0 := f64(p.Host), f64(buf.Host)
	mo := backend.MomentumOpts{LR: 0.05, Momentum: 0.9, WeightDecay: 1e-4, TrustRatio: 0.7, Nesterov: true}
	must(t, b.MomentumStep(p, g, buf, mo))
	wantP, wantB := make([]float64, n), make([]float64, n)
	for i := range wantP {
		d := 0.7 * (float64(g.Host[i]) + 1e-4*p0[i])
		wantB[i] = 0.9*buf0[i] + d
		wantP[i] = p0[i] - 0.05*(d+0.9*wantB[i])
	}
	closeTo(t, "momentum p", p.Host, wantP, 1e-5, 1e-6)
	closeTo(t, "momentum buf", buf.Host, wantB, 1e-5, 1e-6)

	m, v := randT(t, b, 4, 0.1, n), randT(t, b, 5, 0.1, n)
	for i := range v.Host {
		v.Host[i] = float32(math.Abs(float64(v.Host[i])))
	}
	p0, m0, v0 := f64(p.Host), f64(m.Host), f64(v.Host)
	ao := backend.AdamWOpts{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.05, Step: 7}
	must(t, b.AdamWStep(p, g, m, v, ao))
	bc1, bc2 := 1-math.Pow(0.9, 7), 1-math.Pow(0.999, 7)
	for i := range wantP {
		gi := float64(g.Host[i])
		mi := 0.9*m0[i] + 0.1*gi
		vi := 0.999*v0[i] + 0.001*gi*gi
		wantP[i] = p0[i]*(1-1e-3*0.05) - 1e-3/bc1*mi/(math.Sqrt(vi)/math.Sqrt(bc2)+1e-8)
	}
	closeTo(t, "adamw p", p.Host, wantP, 1e-5, 1e-6)
}

func TestOptimizerStepsRejectBadOptions(t *testing.T) {
	b := New()
	p, g, buf, v := newT(t, b, nil, 3), newT(t, b, nil, 3), newT(t, b, nil, 3), newT(t, b, nil, 3)
	nan := float32(math.NaN())
	for _, o := range []backend.MomentumOpts{
		{LR: 0.1, TrustRatio: 0},
		{LR: 0.1, TrustRatio: -1},
		{LR: 0.1, TrustRatio: nan},
		{LR: nan, TrustRatio: 1},
		{LR: 0.1, Momentum: -0.5, TrustRatio: 1},
	} {
		if err := b.MomentumStep(p, g, buf, o); err == nil {
			t.Errorf("momentum options %+v accepted", o)
		}
	}
	for _, o := range []backend.AdamWOpts{
		{LR: 0.1, Beta1: 0.9, Beta2: 0.999, Step: 0},
		{LR: 0.1, Beta1: 1, Beta2: 0.999, Step: 1},
		{LR: 0.1, Beta1: 0.9, Beta2: 0.999, Eps: -1, Step: 1},
		{LR: nan, Beta1: 0.9, Beta2: 0.999, Step: 1},
	} {
		if err := b.AdamWStep(p, g, buf, v, o); err == nil {
			t.Errorf("adamw options %+v accepted", o)
		}
	}
	err := b.MomentumStep(p, newT(t, b, nil, 4), buf, backend.MomentumOpts{LR: 0.1, TrustRatio: 1})
	if err == nil || !strings.Contains(err.Error(), "momentum step") {
		t.Fatalf("shape mismatch: got %v", err)
	}
}

// TestLARSStepByHand: p = (3, 4), g = (0.6, 0.8), no decay, eta 0.001:
// q = 0.001*5/1 = 0.005, buf = q*g = (0.003, 0.004), p -= 1*buf. A second
// tensor without adaptation gets q = 1: buf = g = 2, p = 1 - 2 = -1. A NaN
// gradient in either tensor is a *backend.NonFiniteError naming it, and
// nothing changes.
func TestLARSStepByHand(t *testing.T) {
	b := New()
	p, g, buf := newT(t, b, []float32{3, 4}, 2), newT(t, b, []float32{0.6, 0.8}, 2), newT(t, b, nil, 2)
	p2, g2, buf2 := newT(t, b, []float32{1}, 1), newT(t, b, []float32{2}, 1), newT(t, b, nil, 1)
	o := backend.LARSOpts{LR: 1, Momentum: 0.9, TrustCoef: 0.001, FirstStep: true}
	ps, gs, bs := []*Tensor{p, p2}, []*Tensor{g, g2}, []*Tensor{buf, buf2}
	if err := b.LARSStep(ps, gs, bs, []bool{true, false}, o); err != nil {
		t.Fatal(err)
	}
	want := map[string][2][]float64{
		"p": {{2.997, 3.996}, {0.003, 0.004}}, "p2": {{-1}, {2}},
	}
	for name, pair := range map[string][2]*Tensor{"p": {p, buf}, "p2": {p2, buf2}} {
		for k, x := range pair {
			for i, v := range x.Host {
				if math.Abs(float64(v)-want[name][k][i]) > 1e-6 {
					t.Errorf("%s (tensor %d) [%d] = %v, want %v", name, k, i, v, want[name][k][i])
				}
			}
		}
	}
	before := append([]float32(nil), p.Host...)
	g2.Host[0] = float32(math.NaN())
	err := b.LARSStep(ps, gs, bs, []bool{true, false}, o)
	var nf *backend.NonFiniteError
	if !errors.As(err, &nf) || nf.Index != 1 || nf.What != "gradient" {
		t.Fatalf("NaN gradient of tensor 1: got %v, want a NonFiniteError for tensor 1's gradient", err)
	}
	if p.Host[0] != before[0] || p.Host[1] != before[1] {
		t.Fatalf("tensor 0 changed to %v although tensor 1's norm failed", p.Host)
	}
}

// TestLARSStepMatchesPerTensorPath: LARSStep equals LARSTrust from
// SumSquares/Dot followed by MomentumStep, bit for bit, over three steps.
func TestLARSStepMatchesPerTensorPath(t *testing.T) {
	b := New()
	sizes := []int{37, 1, 300}
	adapt := []bool{true, false, true}
	mk := func() (ps, gs, bs []*Tensor) {
		for k, n := range sizes {
			v := make([]float32, n)
			w := make([]float32, n)
			for i := range v {
				v[i] = float32(math.Sin(float64(7*i+k+1))) * 0.3
				w[i] = float32(math.Cos(float64(3*i+k))) * 0.01
			}
			ps, gs, bs = append(ps, newT(t, b, v, n)), append(gs, newT(t, b, w, n)), append(bs, newT(t, b, nil, n))
		}
		return
	}
	ps, gs, bs := mk()
	rp, rg, rb := mk()
	for step := 0; step < 3; step++ {
		o := backend.LARSOpts{LR: 0.5, Momentum: 0.9, WeightDecay: 1e-3, TrustCoef: 0.001, FirstStep: step == 0}
		if err := b.LARSStep(ps, gs, bs, adapt, o); err != nil {
			t.Fatal(err)
		}
		for i := range rp {
			gg, _ := b.SumSquares(rg[i])
			pp, _ := b.SumSquares(rp[i])
			gp, _ := b.Dot(rg[i], rp[i])
			q, e := backend.LARSTrust(gg, pp, gp, adapt[i], o.WeightDecay, o.TrustCoef)
			if e != nil {
				t.Fatal(e)
			}
			wd := float32(0)
			if adapt[i] {
				wd = o.WeightDecay
			}
			if err := b.MomentumStep(rp[i], rg[i], rb[i], backend.MomentumOpts{LR: o.LR, Momentum: o.Momentum, WeightDecay: wd, TrustRatio: q, FirstStep: o.FirstStep}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range ps {
		for j := range ps[i].Host {
			if math.Float32bits(ps[i].Host[j]) != math.Float32bits(rp[i].Host[j]) || math.Float32bits(bs[i].Host[j]) != math.Float32bits(rb[i].Host[j]) {
				t.Fatalf("tensor %d [%d]: p %v buf %v, per-tensor path p %v buf %v", i, j, ps[i].Host[j], bs[i].Host[j], rp[i].Host[j], rb[i].Host[j])
			}
		}
	}
}

// TestMomentumStepMultiByHand: tensor 0 decayed (wd 0.1), tensor 1 not:
// p = 1, g = 0.5: g' = 0.6 and 0.5, p = 0.94 and 0.95 after one step.
func TestMomentumStepMultiByHand(t *testing.T) {
	b := New()
	ps := []*Tensor{newT(t, b, []float32{1}, 1), newT(t, b, []float32{1}, 1)}
	gs := []*Tensor{newT(t, b, []float32{0.5}, 1), newT(t, b, []float32{0.5}, 1)}
	bs := []*Tensor{newT(t, b, nil, 1), newT(t, b, nil, 1)}
	o := backend.MomentumOpts{LR: 0.1, Momentum: 0.9, WeightDecay: 0.1, TrustRatio: 1, FirstStep: true}
	if err := b.MomentumStepMulti(ps, gs, bs, []bool{true, false}, o); err != nil {
		t.Fatal(err)
	}
	for i, want := range []float64{0.94, 0.95} {
		if got := float64(ps[i].Host[0]); math.Abs(got-want) > 1e-6 {
			t.Errorf("tensor %d: p %v, want %v", i, got, want)
		}
	}
}

// TestAdamWStepMultiByHand: lr 0.1, betas (0.9, 0.999), eps 1e-8, p0 = 1,
// g = 0.5, step 1. Tensor 0 decayed (wd 0.01): p = 0.999 - 0.1*0.5/0.5 =
// 0.899 (TestAdamWStepByHand's first step); tensor 1 not: p = 0.9. Both
// get m = 0.05, v = 0.00025.
func TestAdamWStepMultiByHand(t *testing.T) {
	b := New()
	ps := []*Tensor{newT(t, b, []float32{1}, 1), newT(t, b, []float32{1}, 1)}
	gs := []*Tensor{newT(t, b, []float32{0.5}, 1), newT(t, b, []float32{0.5}, 1)}
	ms := []*Tensor{newT(t, b, nil, 1), newT(t, b, nil, 1)}
	vs := []*Tensor{newT(t, b, nil, 1), newT(t, b, nil, 1)}
	o := backend.AdamWOpts{LR: 0.1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Step: 1}
	if err := b.AdamWStepMulti(ps, gs, ms, vs, []bool{true, false}, o); err != nil {
		t.Fatal(err)
	}
	for i, want := range []float64{0.899, 0.9} {
		closeTo(t, fmt.Sprintf("p[%d]", i), ps[i].Host, []float64{want}, 1e-6, 0)
		closeTo(t, fmt.Sprintf("m[%d]", i), ms[i].Host, []float64{0.05}, 1e-6, 0)
		closeTo(t, fmt.Sprintf("v[%d]", i), vs[i].Host, []float64{0.00025}, 1e-6, 0)
	}
}

// TestAdamWStepMultiMatchesPerTensor: three steps over tensors spanning
// several parallel chunks equal the per-tensor AdamWStep calls bit for bit.
func TestAdamWStepMultiMatchesPerTensor(t *testing.T) {
	b := New()
	sizes := []int{3*elemGrain + 17, 1, 0, 129}
	decay := []bool{true, false, true, true}
	mk := func() (ps, gs, ms, vs []*Tensor) {
		for i, n := range sizes {
			pv, gv := make([]float32, n), make([]float32, n)
			for j := range pv {
				pv[j] = float32(math.Sin(float64(7*j+i))) * 0.5
				gv[j] = float32(math.Cos(float64(3*j+2*i))) * 0.01
			}
			ps, gs = append(ps, newT(t, b, pv, n)), append(gs, newT(t, b, gv, n))
			ms, vs = append(ms, newT(t, b, nil, n)), append(vs, newT(t, b, nil, n))
		}
		return
	}
	ps, gs, ms, vs := mk()
	rp, rg, rm, rv := mk()
	for step := 1; step <= 3; step++ {
		o := backend.AdamWOpts{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.05, Step: step}
		must(t, b.AdamWStepMulti(ps, gs, ms, vs, decay, o))
		for i := range rp {
			oi := o
			if !decay[i] {
				oi.WeightDecay = 0
			}
			must(t, b.AdamWStep(rp[i], rg[i], rm[i], rv[i], oi))
		}
	}
	for i := range ps {
		for j := range ps[i].Host {
			for _, pair := range [][2]*Tensor{{ps[i], rp[i]}, {ms[i], rm[i]}, {vs[i], rv[i]}} {
				if math.Float32bits(pair[0].Host[j]) != math.Float32bits(pair[1].Host[j]) {
					t.Fatalf("tensor %d [%d]: %v, per-tensor path %v", i, j, pair[0].Host[j], pair[1].Host[j])
				}
			}
		}
	}
}
