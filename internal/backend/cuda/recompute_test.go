//go:build cuda || cudaemu

package cuda_test

import (
	"math"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/backend/cuda"
	"simclr/internal/dist"
	"simclr/internal/model"
)

// TestRecomputeSameBitsCUDA: on the cuda backend, activation recomputation
// (train.recompute) gives the same losses, parameter gradients and model
// state (running statistics, batch counts) bit for bit as the plain step,
// after a step (a second update of the running statistics would show), in fp32 and bf16 (the tensor-core kernels), with local
// and with device-synchronised batch norm (one rank): the rebuilt conv
// outputs and BatchNormApply's outputs equal what the forward wrote.
func TestRecomputeSameBitsCUDA(t *testing.T) {
	e := newEnv(t)
	b := e.gpu
	cfg := model.Config{Arch: "resnet18", Stem: model.StemCIFAR, Width: 4, InChannels: 3, HeadLayers: 2, HeadHidden: 16, HeadOut: 8}
	xs := make([]float32, 8*3*8*8)
	for i := range xs {
		xs[i] = float32(math.Sin(float64(i)*0.37)) * 1.5
	}
	type run struct {
		losses []float32
		vals   [][]float32
	}
	step := func(recompute, sync bool) run {
		m, err := model.NewSimCLR(b, cfg, 3)
		if err != nil {
			t.Fatal(err)
		}
		defer m.ReleaseBuffers()
		if sync {
			m.SetSyncBN(cuda.NewHostDeviceComm(b, dist.NewLocal(1)[0]))
		}
		m.Encoder.SetRecompute(recompute)
		x, err := b.New(8, 3, 8, 8)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Free(x)
		if err := b.Upload(x, xs); err != nil {
			t.Fatal(err)
		}
		var r run
		for range 1 {
			l, err := m.Step(x, 0.2)
			if err != nil {
				t.Fatal(err)
			}
			r.losses = append(r.losses, l)
		}
		get := func(t2 *backend.Tensor) {
			v := make([]float32, t2.Numel())
			if err := b.Download(v, t2); err != nil {
				t.Fatal(err)
			}
			r.vals = append(r.vals, v)
		}
		for _, p := range m.Params() {
			get(p.Grad)
		}
		for _, s := range m.StateDict() {
			if s.F32 != nil {
				get(s.F32)
			} else {
				r.vals = append(r.vals, []float32{float32(*s.I64)})
			}
		}
		return r
	}
	for _, tc := range []struct {
		name string
		prec backend.Precision
		sync bool
	}{
		{"fp32", backend.FP32, false},
		{"bf16", backend.BF16, false},
		{"bf16/syncbn", backend.BF16, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := b.SetMatmulPrecision(tc.prec); err != nil {
				t.Fatal(err)
			}
			plain, lean := step(false, tc.sync), step(true, tc.sync)
			for i := range plain.losses {
				if math.Float32bits(plain.losses[i]) != math.Float32bits(lean.losses[i]) {
					t.Fatalf("step %d loss %v plain, %v recomputed", i, plain.losses[i], lean.losses[i])
				}
			}
			for i := range plain.vals {
				for j := range plain.vals[i] {
					if math.Float32bits(plain.vals[i][j]) != math.Float32bits(lean.vals[i][j]) {
						t.Fatalf("gradient/state tensor %d element %d: %v plain, %v recomputed", i, j, plain.vals[i][j], lean.vals[i][j])
					}
				}
			}
		})
	}
}
