//go:build cuda || cudaemu

package cuda_test

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/tensor"
)

func TestOptimizerParity(t *testing.T) {
	mom := []backend.MomentumOpts{
		{LR: 0.1, Momentum: 0.9, TrustRatio: 1, FirstStep: true},
		{LR: 0.05, Momentum: 0.9, WeightDecay: 1e-4, TrustRatio: 0.37},
		{LR: 0.3, Momentum: 0.8, WeightDecay: 5e-4, TrustRatio: 1, Nesterov: true},
	}
	for i, o := range mom {
		t.Run(fmt.Sprintf("momentum_%d", i), func(t *testing.T) {
			e := newEnv(t)
			p, g, buf := e.rand(3, 37), e.rand(3, 37), e.rand(3, 37)
			for step := 0; step < 3; step++ {
				e.must("momentum step", e.cpu.MomentumStep(p.c, g.c, buf.c, o), e.gpu.MomentumStep(p.g, g.g, buf.g, o))
				o.FirstStep = false
			}
			e.check("momentum p", p, exact)
			e.check("momentum buf", buf, exact)
		})
	}
	t.Run("adamw", func(t *testing.T) {
		e := newEnv(t)
		p, g, m, v := e.rand(1001), e.rand(1001), e.zeros(1001), e.zeros(1001)
		for step := 1; step <= 4; step++ {
			o := backend.AdamWOpts{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.05, Step: step}
			e.must("adamw step", e.cpu.AdamWStep(p.c, g.c, m.c, v.c, o), e.gpu.AdamWStep(p.g, g.g, m.g, v.g, o))
		}
		e.check("adamw p", p, exact)
		e.check("adamw m", m, exact)
		e.check("adamw v", v, exact)
	})
}

// larsSet is one LARSStep's tensors on both backends.
type larsSet struct{ p, g, buf []pair }

func (e *env) larsSet(shapes [][]int) larsSet {
	var s larsSet
	for _, sh := range shapes {
		p := e.rand(sh...)
		g := e.make(e.values(tensor.Shape(sh).Numel(), -0.01, 0.01), sh...)
		s.p, s.g, s.buf = append(s.p, p), append(s.g, g), append(s.buf, e.zeros(sh...))
	}
	return s
}

func sides(ps []pair) (c, g []*tensor.Tensor) {
	for _, p := range ps {
		c, g = append(c, p.c), append(g, p.g)
	}
	return c, g
}

var larsShapes = [][]int{{20001}, {8, 3, 3, 3}, {1}, {64}, {3, 17}, {16385}}
var larsAdapt = []bool{true, false, true, false, true, true}

// TestLARSStepMatchesPerTensorPath: on the device, the multi-tensor
// LARSStep (three launches) gives the same bits as the per-tensor path it
// replaces (SumSquares, Dot, backend.LARSTrust, MomentumStep) over three
// steps, tensors of one and several reduction blocks (20001 and 16385
// elements: 3 blocks each) included; and it matches the CPU backend's
// LARSStep within the norms' float64 rounding.
func TestLARSStepMatchesPerTensorPath(t *testing.T) {
	for _, wd := range []float32{0, 1e-4} {
		t.Run(fmt.Sprint("wd=", wd), func(t *testing.T) {
			e := newEnv(t)
			multi := e.larsSet(larsShapes)
			ref := e.larsSet(larsShapes) // same seed sequence: copy multi's values
			for i := range multi.p {
				for _, pr := range [][2]pair{{ref.p[i], multi.p[i]}, {ref.g[i], multi.g[i]}} {
					c, _ := e.download(pr[1])
					if err := e.gpu.Upload(pr[0].g, c); err != nil {
						t.Fatal(err)
					}
					if err := e.cpu.Upload(pr[0].c, c); err != nil {
						t.Fatal(err)
					}
				}
			}
			mpC, mpG := sides(multi.p)
			mgC, mgG := sides(multi.g)
			mbC, mbG := sides(multi.buf)
			for step := 0; step < 3; step++ {
				o := backend.LARSOpts{LR: 0.3, Momentum: 0.9, WeightDecay: wd, TrustCoef: 0.001, FirstStep: step == 0}
				e.must("lars step", e.cpu.LARSStep(mpC, mgC, mbC, larsAdapt, o), e.gpu.LARSStep(mpG, mgG, mbG, larsAdapt, o))
				for i := range ref.p {
					p, g, buf := ref.p[i].g, ref.g[i].g, ref.buf[i].g
					gg, err := e.gpu.SumSquares(g)
					e.mustGPU("sum squares", err)
					pp, err := e.gpu.SumSquares(p)
					e.mustGPU("sum squares", err)
					gp, err := e.gpu.Dot(g, p)
					e.mustGPU("dot", err)
					q, nf := backend.LARSTrust(gg, pp, gp, larsAdapt[i], wd, o.TrustCoef)
					if nf != nil {
						t.Fatal(nf)
					}
					if larsAdapt[i] && q == 1 {
						t.Fatalf("tensor %d: trust ratio 1, the test does not exercise the ratio", i)
					}
					dw := float32(0)
					if larsAdapt[i] {
						dw = wd
					}
					e.mustGPU("momentum step", e.gpu.MomentumStep(p, g, buf, backend.MomentumOpts{
						LR: o.LR, Momentum: o.Momentum, WeightDecay: dw, TrustRatio: q, FirstStep: o.FirstStep}))
				}
			}
			for i := range ref.p {
				e.sameBits(fmt.Sprintf("p[%d] multi-tensor vs per-tensor", i), multi.p[i], ref.p[i])
				e.sameBits(fmt.Sprintf("buf[%d] multi-tensor vs per-tensor", i), multi.buf[i], ref.buf[i])
				e.check(fmt.Sprintf("p[%d] cuda vs cpu", i), multi.p[i], tol{abs: 1e-7, rel: 1e-6})
				e.check(fmt.Sprintf("buf[%d] cuda vs cpu", i), multi.buf[i], tol{abs: 1e-9, rel: 1e-6})
			}
		})
	}
}

// TestLARSStepNonFinite: a NaN gradient in one tensor (here the 16385-
// element one, in its last block) is reported as that tensor's
// *backend.NonFiniteError by both backends, and no tensor changes on the
// device although its update kernel was queued.
func TestLARSStepNonFinite(t *testing.T) {
	e := newEnv(t)
	s := e.larsSet(larsShapes)
	last := len(larsShapes) - 1
	gc, _ := e.download(s.g[last])
	gc[16384] = float32(math.Inf(1))
	e.must("upload", e.cpu.Upload(s.g[last].c, gc), e.gpu.Upload(s.g[last].g, gc))
	before, _ := e.download(s.p[0])
	pC, pG := sides(s.p)
	gC, gG := sides(s.g)
	bC, bG := sides(s.buf)
	o := backend.LARSOpts{LR: 0.3, Momentum: 0.9, WeightDecay: 1e-4, TrustCoef: 0.001, FirstStep: true}
	for name, err := range map[string]error{
		"cpu":  e.cpu.LARSStep(pC, gC, bC, larsAdapt, o),
		"cuda": e.gpu.LARSStep(pG, gG, bG, larsAdapt, o),
	} {
		var nf *backend.NonFiniteError
		if !errors.As(err, &nf) || nf.Index != last || nf.What != "gradient" || !math.IsInf(nf.Value, 1) {
			t.Errorf("%s: got %v, want tensor %d's gradient norm +Inf", name, err, last)
		}
	}
	_, after := e.download(s.p[0])
	for i := range before {
		if before[i] != after[i] {
			t.Fatalf("cuda p[0][%d] changed from %v to %v after a failed check", i, before[i], after[i])
		}
	}
	// The same tensors without the Inf step normally afterwards (the
	// kept device table is reused).
	gc[16384] = 0
	e.must("upload", e.cpu.Upload(s.g[last].c, gc), e.gpu.Upload(s.g[last].g, gc))
	e.must("lars step", e.cpu.LARSStep(pC, gC, bC, larsAdapt, o), e.gpu.LARSStep(pG, gG, bG, larsAdapt, o))
	e.check("p[0] after recovery", s.p[0], tol{abs: 1e-7, rel: 1e-6})
}

// TestMomentumStepMultiMatchesPerTensor: one momentum_multi launch gives
// the bits of MomentumStep per tensor (decayed or not, Nesterov, trust
// ratio, first and later steps) and of the CPU backend.
func TestMomentumStepMultiMatchesPerTensor(t *testing.T) {
	for _, o := range []backend.MomentumOpts{
		{LR: 0.1, Momentum: 0.9, WeightDecay: 1e-3, TrustRatio: 1},
		{LR: 0.3, Momentum: 0.8, WeightDecay: 5e-4, TrustRatio: 0.37, Nesterov: true},
	} {
		t.Run(fmt.Sprintf("nesterov=%v", o.Nesterov), func(t *testing.T) {
			e := newEnv(t)
			multi := e.larsSet(larsShapes)
			ref := e.larsSet(larsShapes)
			for i := range multi.p {
				for _, pr := range [][2]pair{{ref.p[i], multi.p[i]}, {ref.g[i], multi.g[i]}} {
					c, _ := e.download(pr[1])
					e.must("upload", e.cpu.Upload(pr[0].c, c), e.gpu.Upload(pr[0].g, c))
				}
			}
			pC, pG := sides(multi.p)
			gC, gG := sides(multi.g)
			bC, bG := sides(multi.buf)
			for step := 0; step < 3; step++ {
				o.FirstStep = step == 0
				e.must("momentum step multi", e.cpu.MomentumStepMulti(pC, gC, bC, larsAdapt, o), e.gpu.MomentumStepMulti(pG, gG, bG, larsAdapt, o))
				for i := range ref.p {
					oi := o
					if !larsAdapt[i] {
						oi.WeightDecay = 0
					}
					e.mustGPU("momentum step", e.gpu.MomentumStep(ref.p[i].g, ref.g[i].g, ref.buf[i].g, oi))
				}
			}
			for i := range ref.p {
				e.sameBits(fmt.Sprintf("p[%d] multi vs per-tensor", i), multi.p[i], ref.p[i])
				e.sameBits(fmt.Sprintf("buf[%d] multi vs per-tensor", i), multi.buf[i], ref.buf[i])
				e.check(fmt.Sprintf("p[%d] cuda vs cpu", i), multi.p[i], exact)
				e.check(fmt.Sprintf("buf[%d] cuda vs cpu", i), multi.buf[i], exact)
			}
		})
	}
}

// TestAdamWStepMultiMatchesPerTensor: one adamw_multi launch per step
// gives the bits of AdamWStep per tensor (decayed or not, an empty tensor,
// tensors spanning several blocks, four steps) and of the CPU backend.
func TestAdamWStepMultiMatchesPerTensor(t *testing.T) {
	shapes := [][]int{{20001}, {8, 3, 3, 3}, {1}, {0}, {3, 17}, {16385}}
	decay := []bool{true, false, true, true, false, true}
	e := newEnv(t)
	type set struct{ p, g, m, v []pair }
	mk := func() (s set) {
		for _, sh := range shapes {
			s.p, s.g = append(s.p, e.rand(sh...)), append(s.g, e.rand(sh...))
			s.m, s.v = append(s.m, e.zeros(sh...)), append(s.v, e.zeros(sh...))
		}
		return
	}
	multi, ref := mk(), mk()
	for i := range multi.p {
		for _, pr := range [][2]pair{{ref.p[i], multi.p[i]}, {ref.g[i], multi.g[i]}} {
			c, _ := e.download(pr[1])
			e.must("upload", e.cpu.Upload(pr[0].c, c), e.gpu.Upload(pr[0].g, c))
		}
	}
	pC, pG := sides(multi.p)
	gC, gG := sides(multi.g)
	mC, mG := sides(multi.m)
	vC, vG := sides(multi.v)
	for step := 1; step <= 4; step++ {
		o := backend.AdamWOpts{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.05, Step: step}
		e.must("adamw step multi", e.cpu.AdamWStepMulti(pC, gC, mC, vC, decay, o), e.gpu.AdamWStepMulti(pG, gG, mG, vG, decay, o))
		for i := range ref.p {
			oi := o
			if !decay[i] {
				oi.WeightDecay = 0
			}
			e.mustGPU("adamw step", e.gpu.AdamWStep(ref.p[i].g, ref.g[i].g, ref.m[i].g, ref.v[i].g, oi))
		}
	}
	for i := range ref.p {
		for _, q := range []struct {
			name      string
			multi, pr pair
		}{{"p", multi.p[i], ref.p[i]}, {"m", multi.m[i], ref.m[i]}, {"v", multi.v[i], ref.v[i]}} {
			e.sameBits(fmt.Sprintf("%s[%d] multi vs per-tensor", q.name, i), q.multi, q.pr)
			e.check(fmt.Sprintf("%s[%d] cuda vs cpu", q.name, i), q.multi, exact)
		}
	}
}

// TestDeferredCheckOptim: LARSStep, MomentumStepMulti and AdamWStepMulti
// with a backend.DeferredCheck make no host read; a finite step updates as
// the CPU backend does and leaves the status record clear; a NaN gradient
// at step 2 is recorded (step 2, that tensor, "gradient", NaN) identically
// by both backends and stops every update from then on (step 3, finite
// again, changes nothing either), so the parameters stay those after step 1.
func TestDeferredCheckOptim(t *testing.T) {
	shapes := [][]int{{9000}, {8, 3, 3, 3}, {1}, {64}}
	flags := []bool{true, false, true, false}
	const bad, at = 2, 3
	for _, kind := range []string{"lars", "momentum", "adamw"} {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t)
			s := e.larsSet(shapes)
			var vs []pair
			for _, sh := range shapes {
				vs = append(vs, e.zeros(sh...))
			}
			status := e.zeros(at + backend.StatusWords + 2)
			pC, pG := sides(s.p)
			gC, gG := sides(s.g)
			bC, bG := sides(s.buf)
			vC, vG := sides(vs)
			step := func(b backend.Backend, cpu bool, n int) error {
				d := &backend.DeferredCheck{Status: status.g, At: at, Step: n}
				ps, gs, bs, v := pG, gG, bG, vG
				if cpu {
					d.Status, ps, gs, bs, v = status.c, pC, gC, bC, vC
				}
				switch kind {
				case "lars":
					return b.LARSStep(ps, gs, bs, flags, backend.LARSOpts{LR: 0.3, Momentum: 0.9, WeightDecay: 1e-4, TrustCoef: 0.001, FirstStep: n == 1, Deferred: d})
				case "momentum":
					return b.MomentumStepMulti(ps, gs, bs, flags, backend.MomentumOpts{LR: 0.1, Momentum: 0.9, WeightDecay: 1e-3, TrustRatio: 1, FirstStep: n == 1, Deferred: d})
				}
				return b.AdamWStepMulti(ps, gs, bs, v, flags, backend.AdamWOpts{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.05, Step: n, Deferred: d})
			}
			reads := e.gpu.CountHostReads()
			record := func(n int) (*backend.StepFailure, *backend.StepFailure) {
				t.Helper()
				c, g := e.download(status)
				for i, w := range c {
					if math.Float32bits(w) != math.Float32bits(g[i]) {
						t.Fatalf("after step %d: status word %d: cpu %#x, cuda %#x", n, i, math.Float32bits(w), math.Float32bits(g[i]))
					}
				}
				fc, err := backend.DecodeStatus(c[at : at+backend.StatusWords])
				if err != nil {
					t.Fatal(err)
				}
				fg, err := backend.DecodeStatus(g[at : at+backend.StatusWords])
				if err != nil {
					t.Fatal(err)
				}
				return fc, fg
			}
			before := reads.Load()
			e.must("step 1", step(e.cpu, true, 1), step(e.gpu, false, 1))
			if n := reads.Load() - before; n != 0 {
				t.Errorf("deferred step 1 made %d host reads, want 0", n)
			}
			if fc, fg := record(1); fc != nil || fg != nil {
				t.Fatalf("after a finite step the record holds cpu %+v, cuda %+v", fc, fg)
			}
			for i := range s.p {
				e.check(fmt.Sprintf("p[%d] after step 1", i), s.p[i], tol{abs: 1e-7, rel: 1e-6})
			}
			var after1 [][]float32
			for i := range s.p {
				_, g := e.download(s.p[i])
				after1 = append(after1, g)
			}
			gc, _ := e.download(s.g[bad])
			nan := slicesRepeatNaN(len(gc))
			e.must("upload NaN", e.cpu.Upload(s.g[bad].c, nan), e.gpu.Upload(s.g[bad].g, nan))
			before = reads.Load()
			e.must("step 2", step(e.cpu, true, 2), step(e.gpu, false, 2))
			e.must("upload finite", e.cpu.Upload(s.g[bad].c, gc), e.gpu.Upload(s.g[bad].g, gc))
			e.must("step 3", step(e.cpu, true, 3), step(e.gpu, false, 3))
			if n := reads.Load() - before; n != 0 {
				t.Errorf("deferred steps 2 and 3 made %d host reads, want 0", n)
			}
			fc, fg := record(3)
			for name, f := range map[string]*backend.StepFailure{"cpu": fc, "cuda": fg} {
				if f == nil || f.Step != 2 || f.Index != bad || f.What != "gradient" || !math.IsNaN(f.Value) {
					t.Errorf("%s: record %+v, want step 2, tensor %d, gradient NaN", name, f, bad)
				}
			}
			for i := range s.p {
				c, g := e.download(s.p[i])
				for k := range g {
					if math.Float32bits(g[k]) != math.Float32bits(after1[i][k]) {
						t.Fatalf("cuda p[%d][%d] changed from %v to %v after the recorded failure", i, k, after1[i][k], g[k])
					}
					if math.IsNaN(float64(c[k])) {
						t.Fatalf("cpu p[%d][%d] is NaN after the recorded failure", i, k)
					}
				}
			}
		})
	}
}

func slicesRepeatNaN(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(math.NaN())
	}
	return v
}
