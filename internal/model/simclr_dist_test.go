package model

import (
	"fmt"
	"math"
	"sync"
	"testing"

	"simclr/internal/backend/cpu"
	"simclr/internal/dist"
	"simclr/internal/gradcheck"
)

// rankResult is what one rank of a data-parallel step produced.
type rankResult struct {
	loss    float32
	grads   [][]float32
	runMean []float32 // the first BN layer's running mean
	err     error
}

// distributedStep runs one StepGathered on size in-process ranks, rank r
// holding its ShardRange of the n images of xs (both views stacked,
// [2n*per]), with loss.fused lossFused[0] when given.
func distributedStep(t *testing.T, size, n, per int, xs []float32, syncBN bool, lossFused ...string) []rankResult {
	t.Helper()
	comms := dist.NewLocal(size)
	counts := dist.ShardCounts(n, size)
	out := make([]rankResult, size)
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Go(func() {
			res := &out[r]
			b := cpu.New()
			defer b.Close()
			m, err := NewSimCLR(b, tinyConfig(), 5)
			if err != nil {
				res.err = err
				return
			}
			if syncBN {
				m.SetSyncBN(c)
			}
			if len(lossFused) > 0 {
				if res.err = m.SetLossFused(lossFused[0]); res.err != nil {
					return
				}
			}
			lo, hi := dist.ShardRange(n, r, size)
			k := hi - lo
			x, err := b.New(2*k, 3, 12, 12)
			if err != nil {
				res.err = err
				return
			}
			host := make([]float32, 2*k*per)
			copy(host, xs[lo*per:hi*per])
			copy(host[k*per:], xs[(n+lo)*per:(n+hi)*per])
			if err := b.Upload(x, host); err != nil {
				res.err = err
				return
			}
			if res.loss, res.err = m.StepGathered(x, 0.2, c, counts); res.err != nil {
				return
			}
			for _, p := range m.Params() {
				g := make([]float32, p.Grad.Numel())
				if res.err = b.Download(g, p.Grad); res.err != nil {
					return
				}
				res.grads = append(res.grads, g)
			}
			bn := m.Encoder.bufs.bns[0]
			res.runMean = make([]float32, bn.c)
			res.err = b.Download(res.runMean, bn.runMean)
		})
	}
	wg.Wait()
	for r, res := range out {
		if res.err != nil {
			t.Fatalf("rank %d: %v", r, res.err)
		}
	}
	return out
}

// maxRelDiff is max|a-b| / max|b| over a tensor.
func maxRelDiff(a, b []float32) float64 {
	var d, s float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
		s = math.Max(s, math.Abs(float64(b[i])))
	}
	return d / math.Max(s, 1e-30)
}

// TestStepGatheredMatchesSingleProcess: ranks that each hold a shard of the
// global batch, with gathered projections and synchronised batch norm,
// reproduce one process's loss, running statistics and (summed) weight
// gradients on the whole batch; the batch of 7 over 3 ranks splits
// unevenly (2, 2, 3). Without sync BN the gradients differ, so the
// comparison can fail.
func TestStepGatheredMatchesSingleProcess(t *testing.T) {
	const per = 3 * 12 * 12
	for _, tc := range []struct {
		size, n int
		device  bool
	}{{2, 6, false}, {3, 7, false}, {2, 6, true}, {3, 7, true}} {
		path := "host path"
		if tc.device {
			path = "device path"
		}
		t.Run(fmt.Sprintf("%d ranks, %d images, %s", tc.size, tc.n, path), func(t *testing.T) {
			syncBNOnDevice = tc.device
			defer func() { syncBNOnDevice = false }()
			xs := gradcheck.RandomVector(2*tc.n*per, 77)
			b := newBackend(t)
			ref, err := NewSimCLR(b, tinyConfig(), 5)
			if err != nil {
				t.Fatal(err)
			}
			x, err := b.New(2*tc.n, 3, 12, 12)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Upload(x, xs); err != nil {
				t.Fatal(err)
			}
			loss, err := ref.Step(x, 0.2)
			if err != nil {
				t.Fatal(err)
			}
			want := allGrads(t, b, ref.Params())
			wantRM := download(t, b, ref.Encoder.bufs.bns[0].runMean)

			check := func(res []rankResult) (lossDiff, gradDiff float64, worst string) {
				for _, r := range res {
					lossDiff = math.Max(lossDiff, math.Abs(float64(r.loss-loss))/float64(loss))
				}
				for k, p := range ref.Params() {
					sum := make([]float32, len(want[k]))
					for _, r := range res {
						for i, v := range r.grads[k] {
							sum[i] += v
						}
					}
					if d := maxRelDiff(sum, want[k]); d > gradDiff {
						gradDiff, worst = d, p.Name
					}
				}
				return lossDiff, gradDiff, worst
			}
			res := distributedStep(t, tc.size, tc.n, per, xs, true)
			lossDiff, gradDiff, worst := check(res)
			t.Logf("sync BN + gathered z: loss %.7f, max rel loss diff %.2g, max rel gradient diff %.2g (%s)", loss, lossDiff, gradDiff, worst)
			if lossDiff > 1e-6 || gradDiff > 1e-4 {
				t.Errorf("loss differs by %.2g (max 1e-6) or gradient %s by %.2g of its largest value (max 1e-4)", lossDiff, worst, gradDiff)
			}
			for r := range res {
				if d := maxRelDiff(res[r].runMean, wantRM); d > 1e-5 {
					t.Errorf("rank %d: bn1 running mean differs by %.2g from the single process's", r, d)
				}
				if res[r].loss != res[0].loss {
					t.Errorf("rank %d's loss %v differs from rank 0's %v: every rank computes the same global loss", r, res[r].loss, res[0].loss)
				}
			}
			_, gradDiff, _ = check(distributedStep(t, tc.size, tc.n, per, xs, false))
			t.Logf("without sync BN: max rel gradient diff %.2g", gradDiff)
			if gradDiff < 1e-2 {
				t.Errorf("per-rank batch norm matched the global-batch gradients (diff %.2g): the comparison cannot tell sync BN from none", gradDiff)
			}
		})
	}
}

func TestStepGatheredErrors(t *testing.T) {
	b := newBackend(t)
	m, err := NewSimCLR(b, tinyConfig(), 5)
	if err != nil {
		t.Fatal(err)
	}
	x := randomInput(t, b, 1, 4, 3, 12, 12)
	comms := dist.NewLocal(1)
	if _, err := m.StepGathered(x, 0.2, comms[0], []int{3}); err == nil {
		t.Error("a shard of 2 images accepted with counts saying 3")
	}
	if _, err := m.StepGathered(x, 0.2, comms[0], []int{2, 1}); err == nil {
		t.Error("two counts accepted for one rank")
	}
	if _, err := m.StepGathered(x, 0, comms[0], []int{2}); err == nil {
		t.Error("temperature 0 accepted")
	}
}
