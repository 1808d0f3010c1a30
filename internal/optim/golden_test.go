package optim_test

// Golden tests: SGD (momentum, weight decay, Nesterov, bias/BN exclusion),
// AdamW and LARS against testdata/golden/optim.safetensors
// (tools/golden/gen.py; see docs/golden.md). torch.optim.SGD and
// torch.optim.AdamW, and LARS written plainly in the script, ran in float64
// from float32 initial values and gradients; the parameters after steps 1
// and 3 were rounded to float32. The learning rate changes at every step,
// so the test also checks that Step uses the lr it is given.
//
// Tolerances:
//   - paramTol (rtol 1e-5, atol 1e-6): the parameters themselves; float32
//     rounding of one update is ~1e-7 relative.
//   - updateRelTol (1e-3): ||(p_go - p0) - (p_ref - p0)|| / ||p_ref - p0||,
//     the error of the accumulated update. Updates can be 1e-3 of |p| (LARS
//     with eta = 0.001), so a check on p alone could miss a wrong trust
//     ratio or weight-decay term; this one sees them as >1% errors while
//     float32 rounding of p contributes ~1e-4.

import (
	"fmt"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/backend/cpu"
	"simclr/internal/model"
	"simclr/internal/optim"
	"simclr/internal/safetensors/golden"
)

var paramTol = golden.Tol{RTol: 1e-5, ATol: 1e-6}

const updateRelTol = 1e-3

type optCase struct {
	Name          string    `json:"name"`
	Kind          string    `json:"kind"`
	Momentum      float32   `json:"momentum"`
	WeightDecay   float32   `json:"weight_decay"`
	Nesterov      bool      `json:"nesterov"`
	ExcludeBiasBN bool      `json:"exclude_bias_bn"`
	Beta1         float32   `json:"beta1"`
	Beta2         float32   `json:"beta2"`
	Eps           float32   `json:"eps"`
	TrustCoef     float32   `json:"trust_coef"`
	LRs           []float32 `json:"lrs"`
}

type optParam struct {
	Name    string `json:"name"`
	Shape   []int  `json:"shape"`
	NoDecay bool   `json:"no_decay"`
}

func newOptimizer(b backend.Backend, params []*model.Param, c optCase) (optim.Optimizer, error) {
	switch c.Kind {
	case "sgd":
		return optim.NewSGD(b, params, optim.SGDOptions{Momentum: c.Momentum, WeightDecay: c.WeightDecay,
			Nesterov: c.Nesterov, ExcludeBiasBN: c.ExcludeBiasBN})
	case "lars":
		return optim.NewLARS(b, params, optim.LARSOptions{Momentum: c.Momentum, WeightDecay: c.WeightDecay,
			TrustCoef: c.TrustCoef, ExcludeBiasBN: c.ExcludeBiasBN})
	case "adamw":
		return optim.NewAdamW(b, params, optim.AdamWOptions{Beta1: c.Beta1, Beta2: c.Beta2, Eps: c.Eps,
			WeightDecay: c.WeightDecay})
	}
	return nil, fmt.Errorf("golden file has unknown optimizer kind %q", c.Kind)
}

func TestGoldenOptimizers(t *testing.T) {
	f := golden.Open(t, "optim.safetensors")
	var cases []optCase
	var pdefs []optParam
	f.Meta("cases", &cases)
	f.Meta("params", &pdefs)
	kinds := map[string]int{}
	for _, c := range cases {
		kinds[c.Kind]++
	}
	if kinds["sgd"] < 2 || kinds["lars"] < 2 || kinds["adamw"] < 1 {
		t.Fatalf("golden file has optimizer cases %v; want SGD (plain and Nesterov), LARS (with and without exclusion) and AdamW", kinds)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			if len(c.LRs) != 3 {
				t.Fatalf("case has %d learning rates, want 3", len(c.LRs))
			}
			b := cpu.New()
			defer b.Close()
			params := make([]*model.Param, len(pdefs))
			for i, pd := range pdefs {
				v, err := b.New(pd.Shape...)
				if err != nil {
					t.Fatal(err)
				}
				g, err := b.New(pd.Shape...)
				if err != nil {
					t.Fatal(err)
				}
				if err := b.Upload(v, f.F32("params/"+pd.Name)); err != nil {
					t.Fatal(err)
				}
				params[i] = &model.Param{Name: pd.Name, Value: v, Grad: g, NoDecay: pd.NoDecay}
			}
			opt, err := newOptimizer(b, params, c)
			if err != nil {
				t.Fatal(err)
			}
			for step := 1; step <= 3; step++ {
				for _, p := range params {
					if err := b.Upload(p.Grad, f.F32(fmt.Sprintf("grads/step%d/%s", step, p.Name))); err != nil {
						t.Fatal(err)
					}
				}
				if err := opt.Step(c.LRs[step-1]); err != nil {
					t.Fatalf("step %d: %v", step, err)
				}
				if opt.Steps() != step {
					t.Errorf("Steps() = %d after %d steps", opt.Steps(), step)
				}
				if step == 2 {
					continue
				}
				for _, p := range params {
					got := make([]float32, p.Value.Numel())
					if err := b.Download(got, p.Value); err != nil {
						t.Fatal(err)
					}
					want := f.F32(fmt.Sprintf("%s/step%d/%s", c.Name, step, p.Name))
					what := fmt.Sprintf("%s after step %d", p.Name, step)
					golden.Compare(t, what, got, want, paramTol)
					p0 := f.F32("params/" + p.Name)
					dGot, dWant := make([]float32, len(got)), make([]float32, len(got))
					for i := range got {
						dGot[i], dWant[i] = got[i]-p0[i], want[i]-p0[i]
					}
					if e := golden.RelErrNorm(dGot, dWant); e > updateRelTol {
						t.Errorf("%s: accumulated update off by %.2e relative (tolerance %.0e): ||got-p0|| %.6g, ||want-p0|| %.6g",
							what, e, updateRelTol, golden.Norm(dGot), golden.Norm(dWant))
					}
				}
			}
		})
	}
}
