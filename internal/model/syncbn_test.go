package model

import (
	"fmt"
	"math"
	"sync"
	"testing"

	"simclr/internal/backend/cpu"
	"simclr/internal/dist"
	"simclr/internal/gradcheck"
	"simclr/internal/tensor"
)

// TestSyncBNForwardMatchesApply: the synchronised batch-norm forward
// (host path and device path, with and without the fused ReLU, 4-D with an
// odd spatial size and 2-D input, one rank and two ranks holding uneven
// shards) writes exactly the y that BatchNormApply recomputes from the
// global statistics it saved: what activation recomputation relies on.
// The Apply leaves the running statistics the forward updated alone. The
// comparison sees a few ulps: 4 ulps more saveInvStd in channel 0 change
// Apply's y. (The two-rank cases are the ones that catch the device path's
// former eval-mode forward from the global variance; one rank happens to
// give the same bits there.)
func TestSyncBNForwardMatchesApply(t *testing.T) {
	for _, tc := range []struct {
		ranks  int
		shapes [][]int // x per rank
	}{
		{1, [][]int{{3, 4, 5, 3}}},
		{1, [][]int{{6, 5}}},
		{2, [][]int{{2, 3, 3, 3}, {3, 3, 3, 3}}},
		{2, [][]int{{4, 6}, {1, 6}}},
	} {
		for _, device := range []bool{false, true} {
			for _, relu := range []bool{false, true} {
				path := "host path"
				if device {
					path = "device path"
				}
				t.Run(fmt.Sprintf("%d ranks %v %s relu=%v", tc.ranks, tc.shapes, path, relu), func(t *testing.T) {
					syncBNOnDevice = device
					defer func() { syncBNOnDevice = false }()
					comms := dist.NewLocal(tc.ranks)
					errs := make([]error, tc.ranks)
					var wg sync.WaitGroup
					for r, c := range comms {
						wg.Go(func() { errs[r] = syncForwardMatchesApply(tc.shapes[r], relu, c, uint64(10*r+1)) })
					}
					wg.Wait()
					for r, err := range errs {
						if err != nil {
							t.Errorf("rank %d: %v", r, err)
						}
					}
				})
			}
		}
	}
}

// syncForwardMatchesApply runs one rank's synchronised training forward of
// a fresh batch-norm layer on random x of the given shape through r, then
// BatchNormApply with the layer's saved statistics, and reports how they
// differ.
func syncForwardMatchesApply(shape []int, relu bool, r Reducer, seed uint64) error {
	b := cpu.New()
	defer b.Close()
	c := shape[1]
	n, err := newBatchNorm(b, newBufCache(b), "bn", c)
	if err != nil {
		return err
	}
	n.relu, n.sync = relu, r
	gv, bv := gradcheck.RandomVector(c, seed), gradcheck.RandomVector(c, seed+1)
	for i := range gv {
		gv[i] += 1.5 // away from 0
		bv[i] *= 0.3 // about half the outputs clipped by the ReLU
	}
	xv := gradcheck.RandomVector(tensor.Shape(shape).Numel(), seed+2)
	for i := range xv {
		xv[i] = 2*xv[i] + 0.5
	}
	for _, p := range []struct {
		t *tensor.Tensor
		v []float32
	}{{n.gamma.Value, gv}, {n.beta.Value, bv}} {
		if err := b.Upload(p.t, p.v); err != nil {
			return err
		}
	}
	x, err := b.New(shape...)
	if err != nil {
		return err
	}
	if err := b.Upload(x, xv); err != nil {
		return err
	}
	y, err := n.forward(x, true)
	if err != nil {
		return err
	}
	// A rank with one value per channel takes the host path either way.
	if device, want := n.syncState.localCount > 0, syncBNOnDevice && x.Numel()/c >= 2; device != want {
		return fmt.Errorf("the forward took the device path %v, want %v", device, want)
	}
	rm, rv := append([]float32(nil), n.runMean.Host...), append([]float32(nil), n.runVar.Host...)
	if rv[0] == 1 {
		return fmt.Errorf("the forward did not update the running variance")
	}
	ya, err := b.New(shape...)
	if err != nil {
		return err
	}
	if err := b.BatchNormApply(x, n.gamma.Value, n.beta.Value, n.saveMean, n.saveInvStd, ya, relu); err != nil {
		return err
	}
	if err := sameBits("y", ya.Host, y.Host); err != nil {
		return err
	}
	if err := sameBits("running mean after Apply", n.runMean.Host, rm); err != nil {
		return err
	}
	if err := sameBits("running variance after Apply", n.runVar.Host, rv); err != nil {
		return err
	}
	if relu {
		zeros := 0
		for _, v := range y.Host {
			if v == 0 {
				zeros++
			}
		}
		if zeros == 0 || zeros == len(y.Host) {
			return fmt.Errorf("%d of %d outputs are 0: the ReLU is not exercised", zeros, len(y.Host))
		}
	}
	inv, err := b.New(c)
	if err != nil {
		return err
	}
	copy(inv.Host, n.saveInvStd.Host)
	for range 4 {
		inv.Host[0] = math.Nextafter32(inv.Host[0], float32(math.Inf(1)))
	}
	if err := b.BatchNormApply(x, n.gamma.Value, n.beta.Value, n.saveMean, inv, ya, relu); err != nil {
		return err
	}
	if sameBits("y", ya.Host, y.Host) == nil {
		return fmt.Errorf("Apply with saveInvStd 4 ulps larger in channel 0 gave the forward's y: the comparison cannot see a few ulps")
	}
	return nil
}

// sameBits reports the first elements where got and want hold different
// float32 bits.
func sameBits(name string, got, want []float32) error {
	bad, first := 0, -1
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			if first < 0 {
				first = i
			}
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("%s: %d of %d elements differ, first %d: %g, want %g", name, bad, len(want), first, got[first], want[first])
	}
	return nil
}
