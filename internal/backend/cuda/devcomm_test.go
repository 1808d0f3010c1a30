//go:build cuda || cudaemu

package cuda_test

import (
	"fmt"
	"sync"
	"testing"

	"simclr/internal/backend/cuda"
	"simclr/internal/dist"
	"simclr/internal/gradcheck"
	"simclr/internal/model"
	"simclr/internal/tensor"
)

// runRanks runs fn for every rank of a local job of size ranks and fails
// the test with the first error.
func runRanks(t *testing.T, ranks int, fn func(r int, c dist.Comm) error) {
	t.Helper()
	comms := dist.NewLocal(ranks)
	errs := make([]error, ranks)
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Go(func() { errs[r] = fn(r, c) })
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
}

// TestDeviceCommLayout: the device collectives' own work — padding the
// views to equal counts, placing every rank's rows in the single-process
// order, taking a rank's rows back, fusing tensors for one all-reduce and
// the float64 vectors — gives the values computed on the host, on 3 ranks
// with unequal counts (1, 3, 2 images).
func TestDeviceCommLayout(t *testing.T) {
	e := newEnv(t)
	b := e.gpu
	counts := []int{1, 3, 2}
	const dim, total = 3, 6
	// value of row (view v, global image i, column k)
	val := func(v, i, k int) float32 { return float32(100*v + 10*i + k) }
	runRanks(t, 3, func(r int, c dist.Comm) error {
		dc := cuda.NewHostDeviceComm(b, c)
		lo, hi := 0, 0
		for q := 0; q <= r; q++ {
			lo, hi = hi, hi+counts[q]
		}
		n := hi - lo
		var loc []float32
		for v := 0; v < 2; v++ {
			for i := lo; i < hi; i++ {
				for k := 0; k < dim; k++ {
					loc = append(loc, val(v, i, k))
				}
			}
		}
		local, _ := b.New(2*n, dim)
		global, _ := b.New(2*total, dim)
		back, _ := b.New(2*n, dim)
		defer b.Free(local)
		defer b.Free(global)
		defer b.Free(back)
		if err := b.Upload(local, loc); err != nil {
			return err
		}
		if err := dc.GatherViews(local, global, counts); err != nil {
			return err
		}
		got := make([]float32, 2*total*dim)
		if err := b.Download(got, global); err != nil {
			return err
		}
		for v := 0; v < 2; v++ {
			for i := 0; i < total; i++ {
				for k := 0; k < dim; k++ {
					if g, w := got[(v*total+i)*dim+k], val(v, i, k); g != w {
						return fmt.Errorf("gathered view %d image %d column %d = %v, want %v", v+1, i, k, g, w)
					}
				}
			}
		}
		if err := dc.LocalViews(global, back, counts); err != nil {
			return err
		}
		gotBack := make([]float32, len(loc))
		if err := b.Download(gotBack, back); err != nil {
			return err
		}
		for i := range loc {
			if gotBack[i] != loc[i] {
				return fmt.Errorf("local views [%d] = %v, want %v", i, gotBack[i], loc[i])
			}
		}
		if err := dc.GatherViews(local, global, []int{1, 2, 2}); err == nil {
			return fmt.Errorf("gather views accepted counts that do not match the tensors")
		}
		// Fused all-reduce: tensors of 2, 0 and 5 values.
		shapes := [][]int{{2}, {0}, {5}}
		var ts []*tensor.Tensor
		for i, s := range shapes {
			x, _ := b.New(s...)
			defer b.Free(x)
			v := make([]float32, x.Numel())
			for j := range v {
				v[j] = float32((r+1)*(j+1) + 10*i)
			}
			if err := b.Upload(x, v); err != nil {
				return err
			}
			ts = append(ts, x)
		}
		if err := dc.AllReduceSum32(ts); err != nil {
			return err
		}
		for i, x := range ts {
			v := make([]float32, x.Numel())
			if err := b.Download(v, x); err != nil {
				return err
			}
			for j := range v {
				if w := float32(6*(j+1) + 30*i); v[j] != w {
					return fmt.Errorf("all-reduced tensor %d [%d] = %v, want %v", i, j, v[j], w)
				}
			}
		}
		f := []float64{float64(r), 0.5}
		if err := dc.AllReduce64(f); err != nil {
			return err
		}
		if f[0] != 3 || f[1] != 1.5 {
			return fmt.Errorf("all-reduce float64 = %v, want [3 1.5]", f)
		}
		return nil
	})
}

// TestDeviceCommStepMatchesHostPath: a data-parallel step (gathered
// projections, sync batch norm on the device path, gradient all-reduce)
// whose collectives go through the DeviceComm gives bit for bit the loss
// and summed gradients of the same step through the host communicator:
// the DeviceComm only moves data, with the host path's reductions. This is
// the code path NCCL plugs into; only the NCCL calls are GPU-only.
func TestDeviceCommStepMatchesHostPath(t *testing.T) {
	e := newEnv(t)
	b := e.gpu
	cfg := model.Config{Arch: "resnet18", Stem: model.StemCIFAR, Width: 4, InChannels: 3, HeadLayers: 2, HeadHidden: 16, HeadOut: 8, HeadBN: true}
	const n, ranks, per = 5, 2, 3 * 8 * 8
	xs := gradcheck.RandomVector(2*n*per, 7)
	counts := dist.ShardCounts(n, ranks)
	type result struct {
		loss  float32
		grads [][]float32
	}
	step := func(device bool) []result {
		out := make([]result, ranks)
		runRanks(t, ranks, func(r int, c dist.Comm) error {
			m, err := model.NewSimCLR(b, cfg, 3)
			if err != nil {
				return err
			}
			defer m.ReleaseBuffers()
			lo, hi := dist.ShardRange(n, r, ranks)
			host := append(append([]float32{}, xs[lo*per:hi*per]...), xs[(n+lo)*per:(n+hi)*per]...)
			x, err := b.New(2*(hi-lo), 3, 8, 8)
			if err != nil {
				return err
			}
			defer b.Free(x)
			if err := b.Upload(x, host); err != nil {
				return err
			}
			if device {
				dc := cuda.NewHostDeviceComm(b, c)
				m.SetSyncBN(dc)
				if out[r].loss, err = m.StepGatheredDevice(x, 0.2, dc, counts); err != nil {
					return err
				}
				if err := model.AllReduceGradsDevice(m.Params(), dc); err != nil {
					return err
				}
			} else {
				m.SetSyncBN(c)
				if out[r].loss, err = m.StepGathered(x, 0.2, c, counts); err != nil {
					return err
				}
				var scratch []float32
				if err := model.AllReduceGrads(b, m.Params(), c, 1, &scratch); err != nil {
					return err
				}
			}
			for _, p := range m.Params() {
				g := make([]float32, p.Grad.Numel())
				if err := b.Download(g, p.Grad); err != nil {
					return err
				}
				out[r].grads = append(out[r].grads, g)
			}
			return nil
		})
		return out
	}
	host, dev := step(false), step(true)
	for r := range ranks {
		if dev[r].loss != host[r].loss {
			t.Errorf("rank %d: loss %v through the device collectives, %v through the host", r, dev[r].loss, host[r].loss)
		}
		for k := range host[r].grads {
			for i := range host[r].grads[k] {
				if d, h, r0 := dev[r].grads[k][i], host[r].grads[k][i], dev[0].grads[k][i]; d != h || d != r0 {
					t.Fatalf("rank %d: gradient %d [%d] = %v through the device collectives, %v through the host, %v on rank 0", r, k, i, d, h, r0)
				}
			}
		}
	}
	t.Logf("loss %v on both paths and ranks; %d gradient tensors bit-identical", host[0].loss, len(host[0].grads))
}
