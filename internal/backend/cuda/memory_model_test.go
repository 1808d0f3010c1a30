//go:build cudaemu

package cuda

import (
	"testing"

	"simclr/internal/backend"
	"simclr/internal/bench"
	"simclr/internal/model"
	"simclr/internal/optim"
)

// footprintDriver is the counting driver (no memory, no launches) that also
// keeps the device bytes allocated: what cuMemAlloc would hold at each
// moment, the pool's cached blocks included, and its peak.
type footprintDriver struct {
	countDriver
	sizes      map[uintptr]int64
	live, peak int64
}

func (d *footprintDriver) alloc(bytes int64) (uintptr, error) {
	p, err := d.countDriver.alloc(bytes)
	if err != nil {
		return 0, err
	}
	d.sizes[p] = bytes
	d.live += bytes
	d.peak = max(d.peak, d.live)
	return p, nil
}

func (d *footprintDriver) free(p uintptr) error {
	d.live -= d.sizes[p]
	delete(d.sizes, p)
	return nil
}

// stepFootprint runs a warm-up and a timed ResNet-18 step (CIFAR stem,
// width 64, 32 px, head to 128, LARS: configs/cifar10.yaml) of pairs pairs
// through the footprint driver and returns the peak device bytes and the
// pool's own peak (what `simclr bench` reports).
func stepFootprint(t *testing.T, pairs int, prec backend.Precision) (device, pool int64) {
	t.Helper()
	drv := &footprintDriver{sizes: map[uintptr]int64{}}
	b := &Backend{drv: drv, pool: newMemPool(drv), owned: make(map[*Tensor]int64)}
	if err := b.SetMatmulPrecision(prec); err != nil {
		t.Fatal(err)
	}
	mc := model.Config{Arch: "resnet18", Stem: model.StemCIFAR, Width: 64, InChannels: 3, HeadLayers: 2, HeadOut: 128}
	lars := func(ps []*model.Param) (optim.Optimizer, error) {
		return optim.NewLARS(b, ps, optim.LARSOptions{Momentum: 0.9, WeightDecay: 1e-6, TrustCoef: 0.001, ExcludeBiasBN: true})
	}
	if _, err := bench.Run(b, mc, 32, 0.5, lars, bench.Options{Steps: 1, Warmup: 1, BatchPairs: pairs, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	return drv.peak, b.PeakBytes()
}

// TestStepMemoryModel: the device memory a ResNet-18 SimCLR step allocates,
// counted from the backend's real allocation calls (the counting driver runs
// no kernel, so it takes a fraction of a second at any batch). A MODEL of
// the footprint, not a measurement on a GPU (docs/cuda.md, "Memory").
// Issue #11 asks that 4,096 pairs at 32 px fit in a 24 GB card; the model
// says they do not yet (the figures are logged and recorded in the docs).
// What it asserts: the pool never hands out more than it holds, the
// footprint grows linearly with the batch (the 2N x 2N similarity matrix
// and its gradient, 0.5 GB at 4,096 pairs, must not make it quadratic:
// 8x the pairs may take at most 8.5x the bytes), and it stays below the
// figures measured with the pooled activation gradients plus 5% (before
// the pool, one gradient buffer per layer: 11.49 GB fp32 and 12.00 GB bf16
// at 512 pairs), so a return to per-layer buffers fails.
func TestStepMemoryModel(t *testing.T) {
	if testing.Short() {
		t.Skip("model of large batches")
	}
	// The device bytes held at the peak with the gradient pool (measured:
	// 7.24 / 57.41 GB bf16, 6.73 / 53.36 GB fp32, at 512 / 4,096 pairs;
	// tf32 on rung 2, whose operand scratch is fp32: 7.75 / 61.45 GB),
	// plus 5%.
	limit := map[backend.Precision][2]float64{
		backend.BF16: {7.24e9 * 1.05, 57.41e9 * 1.05},
		backend.FP32: {6.73e9 * 1.05, 53.36e9 * 1.05},
		backend.TF32: {7.75e9 * 1.05, 61.45e9 * 1.05},
	}
	for _, prec := range []backend.Precision{backend.BF16, backend.FP32, backend.TF32} {
		t.Run(prec.String(), func(t *testing.T) {
			var held [2]int64
			for i, pairs := range []int{512, 4096} {
				device, pool := stepFootprint(t, pairs, prec)
				t.Logf("ResNet-18 w64 32 px, %d pairs, %s: %.2f GB held from the driver at the peak, %.2f GB handed out by the pool", pairs, prec, float64(device)/1e9, float64(pool)/1e9)
				if device <= 0 || pool <= 0 || pool > device {
					t.Fatalf("%d pairs: peaks device %d, pool %d bytes: the pool cannot hand out more than it holds", pairs, device, pool)
				}
				if lim := limit[prec][i]; float64(device) > lim {
					t.Errorf("%d pairs %s: %.2f GB held at the peak, want at most %.2f GB (the pooled gradients' footprint + 5%%)", pairs, prec, float64(device)/1e9, lim/1e9)
				}
				held[i] = device
			}
			if r := float64(held[1]) / float64(held[0]); r > 8.5 {
				t.Errorf("4096 pairs hold %.2fx the bytes of 512 pairs, want at most 8.5x (linear in the batch)", r)
			}
		})
	}
}
