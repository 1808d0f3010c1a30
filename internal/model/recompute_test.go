package model

import (
	"fmt"
	"math"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/backend/cpu"
	"simclr/internal/dist"
)

// recomputeRun is what a few training steps leave behind: the losses,
// every parameter gradient of every step, the full state (running statistics and batch
// counts included) and the backend's peak bytes.
type recomputeRun struct {
	losses []float32
	grads  [][]float32
	state  [][]float32
	counts []int64
	peak   int64
}

// runSteps builds a SimCLR from seed 1 on b and runs steps Steps on one
// fixed batch [batch,3,size,size], with or without recomputation.
func runSteps(t *testing.T, b backend.Backend, cfg Config, batch, size, steps int, sync, recompute bool) recomputeRun {
	t.Helper()
	m, err := NewSimCLR(b, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	if sync {
		m.SetSyncBN(dist.NewLocal(1)[0])
	}
	m.Encoder.SetRecompute(recompute)
	x := randomInput(t, b, 3, batch, 3, size, size)
	var r recomputeRun
	for range steps {
		l, err := m.Step(x, 0.2)
		if err != nil {
			t.Fatal(err)
		}
		r.losses = append(r.losses, l)
		for _, p := range m.Params() { // every step's
			r.grads = append(r.grads, download(t, b, p.Grad))
		}
	}
	for _, e := range m.StateDict() {
		if e.F32 != nil {
			r.state = append(r.state, download(t, b, e.F32))
		} else {
			r.counts = append(r.counts, *e.I64)
		}
	}
	r.peak = b.PeakBytes()
	return r
}

// sameRunBits reports the first difference between two runs' results.
func sameRunBits(a, b recomputeRun) error {
	for i := range a.losses {
		if math.Float32bits(a.losses[i]) != math.Float32bits(b.losses[i]) {
			return fmt.Errorf("step %d loss %v vs %v", i, a.losses[i], b.losses[i])
		}
	}
	for _, pair := range []struct {
		what string
		x, y [][]float32
	}{{"gradient", a.grads, b.grads}, {"state", a.state, b.state}} {
		for i := range pair.x {
			for j := range pair.x[i] {
				if math.Float32bits(pair.x[i][j]) != math.Float32bits(pair.y[i][j]) {
					return fmt.Errorf("%s %d element %d: %v vs %v", pair.what, i, j, pair.x[i][j], pair.y[i][j])
				}
			}
		}
	}
	for i := range a.counts {
		if a.counts[i] != b.counts[i] {
			return fmt.Errorf("batch count %d: %d vs %d", i, a.counts[i], b.counts[i])
		}
	}
	return nil
}

// TestRecomputeSameBits: with activation recomputation a step gives the
// same loss, every parameter gradient and the same running statistics and
// batch counts (BN's recomputation must not count a batch or move a
// statistic) bit for bit as without, over two steps, for basic blocks and
// bottlenecks, fp32 and bf16 operands, local and synchronised batch norm;
// and it holds fewer bytes at its peak.
func TestRecomputeSameBits(t *testing.T) {
	r50 := Config{Arch: "resnet50", Stem: StemImageNet, Width: 4, InChannels: 3, HeadLayers: 2, HeadHidden: 16, HeadOut: 8}
	r18w16 := Config{Arch: "resnet18", Stem: StemCIFAR, Width: 16, InChannels: 3, HeadLayers: 2, HeadHidden: 16, HeadOut: 8}
	r18 := Config{Arch: "resnet18", Stem: StemCIFAR, Width: 8, InChannels: 3, HeadLayers: 2, HeadHidden: 16, HeadOut: 8}
	for _, tc := range []struct {
		name        string
		cfg         Config
		batch, size int
		prec        backend.Precision
		sync        bool
	}{
		{"resnet18/fp32", r18, 8, 16, backend.FP32, false},
		{"resnet18/bf16", r18, 8, 16, backend.BF16, false},
		{"resnet18/fp32/syncbn", r18, 8, 16, backend.FP32, true},
		{"resnet50/fp32", r50, 8, 32, backend.FP32, false},
		{"resnet50/bf16/syncbn", r50, 8, 32, backend.BF16, true},
		// A batch whose arena requests reuse slabs across the downsample
		// branch's buffers (a stale put of the shortcut's BN output once
		// corrupted a gradient here, not at 8 images).
		{"resnet18/fp32/batch128", r18w16, 128, 32, backend.FP32, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var runs [2]recomputeRun
			for i, recompute := range []bool{false, true} {
				b := cpu.New()
				if err := b.SetMatmulPrecision(tc.prec); err != nil {
					t.Fatal(err)
				}
				runs[i] = runSteps(t, b, tc.cfg, tc.batch, tc.size, 2, tc.sync, recompute)
				if err := b.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if err := sameRunBits(runs[0], runs[1]); err != nil {
				t.Fatalf("recomputation changed the results: %v", err)
			}
			t.Logf("peak %d bytes without recomputation, %d with", runs[0].peak, runs[1].peak)
			if runs[1].peak >= runs[0].peak {
				t.Errorf("peak %d bytes with recomputation, want fewer than the %d without", runs[1].peak, runs[0].peak)
			}
		})
	}
}
