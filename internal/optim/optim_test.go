package optim

import (
	"errors"
	"math"
	"strings"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/backend/cpu"
	"simclr/internal/model"
	"simclr/internal/tensor"
)

// tol is the absolute tolerance against the float64 hand computations: the
// values are O(1) and three float32 steps accumulate a few ulps (~1e-7).
const tol = 2e-6

func newParam(t *testing.T, name string, value, grad []float32, noDecay bool) *model.Param {
	t.Helper()
	v, err := tensor.FromHost(append([]float32(nil), value...), len(value))
	if err != nil {
		t.Fatal(err)
	}
	g, err := tensor.FromHost(append([]float32(nil), grad...), len(grad))
	if err != nil {
		t.Fatal(err)
	}
	return &model.Param{Name: name, Value: v, Grad: g, NoDecay: noDecay}
}

func assertClose(t *testing.T, what string, got []float32, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > tol {
			t.Errorf("%s[%d] = %.9g, want %.9g", what, i, got[i], want[i])
		}
	}
}

// Expected parameters after 1, 2 and 3 steps with a constant gradient,
// computed by hand from the update rules (and checked in float64).
func TestSGDSteps(t *testing.T) {
	tests := []struct {
		name     string
		nesterov bool
		want     [3][]float64
	}{
		// g' = g + 0.1p; buf = 0.9buf + g'; p -= 0.1buf.
		{"momentum", false, [3][]float64{{0.94, -2.08}, {0.8266, -2.2312}, {0.666274, -2.444968}}},
		// d = g' + 0.9buf.
		{"nesterov", true, [3][]float64{{0.886, -2.152}, {0.725566, -2.365912}, {0.525363646, -2.632848472}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newParam(t, "w", []float32{1, -2}, []float32{0.5, 1}, false)
			opt, err := NewSGD(cpu.New(), []*model.Param{p}, SGDOptions{Momentum: 0.9, WeightDecay: 0.1, Nesterov: tc.nesterov})
			if err != nil {
				t.Fatal(err)
			}
			for s := 0; s < 3; s++ {
				if err := opt.Step(0.1); err != nil {
					t.Fatal(err)
				}
				assertClose(t, "p", p.Value.Host, tc.want[s])
			}
			if opt.Steps() != 3 {
				t.Errorf("Steps() = %d, want 3", opt.Steps())
			}
		})
	}
}

func TestSGDExcludeBiasBN(t *testing.T) {
	tests := []struct {
		exclude bool
		want    float64
	}{
		{false, 1 - 0.1*(0.5+0.1*1)}, // decay applies: g' = 0.6
		{true, 1 - 0.1*0.5},          // NoDecay param: g' = g
	}
	for _, tc := range tests {
		bias := newParam(t, "b", []float32{1}, []float32{0.5}, true)
		w := newParam(t, "w", []float32{1}, []float32{0.5}, false)
		opt, err := NewSGD(cpu.New(), []*model.Param{w, bias}, SGDOptions{Momentum: 0.9, WeightDecay: 0.1, ExcludeBiasBN: tc.exclude})
		if err != nil {
			t.Fatal(err)
		}
		if err := opt.Step(0.1); err != nil {
			t.Fatal(err)
		}
		assertClose(t, "bias", bias.Value.Host, []float64{tc.want})
		assertClose(t, "weight", w.Value.Host, []float64{0.94}) // always decayed
	}
}

func TestLARSSteps(t *testing.T) {
	// p = (3,4), g = (0.8,-0.6) ⟂ p, wd 0.5, eta 0.1, m 0.9, lr 1.
	// Step 1 by hand: dp = (2.3, 1.4), ||dp|| = sqrt(7.25), ||p|| = 5,
	// q = 0.5/sqrt(7.25) = 0.18569534, p1 = p - q*dp.
	want := [3][]float64{
		{2.572900722192781, 3.7400265265521275},
		{1.8007427039683757, 3.2700172980677067},
		{0.7869236084437119, 2.6529100225309548},
	}
	p := newParam(t, "layer1.0.conv1.weight", []float32{3, 4}, []float32{0.8, -0.6}, false)
	opt, err := NewLARS(cpu.New(), []*model.Param{p}, LARSOptions{Momentum: 0.9, WeightDecay: 0.5, TrustCoef: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	qs, err := opt.TrustRatios()
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "q", qs, []float64{0.18569533817705186})
	for s := 0; s < 3; s++ {
		if err := opt.Step(1); err != nil {
			t.Fatal(err)
		}
		assertClose(t, "p", p.Value.Host, want[s])
	}
}

func TestLARSSpecialCases(t *testing.T) {
	tests := []struct {
		name    string
		value   []float32
		grad    []float32
		noDecay bool
		exclude bool
		want    []float64 // after one step, lr 0.5, wd 0.1, eta 0.1
	}{
		// ||p|| = 0 -> q = 1, dp = g.
		{"zero param", []float32{0, 0}, []float32{1, 2}, false, true, []float64{-0.5, -1}},
		// ||dp|| = 0 (g = -wd*p) -> q = 1 and nothing moves.
		{"zero update", []float32{1, 2}, []float32{-0.1, -0.2}, false, true, []float64{1, 2}},
		// Excluded NoDecay param: no wd, no adaptation: p -= lr*g.
		{"excluded bias", []float32{3, 4}, []float32{1, 1}, true, true, []float64{2.5, 3.5}},
		// Same param without exclusion: dp = (1.3,1.4), q = 0.5/sqrt(3.65).
		{"bias not excluded", []float32{3, 4}, []float32{1, 1}, true, false,
			[]float64{3 - 0.5*1.3*0.5/math.Sqrt(3.65), 4 - 0.5*1.4*0.5/math.Sqrt(3.65)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newParam(t, "p", tc.value, tc.grad, tc.noDecay)
			opt, err := NewLARS(cpu.New(), []*model.Param{p}, LARSOptions{Momentum: 0.9, WeightDecay: 0.1, TrustCoef: 0.1, ExcludeBiasBN: tc.exclude})
			if err != nil {
				t.Fatal(err)
			}
			if err := opt.Step(0.5); err != nil {
				t.Fatal(err)
			}
			assertClose(t, "p", p.Value.Host, tc.want)
		})
	}
}

func TestAdamWSteps(t *testing.T) {
	tests := []struct {
		name  string
		grads []float32
		wd    float32
		want  [3]float64
	}{
		// Constant g: the corrected moments are g and g², each step is
		// p = p*(1 - lr*wd) - lr*sign(g): 0.899, 0.798101, 0.697302899.
		{"constant grad", []float32{0.5, 0.5, 0.5}, 0.01, [3]float64{0.899000002, 0.7981010039980005, 0.6973029049940025}},
		// Step 2 by hand: m = -0.01, v = 0.001999, mhat = -0.01/0.19, vhat = 1.
		{"changing grad", []float32{1, -1, 2}, 0, [3]float64{0.900000001, 0.9052631588421052, 0.8554389447994022}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newParam(t, "w", []float32{1}, []float32{0}, false)
			opt, err := NewAdamW(cpu.New(), []*model.Param{p}, AdamWOptions{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: tc.wd})
			if err != nil {
				t.Fatal(err)
			}
			for s := 0; s < 3; s++ {
				p.Grad.Host[0] = tc.grads[s]
				if err := opt.Step(0.1); err != nil {
					t.Fatal(err)
				}
				assertClose(t, "p", p.Value.Host, []float64{tc.want[s]})
			}
		})
	}
}

func TestAdamWExcludeBiasBN(t *testing.T) {
	for _, exclude := range []bool{false, true} {
		bias := newParam(t, "bn.bias", []float32{1}, []float32{0.5}, true)
		opt, err := NewAdamW(cpu.New(), []*model.Param{bias}, AdamWOptions{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.5, ExcludeBiasBN: exclude})
		if err != nil {
			t.Fatal(err)
		}
		if err := opt.Step(0.1); err != nil {
			t.Fatal(err)
		}
		want := 1*(1-0.1*0.5) - 0.1 // decayed
		if exclude {
			want = 1 - 0.1
		}
		assertClose(t, "bias", bias.Value.Host, []float64{want})
	}
}

// makeOpt builds each optimizer kind over two params for the shared tests.
var kinds = []struct {
	name   string
	states int // state entries per parameter
	make   func(b backend.Backend, ps []*model.Param) (Optimizer, error)
}{
	{"sgd", 1, func(b backend.Backend, ps []*model.Param) (Optimizer, error) {
		return NewSGD(b, ps, SGDOptions{Momentum: 0.9, WeightDecay: 1e-3, Nesterov: true, ExcludeBiasBN: true})
	}},
	{"lars", 1, func(b backend.Backend, ps []*model.Param) (Optimizer, error) {
		return NewLARS(b, ps, LARSOptions{Momentum: 0.9, WeightDecay: 1e-3, TrustCoef: 0.01, ExcludeBiasBN: true})
	}},
	{"adamw", 2, func(b backend.Backend, ps []*model.Param) (Optimizer, error) {
		return NewAdamW(b, ps, AdamWOptions{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.05, ExcludeBiasBN: true})
	}},
}

func twoParams(t *testing.T) []*model.Param {
	return []*model.Param{
		newParam(t, "layer1.0.conv1.weight", []float32{0.3, -0.7, 1.1, 0.2}, []float32{0.05, 0.1, -0.2, 0.4}, false),
		newParam(t, "layer1.0.bn1.bias", []float32{0.1, -0.1}, []float32{0.3, -0.6}, true),
	}
}

// setGrads writes a step-dependent gradient into every param.
func setGrads(ps []*model.Param, step int) {
	for k, p := range ps {
		for i := range p.Grad.Host {
			p.Grad.Host[i] = float32(math.Sin(float64(step*7+k*3+i))) * 0.5
		}
	}
}

func TestStateRoundTripReproducesNextStep(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			b := cpu.New()
			a := twoParams(t)
			optA, err := kind.make(b, a)
			if err != nil {
				t.Fatal(err)
			}
			for s := 0; s < 2; s++ {
				setGrads(a, s)
				if err := optA.Step(0.05); err != nil {
					t.Fatal(err)
				}
			}
			// "Checkpoint": download the state and the params.
			saved := map[string][]float32{}
			st := optA.State()
			if len(st) != kind.states*len(a) {
				t.Fatalf("State() has %d entries, want %d", len(st), kind.states*len(a))
			}
			for _, nt := range st {
				if !strings.HasPrefix(nt.Name, "optim.layer1.0.") {
					t.Errorf("state name %q lacks the optim.<param> prefix", nt.Name)
				}
				v := make([]float32, nt.T.Numel())
				if err := b.Download(v, nt.T); err != nil {
					t.Fatal(err)
				}
				saved[nt.Name] = v
			}
			c := twoParams(t)
			for i := range c {
				copy(c[i].Value.Host, a[i].Value.Host)
			}
			optC, err := kind.make(b, c)
			if err != nil {
				t.Fatal(err)
			}
			get := func(name string) ([]float32, bool) { v, ok := saved[name]; return v, ok }
			if err := optC.LoadState(get, optA.Steps()); err != nil {
				t.Fatal(err)
			}
			if optC.Steps() != 2 {
				t.Errorf("Steps() after LoadState = %d, want 2", optC.Steps())
			}
			setGrads(a, 2)
			setGrads(c, 2)
			if err := optA.Step(0.05); err != nil {
				t.Fatal(err)
			}
			if err := optC.Step(0.05); err != nil {
				t.Fatal(err)
			}
			for i := range a {
				for j := range a[i].Value.Host {
					if a[i].Value.Host[j] != c[i].Value.Host[j] {
						t.Errorf("%s[%d]: resumed %v != continuous %v", a[i].Name, j, c[i].Value.Host[j], a[i].Value.Host[j])
					}
				}
			}
			// A fresh optimizer (no LoadState) must NOT match: the state matters.
			d := twoParams(t)
			for i := range d {
				copy(d[i].Value.Host, c[i].Value.Host)
			}
			setGrads(d, 2)
			optD, _ := kind.make(b, d)
			_ = optD.Step(0.05)
			same := true
			for j := range d[0].Value.Host {
				same = same && d[0].Value.Host[j] == a[0].Value.Host[j]
			}
			if same {
				t.Errorf("fresh optimizer reproduced the resumed step: state is not being used")
			}
		})
	}
}

func TestLoadStateErrors(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			ps := twoParams(t)
			opt, err := kind.make(cpu.New(), ps)
			if err != nil {
				t.Fatal(err)
			}
			good := map[string][]float32{}
			for _, nt := range opt.State() {
				good[nt.Name] = make([]float32, nt.T.Numel())
			}
			first := opt.State()[0].Name
			tests := []struct {
				name  string
				edit  func(m map[string][]float32)
				steps int
				want  string
			}{
				{"missing", func(m map[string][]float32) { delete(m, first) }, 3, first + `" is missing`},
				{"wrong size", func(m map[string][]float32) { m[first] = make([]float32, 3) }, 3, "has 3 values, want 4"},
				{"NaN", func(m map[string][]float32) { m[first] = []float32{0, float32(math.NaN()), 0, 0} }, 3, "non-finite value NaN at index 1"},
				{"negative steps", func(m map[string][]float32) {}, -1, "step count -1"},
			}
			for _, tc := range tests {
				m := map[string][]float32{}
				for k, v := range good {
					m[k] = v
				}
				tc.edit(m)
				err := opt.LoadState(func(n string) ([]float32, bool) { v, ok := m[n]; return v, ok }, tc.steps)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: error %v, want it to contain %q", tc.name, err, tc.want)
				}
				if opt.Steps() != 0 {
					t.Errorf("%s: a failed LoadState changed Steps() to %d", tc.name, opt.Steps())
				}
			}
			if err := opt.LoadState(nil, 0); err == nil {
				t.Errorf("nil lookup accepted")
			}
		})
	}
}

func TestNonFiniteGradientNamesParamAndChangesNothing(t *testing.T) {
	for _, kind := range kinds {
		for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(-1))} {
			t.Run(kind.name, func(t *testing.T) {
				ps := twoParams(t)
				opt, err := kind.make(cpu.New(), ps)
				if err != nil {
					t.Fatal(err)
				}
				before := append([]float32(nil), ps[0].Value.Host...)
				ps[1].Grad.Host[1] = bad
				err = opt.Step(0.1)
				if err == nil || !strings.Contains(err.Error(), "layer1.0.bn1.bias") || !errors.Is(err, ErrNonFinite) {
					t.Fatalf("error %v should name layer1.0.bn1.bias and wrap ErrNonFinite", err)
				}
				for i, v := range ps[0].Value.Host {
					if v != before[i] {
						t.Errorf("param 0 changed before the bad gradient was detected")
					}
				}
				if opt.Steps() != 0 {
					t.Errorf("Steps() = %d after a failed step", opt.Steps())
				}
			})
		}
	}
}

func TestStepRejectsBadLR(t *testing.T) {
	for _, kind := range kinds {
		opt, err := kind.make(cpu.New(), twoParams(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, lr := range []float32{-0.1, float32(math.NaN()), float32(math.Inf(1))} {
			if err := opt.Step(lr); err == nil || !strings.Contains(err.Error(), "learning rate") {
				t.Errorf("%s lr %v: %v", kind.name, lr, err)
			}
		}
	}
}

func TestReleasedOptimizerErrors(t *testing.T) {
	opt, err := NewSGD(cpu.New(), twoParams(t), SGDOptions{Momentum: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	opt.Release()
	if err := opt.Step(0.1); err == nil || !strings.Contains(err.Error(), "released") {
		t.Errorf("Step after Release: %v", err)
	}
	if err := opt.LoadState(func(string) ([]float32, bool) { return nil, false }, 0); err == nil {
		t.Errorf("LoadState after Release succeeded")
	}
}

func TestConstructorErrors(t *testing.T) {
	b := cpu.New()
	ok := func() []*model.Param { return twoParams(t) }
	dup := func() []*model.Param { ps := twoParams(t); ps[1].Name = ps[0].Name; return ps }
	mis := func() []*model.Param { ps := twoParams(t); ps[0].Grad = tensor.NewHost(3); return ps }
	nilGrad := func() []*model.Param { ps := twoParams(t); ps[1].Grad = nil; return ps }
	tests := []struct {
		name string
		make func() error
		want string
	}{
		{"nil backend", func() error { _, err := NewSGD(nil, ok(), SGDOptions{}); return err }, "backend is nil"},
		{"no params", func() error { _, err := NewSGD(b, nil, SGDOptions{}); return err }, "no parameters"},
		{"nil param", func() error { _, err := NewSGD(b, []*model.Param{nil}, SGDOptions{}); return err }, "parameter 0 is nil"},
		{"duplicate names", func() error { _, err := NewLARS(b, dup(), LARSOptions{TrustCoef: 1}); return err }, "used twice"},
		{"grad shape", func() error { _, err := NewAdamW(b, mis(), AdamWOptions{Eps: 1e-8}); return err }, "grad vs value of layer1.0.conv1.weight"},
		{"nil grad", func() error { _, err := NewSGD(b, nilGrad(), SGDOptions{}); return err }, "nil Value or Grad"},
		{"momentum 1", func() error { _, err := NewSGD(b, ok(), SGDOptions{Momentum: 1}); return err }, "momentum 1"},
		{"negative wd", func() error { _, err := NewSGD(b, ok(), SGDOptions{WeightDecay: -1}); return err }, "weight decay -1"},
		{"nesterov no momentum", func() error { _, err := NewSGD(b, ok(), SGDOptions{Nesterov: true}); return err }, "nesterov needs momentum"},
		{"trust coef 0", func() error { _, err := NewLARS(b, ok(), LARSOptions{Momentum: 0.9}); return err }, "trust coefficient 0"},
		{"beta2 1", func() error { _, err := NewAdamW(b, ok(), AdamWOptions{Beta1: 0.9, Beta2: 1, Eps: 1e-8}); return err }, "beta2 1"},
		{"eps 0", func() error { _, err := NewAdamW(b, ok(), AdamWOptions{Beta1: 0.9, Beta2: 0.99}); return err }, "eps 0"},
	}
	for _, tc := range tests {
		err := tc.make()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.name, err, tc.want)
		}
	}
}

// TestStepDeferredRecordsWhatStepReturns: StepDeferred with a NaN or Inf
// gradient in the second parameter returns nil, changes nothing and leaves
// a status record whose FailureError is exactly Step's error (naming the
// parameter, wrapping ErrNonFinite) at the step given; a later
// StepDeferred with finite gradients changes nothing either (the record is
// sticky), and a finite first step matches Step bit for bit.
func TestStepDeferredRecordsWhatStepReturns(t *testing.T) {
	b := cpu.New()
	for _, kind := range kinds {
		for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(-1))} {
			t.Run(kind.name, func(t *testing.T) {
				ref, ps := twoParams(t), twoParams(t)
				optRef, err := kind.make(b, ref)
				if err != nil {
					t.Fatal(err)
				}
				opt, err := kind.make(b, ps)
				if err != nil {
					t.Fatal(err)
				}
				status, err := b.New(backend.StatusWords + 1)
				if err != nil {
					t.Fatal(err)
				}
				d := backend.DeferredCheck{Status: status, At: 1, Step: 7}
				if err := optRef.Step(0.1); err != nil {
					t.Fatal(err)
				}
				if err := opt.StepDeferred(0.1, d); err != nil {
					t.Fatal(err)
				}
				for k := range ps {
					for i, v := range ps[k].Value.Host {
						if math.Float32bits(v) != math.Float32bits(ref[k].Value.Host[i]) {
							t.Fatalf("param %d[%d]: deferred %v, Step %v", k, i, v, ref[k].Value.Host[i])
						}
					}
				}
				if f, err := backend.DecodeStatus(status.Host[1:]); f != nil || err != nil {
					t.Fatalf("record after a finite step: %+v, %v", f, err)
				}
				ps[1].Grad.Host[1], ref[1].Grad.Host[1] = bad, bad
				before := append([]float32(nil), ps[0].Value.Host...)
				d.Step = 8
				if err := opt.StepDeferred(0.1, d); err != nil {
					t.Fatalf("StepDeferred returned %v; the failure belongs in the record", err)
				}
				ps[1].Grad.Host[1] = 0.25
				d.Step = 9
				if err := opt.StepDeferred(0.1, d); err != nil {
					t.Fatal(err)
				}
				for i, v := range ps[0].Value.Host {
					if v != before[i] {
						t.Fatalf("param 0 changed after the recorded failure")
					}
				}
				f, err := backend.DecodeStatus(status.Host[1:])
				if err != nil || f == nil || f.Step != 8 || f.Index != 1 {
					t.Fatalf("record %+v, %v: want step 8, tensor 1", f, err)
				}
				want := optRef.Step(0.1)
				got := opt.FailureError(f)
				if got == nil || want == nil || got.Error() != want.Error() || !errors.Is(got, ErrNonFinite) {
					t.Fatalf("FailureError %v, Step's error %v", got, want)
				}
				if opt.FailureError(nil) != nil {
					t.Fatal("FailureError(nil) is not nil")
				}
			})
		}
	}
}
