//go:build cuda || cudaemu

package cuda_test

import (
	"math"
	"sync"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/backend/cpu"
	"simclr/internal/dist"
	"simclr/internal/gradcheck"
	"simclr/internal/model"
)

// TestDataParallelStepOnCUDA: a data-parallel step whose rank 0 runs on
// the CUDA backend and rank 1 on the CPU (gathered projections and
// synchronised batch norm go through Download/Upload of device tensors)
// matches one CPU process on the whole batch.
func TestDataParallelStepOnCUDA(t *testing.T) {
	e := newEnv(t)
	cfg := model.Config{Arch: "resnet18", Stem: model.StemCIFAR, Width: 4, InChannels: 3, HeadLayers: 2, HeadHidden: 16, HeadOut: 8, HeadBN: true}
	const n, per = 6, 3 * 12 * 12
	xs := gradcheck.RandomVector(2*n*per, 5)

	grads := func(b backend.Backend, m *model.SimCLR) [][]float32 {
		var out [][]float32
		for _, p := range m.Params() {
			g := make([]float32, p.Grad.Numel())
			if err := b.Download(g, p.Grad); err != nil {
				t.Fatal(err)
			}
			out = append(out, g)
		}
		return out
	}
	c := cpu.New()
	ref, err := model.NewSimCLR(c, cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := c.New(2*n, 3, 12, 12)
	if err := c.Upload(x, xs); err != nil {
		t.Fatal(err)
	}
	wantLoss, err := ref.Step(x, 0.2)
	if err != nil {
		t.Fatal(err)
	}
	want := grads(c, ref)

	comms := dist.NewLocal(2)
	counts := dist.ShardCounts(n, 2)
	losses := make([]float32, 2)
	got := make([][][]float32, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for r, comm := range comms {
		wg.Go(func() {
			var b backend.Backend = cpu.New()
			if r == 0 {
				b = e.gpu
			}
			m, err := model.NewSimCLR(b, cfg, 3)
			if err != nil {
				errs[r] = err
				return
			}
			defer m.ReleaseBuffers()
			m.SetSyncBN(comm)
			lo, hi := dist.ShardRange(n, r, 2)
			k := hi - lo
			host := append(append([]float32{}, xs[lo*per:hi*per]...), xs[(n+lo)*per:(n+hi)*per]...)
			xr, err := b.New(2*k, 3, 12, 12)
			if err != nil {
				errs[r] = err
				return
			}
			defer b.Free(xr)
			if errs[r] = b.Upload(xr, host); errs[r] != nil {
				return
			}
			if losses[r], errs[r] = m.StepGathered(xr, 0.2, comm, counts); errs[r] != nil {
				return
			}
			got[r] = grads(b, m)
		})
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	if d := math.Abs(float64(losses[0]-wantLoss)) / float64(wantLoss); d > 1e-5 || losses[0] != losses[1] {
		t.Errorf("losses %v (ranks) vs %v (one process)", losses, wantLoss)
	}
	var worst float64
	for k := range want {
		var diff, scale float64
		for i := range want[k] {
			diff = math.Max(diff, math.Abs(float64(got[0][k][i]+got[1][k][i]-want[k][i])))
			scale = math.Max(scale, math.Abs(float64(want[k][i])))
		}
		worst = math.Max(worst, diff/math.Max(scale, 1e-30))
	}
	t.Logf("loss %v, max rel gradient diff %.2g", losses[0], worst)
	if worst > 1e-3 {
		t.Errorf("summed gradients differ from one process by %.2g of their largest value (max 1e-3)", worst)
	}
}
