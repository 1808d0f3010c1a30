package bench

import (
	"errors"
	"math"
	"simclr/internal/dist"
	"strings"
	"sync"
	"testing"
	"time"

	"simclr/internal/backend"
	"simclr/internal/backend/cpu"
	"simclr/internal/model"
	"simclr/internal/optim"
)

// tinyConfig is the smallest useful model: ResNet-18 of width 2 with a
// CIFAR stem on 1-channel images.
func tinyConfig() model.Config {
	return model.Config{Arch: "resnet18", Stem: model.StemCIFAR, Width: 2, InChannels: 1, HeadLayers: 2, HeadOut: 8}
}

// countingOptimizer wraps a real optimizer and counts its StepDeferred
// calls (the training loop's step, which Run uses); poisonAt (1-based, 0 =
// never) writes NaN into the first gradient before that call.
type countingOptimizer struct {
	optim.Optimizer
	steps    int
	lrs      []float32
	params   []*model.Param
	poisonAt int
}

func (c *countingOptimizer) StepDeferred(lr float32, d backend.DeferredCheck) error {
	c.steps++
	c.lrs = append(c.lrs, lr)
	if c.steps == c.poisonAt {
		c.params[0].Grad.Host[0] = float32(math.NaN())
	}
	return c.Optimizer.StepDeferred(lr, d)
}

func larsFactory(b *cpu.Backend) OptimizerFactory {
	return func(ps []*model.Param) (optim.Optimizer, error) {
		return optim.NewLARS(b, ps, optim.LARSOptions{Momentum: 0.9, WeightDecay: 1e-6, TrustCoef: 0.001, ExcludeBiasBN: true})
	}
}

func TestRunTinyModel(t *testing.T) {
	b := cpu.New()
	var counter *countingOptimizer
	var params []*model.Param
	factory := func(ps []*model.Param) (optim.Optimizer, error) {
		params = ps
		o, err := optim.NewSGD(b, ps, optim.SGDOptions{Momentum: 0.9})
		if err != nil {
			return nil, err
		}
		counter = &countingOptimizer{Optimizer: o}
		return counter, nil
	}
	mc := tinyConfig()
	res, err := Run(b, mc, 8, 0.5, factory, Options{Steps: 2, Warmup: 1, BatchPairs: 4, LR: 0.02, Seed: 3})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(params) == 0 {
		t.Fatal("the optimizer factory got no parameters")
	}
	// The CPU backend's Free sets Host to nil: Run must have released the
	// model's weights and gradients.
	for _, p := range params {
		if p.Value.Host != nil || p.Grad.Host != nil {
			t.Errorf("parameter %s was not freed after Run", p.Name)
			break
		}
	}
	if counter.steps != 3 {
		t.Errorf("optimizer stepped %d times, want 3 (1 warm-up + 2 timed)", counter.steps)
	}
	for _, lr := range counter.lrs {
		if lr != 0.02 {
			t.Errorf("optimizer got lr %v, want 0.02", lr)
		}
	}
	if res.PairsPerS <= 0 || math.IsInf(res.PairsPerS, 0) || math.IsNaN(res.PairsPerS) {
		t.Errorf("PairsPerS = %v, want a finite positive number", res.PairsPerS)
	}
	if res.MsPerStep <= 0 {
		t.Errorf("MsPerStep = %v, want > 0", res.MsPerStep)
	}
	if _, ok := processCPUTime(); ok && res.CPUMsPerStep <= 0 {
		t.Errorf("CPUMsPerStep = %v, want > 0 where the platform reports CPU time", res.CPUMsPerStep)
	}
	if len(res.StepMs) != 2 {
		t.Fatalf("len(StepMs) = %d, want 2", len(res.StepMs))
	}
	var sum float64
	for i, ms := range res.StepMs {
		if !(ms > 0) {
			t.Errorf("StepMs[%d] = %v, want > 0", i, ms)
		}
		sum += ms
	}
	// The mean over the whole timed loop cannot be below the mean of the
	// per-step timings (the loop only adds bookkeeping between steps).
	if res.MsPerStep < 0.99*sum/2 {
		t.Errorf("MsPerStep %v is below the mean of StepMs %v", res.MsPerStep, res.StepMs)
	}
	// Throughput and time per step describe the same loop.
	if got := float64(res.BatchPairs) * 1000 / res.MsPerStep; math.Abs(got-res.PairsPerS) > 1e-6*res.PairsPerS {
		t.Errorf("PairsPerS %v disagrees with MsPerStep %v for %d pairs", res.PairsPerS, res.MsPerStep, res.BatchPairs)
	}
	inputBytes := int64(2 * 4 * 1 * 8 * 8 * 4)
	if res.PeakBytes < inputBytes || res.PeakBytes < res.BackendPeakBytes || res.PeakBytes < res.HeapPeakBytes {
		t.Errorf("PeakBytes %d, backend %d, heap %d: want the max of both and at least the input batch (%d)",
			res.PeakBytes, res.BackendPeakBytes, res.HeapPeakBytes, inputBytes)
	}
	if res.BackendPeakBytes != b.PeakBytes() {
		t.Errorf("BackendPeakBytes %d, backend reports %d", res.BackendPeakBytes, b.PeakBytes())
	}
	if math.IsNaN(float64(res.FinalLoss)) || res.FinalLoss <= 0 {
		t.Errorf("FinalLoss = %v, want a positive NT-Xent value", res.FinalLoss)
	}
	want := Result{Backend: "cpu", Arch: "resnet18", Stem: "cifar", Width: 2, ImageSize: 8, Channels: 1, BatchPairs: 4, Warmup: 1, Steps: 2}
	got := *res
	got.PairsPerS, got.MsPerStep, got.PeakBytes, got.BackendPeakBytes, got.HeapPeakBytes, got.FinalLoss, got.StepMs = 0, 0, 0, 0, 0, 0, nil
	if got.Backend != want.Backend || got.Arch != want.Arch || got.Stem != want.Stem || got.Width != want.Width ||
		got.ImageSize != want.ImageSize || got.Channels != want.Channels || got.BatchPairs != want.BatchPairs ||
		got.Warmup != want.Warmup || got.Steps != want.Steps {
		t.Errorf("description fields = %+v, want %+v", got, want)
	}
}

// TestRunTrainsWithLARS checks that the steps really update the model: on a
// fixed batch the loss must fall over a few LARS steps.
func TestRunTrainsWithLARS(t *testing.T) {
	b := cpu.New()
	mc := tinyConfig()
	first, err := Run(b, mc, 8, 0.5, larsFactory(b), Options{Steps: 1, BatchPairs: 4, LR: 0.5, Seed: 1})
	if err != nil {
		t.Fatalf("Run 1 step: %v", err)
	}
	more, err := Run(b, mc, 8, 0.5, larsFactory(b), Options{Steps: 1, Warmup: 5, BatchPairs: 4, LR: 0.5, Seed: 1})
	if err != nil {
		t.Fatalf("Run 6 steps: %v", err)
	}
	if !(more.FinalLoss < first.FinalLoss) {
		t.Errorf("loss after 6 steps %v is not below the loss of step 1 %v; the optimizer step had no effect", more.FinalLoss, first.FinalLoss)
	}
}

func TestRunErrors(t *testing.T) {
	b := cpu.New()
	ok := Options{Steps: 1, BatchPairs: 2}
	sgd := func(ps []*model.Param) (optim.Optimizer, error) {
		return optim.NewSGD(b, ps, optim.SGDOptions{Momentum: 0.9})
	}
	badArch := tinyConfig()
	badArch.Arch = "resnet7"
	tests := []struct {
		name      string
		backendIs bool // pass a nil backend when false
		mc        model.Config
		size      int
		tau       float32
		factory   OptimizerFactory
		o         Options
		want      string
	}{
		{"zero steps", true, tinyConfig(), 8, 0.5, sgd, Options{Steps: 0, BatchPairs: 2}, "steps 0"},
		{"negative steps", true, tinyConfig(), 8, 0.5, sgd, Options{Steps: -3, BatchPairs: 2}, "steps -3"},
		{"negative warm-up", true, tinyConfig(), 8, 0.5, sgd, Options{Steps: 1, Warmup: -1, BatchPairs: 2}, "warm-up"},
		{"one pair", true, tinyConfig(), 8, 0.5, sgd, Options{Steps: 1, BatchPairs: 1}, "batch of 1 pairs"},
		{"huge batch", true, tinyConfig(), 8, 0.5, sgd, Options{Steps: 1, BatchPairs: MaxBatchPairs + 1}, "out of range"},
		{"nil backend", false, tinyConfig(), 8, 0.5, sgd, ok, "backend is nil"},
		{"nil optimizer factory", true, tinyConfig(), 8, 0.5, nil, ok, "optimizer factory is nil"},
		{"zero image size", true, tinyConfig(), 0, 0.5, sgd, ok, "image size 0"},
		{"image too small", true, tinyConfig(), MinImageSize - 1, 0.5, sgd, ok, "out of range"},
		{"image too large", true, tinyConfig(), MaxImageSize + 1, 0.5, sgd, ok, "out of range"},
		{"NaN temperature", true, tinyConfig(), 8, float32(math.NaN()), sgd, ok, "temperature"},
		{"zero temperature", true, tinyConfig(), 8, 0, sgd, ok, "temperature"},
		{"negative lr", true, tinyConfig(), 8, 0.5, sgd, Options{Steps: 1, BatchPairs: 2, LR: -1}, "learning rate"},
		{"NaN lr", true, tinyConfig(), 8, 0.5, sgd, Options{Steps: 1, BatchPairs: 2, LR: float32(math.NaN())}, "learning rate"},
		{"bad arch", true, badArch, 8, 0.5, sgd, ok, "resnet7"},
		{"factory error", true, tinyConfig(), 8, 0.5, func([]*model.Param) (optim.Optimizer, error) {
			return nil, errors.New("no such optimizer")
		}, ok, "build optimizer: no such optimizer"},
		{"factory returns nil", true, tinyConfig(), 8, 0.5, func([]*model.Param) (optim.Optimizer, error) {
			return nil, nil
		}, ok, "nil optimizer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var res *Result
			var err error
			if tt.backendIs {
				res, err = Run(b, tt.mc, tt.size, tt.tau, tt.factory, tt.o)
			} else {
				res, err = Run(nil, tt.mc, tt.size, tt.tau, tt.factory, tt.o)
			}
			if err == nil {
				t.Fatalf("Run succeeded (%+v), want an error containing %q", res, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "bench: ") {
				t.Errorf("error %q, want it to start with \"bench: \" and contain %q", err, tt.want)
			}
		})
	}
}

// TestSyntheticBatchSeeded checks the batch is reproducible, depends on the
// seed and looks like normalised pixels.
func TestSyntheticBatchSeeded(t *testing.T) {
	a, a2, c := syntheticBatch(4096, 7), syntheticBatch(4096, 7), syntheticBatch(4096, 8)
	same, diff := true, 0
	var sum, sq float64
	for i := range a {
		if a[i] != a2[i] {
			same = false
		}
		if a[i] != c[i] {
			diff++
		}
		sum += float64(a[i])
		sq += float64(a[i]) * float64(a[i])
	}
	if !same {
		t.Error("two batches with seed 7 differ")
	}
	if diff < 4000 {
		t.Errorf("seeds 7 and 8 share %d of 4096 values", 4096-diff)
	}
	mean, variance := sum/4096, sq/4096-(sum/4096)*(sum/4096)
	if math.Abs(mean) > 0.1 || math.Abs(variance-1) > 0.1 {
		t.Errorf("batch mean %v variance %v, want about 0 and 1", mean, variance)
	}
}

func TestHeapSamplerSeesAllocation(t *testing.T) {
	h := startHeapSampler(time.Millisecond)
	before := h.stop()
	h = startHeapSampler(time.Millisecond)
	buf := make([]byte, 64<<20)
	buf[len(buf)-1] = 1
	h.sample()
	peak := h.stop()
	if buf[len(buf)-1] != 1 || peak < before+32<<20 {
		t.Errorf("heap peak %d after a 64 MiB allocation, was %d before", peak, before)
	}
	if again := h.stop(); again < peak {
		t.Errorf("second stop returned %d, below the peak %d", again, peak)
	}
}

// TestRunDataParallel: two in-process ranks each bench their half of the
// global batch; both report the same global loss and the collectives of a
// step: at least the gradient all-reduce's bytes, and one all-gather of z
// plus three sums per batch-norm layer.
func TestRunDataParallel(t *testing.T) {
	res := runRanks(t, Options{Steps: 2, Warmup: 1, BatchPairs: 6, Seed: 1})
	b := cpu.New()
	m, err := model.NewSimCLR(b, tinyConfig(), 1)
	if err != nil {
		t.Fatal(err)
	}
	nparams, nbn := 0, 0
	for _, p := range m.Params() {
		nparams += p.Grad.Numel()
	}
	for _, e := range m.StateDict() {
		if strings.HasSuffix(e.Name, ".running_mean") {
			nbn++
		}
	}
	r0 := res[0]
	if r0.Ranks != 2 || r0.FinalLoss != res[1].FinalLoss {
		t.Fatalf("ranks %d, losses %v and %v: want 2 ranks with one global loss", r0.Ranks, r0.FinalLoss, res[1].FinalLoss)
	}
	if r0.CommBytesPerStep < int64(4*nparams) || r0.CommCallsPerStep != 2+3*nbn || !(r0.CommShare > 0 && r0.CommShare < 1) {
		t.Errorf("collectives per step: %d bytes (gradients alone are %d), %d calls (want %d), share %.3f",
			r0.CommBytesPerStep, 4*nparams, r0.CommCallsPerStep, 2+3*nbn, r0.CommShare)
	}
}

// TestRunDataParallelLocalBN: with per-rank batch norm only the all-gather
// of z and the gradient all-reduce remain.
func TestRunDataParallelLocalBN(t *testing.T) {
	res := runRanks(t, Options{Steps: 1, BatchPairs: 6, Seed: 1, LocalBN: true})
	if res[0].CommCallsPerStep != 2 {
		t.Errorf("per-rank batch norm: %d collectives per step, want 2", res[0].CommCallsPerStep)
	}
}

// TestRunStopsOnNonFinite: Run reads the losses and the optimizer's
// deferred check back after the steps and fails with the step of a NaN
// gradient (warm-up 1, so the second optimizer step is timed step 1) or
// of a NaN loss (a learning rate of 1e30 diverges at step 2), naming it.
func TestRunStopsOnNonFinite(t *testing.T) {
	for _, c := range []struct {
		name     string
		lr       float32
		poisonAt int
		want     string
	}{
		{"NaN gradient", 0.02, 2, "bench: timed step 1: optimizer: optim sgd: gradient of parameter conv1.weight has a NaN or Inf norm"},
		{"diverged loss", 1e30, 0, "bench: timed step 1: the loss is NaN"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := cpu.New()
			factory := func(ps []*model.Param) (optim.Optimizer, error) {
				o, err := optim.NewSGD(b, ps, optim.SGDOptions{Momentum: 0.9})
				return &countingOptimizer{Optimizer: o, params: ps, poisonAt: c.poisonAt}, err
			}
			_, err := Run(b, tinyConfig(), 8, 0.5, factory, Options{Steps: 3, Warmup: 1, BatchPairs: 4, LR: c.lr, Seed: 3})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

// TestRunRecompute: Options.Recompute (train.recompute) reaches the model:
// the same losses bit for bit after several LARS steps, fewer peak backend
// bytes, and the result says so.
func TestRunRecompute(t *testing.T) {
	mc := tinyConfig()
	var res [2]*Result
	for i, recompute := range []bool{false, true} {
		b := cpu.New() // a fresh backend: its own peak
		r, err := Run(b, mc, 16, 0.5, larsFactory(b), Options{Steps: 2, Warmup: 2, BatchPairs: 4, LR: 0.5, Seed: 1, Recompute: recompute})
		if err != nil {
			t.Fatalf("Run recompute=%v: %v", recompute, err)
		}
		res[i] = r
	}
	if res[0].Recompute || !res[1].Recompute {
		t.Errorf("Result.Recompute %v and %v, want false and true", res[0].Recompute, res[1].Recompute)
	}
	if math.Float32bits(res[0].FinalLoss) != math.Float32bits(res[1].FinalLoss) {
		t.Errorf("final loss %v plain, %v recomputed: want the same bits", res[0].FinalLoss, res[1].FinalLoss)
	}
	if res[1].BackendPeakBytes >= res[0].BackendPeakBytes {
		t.Errorf("peak %d bytes recomputed, want fewer than the %d plain", res[1].BackendPeakBytes, res[0].BackendPeakBytes)
	}
}

// TestRunDataParallelRecompute: a data-parallel step with recomputation
// (synchronised batch norm) gives the same global loss bit for bit and
// makes exactly the collectives of the plain step: rebuilding the BN
// outputs from the saved global statistics all-reduces nothing.
func TestRunDataParallelRecompute(t *testing.T) {
	o := Options{Steps: 2, Warmup: 1, BatchPairs: 6, Seed: 1}
	plain := runRanks(t, o)
	o.Recompute = true
	lean := runRanks(t, o)
	for r := range plain {
		if math.Float32bits(plain[r].FinalLoss) != math.Float32bits(lean[r].FinalLoss) {
			t.Errorf("rank %d: final loss %v plain, %v recomputed", r, plain[r].FinalLoss, lean[r].FinalLoss)
		}
		if plain[r].CommCallsPerStep != lean[r].CommCallsPerStep || plain[r].CommBytesPerStep != lean[r].CommBytesPerStep {
			t.Errorf("rank %d: %d collectives (%d bytes) per step plain, %d (%d) recomputed; want the same",
				r, plain[r].CommCallsPerStep, plain[r].CommBytesPerStep, lean[r].CommCallsPerStep, lean[r].CommBytesPerStep)
		}
	}
}

// runRanks runs Run on every rank of a local 2-rank communicator, each on
// its own cpu backend, with o (Comm set per rank), and returns the ranks'
// results.
func runRanks(t *testing.T, o Options) []*Result {
	t.Helper()
	comms := dist.NewLocal(2)
	res := make([]*Result, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Go(func() {
			b := cpu.New()
			defer b.Close()
			o := o
			o.Comm = c
			res[r], errs[r] = Run(b, tinyConfig(), 8, 0.5, larsFactory(b), o)
		})
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	return res
}
