package model

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"simclr/internal/gradcheck"
)

func TestFusedLossFor(t *testing.T) {
	for _, tt := range []struct {
		mode, backend string
		rows          int
		want          bool
	}{
		{"on", "cpu", 2, true},
		{"off", "cuda:0", 1 << 17, false},
		{"auto", "cpu", FusedLossMinRowsCPU - 2, false},
		{"auto", "cpu", FusedLossMinRowsCPU, true},
		{"", "cpu", 4096, true},
		{"auto", "cuda:0", 8192, false},   // s and ds: 512 MiB
		{"auto", "cuda:0", 11584, false},  // 1073217536 bytes, just under 1 GiB
		{"auto", "cuda:0", 11586, true},   // just over
		{"auto", "cuda:0", 1 << 17, true}, // 65,536 pairs: s and ds would be 128 GiB
	} {
		got, err := FusedLossFor(tt.mode, tt.backend, tt.rows)
		if err != nil || got != tt.want {
			t.Errorf("FusedLossFor(%q, %q, %d) = %v, %v; want %v", tt.mode, tt.backend, tt.rows, got, err, tt.want)
		}
	}
	for _, bad := range []string{"yes", "true", "fused", "AUTO"} {
		_, err := FusedLossFor(bad, "cpu", 8)
		if err == nil || !strings.Contains(err.Error(), "loss.fused") || !strings.Contains(err.Error(), "auto, on, off") {
			t.Errorf("FusedLossFor(%q): error %v, want one naming loss.fused and its values", bad, err)
		}
		m, err := NewSimCLR(newBackend(t), tinyConfig(), 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.SetLossFused(bad); err == nil {
			t.Errorf("SetLossFused(%q): want an error", bad)
		}
	}
}

// TestLossBytes: the 65,536-pair batch at D = 128 from the normalised
// projections on: the fused path needs O(N*D) bytes, the materialised one
// 128 GiB for s and ds alone.
func TestLossBytes(t *testing.T) {
	const rows, d = 1 << 17, 128
	fused, mat := LossBytes(rows, d, true), LossBytes(rows, d, false)
	// zn + dzn: 2*131072*128*4 = 134217728; norms 524288; stats 1048576; row losses 1048576.
	if want := int64(134217728 + 524288 + 1048576 + 1048576); fused != want {
		t.Errorf("fused loss bytes %d, want %d", fused, want)
	}
	if want := int64(134217728+524288+1048576) + 2*4*int64(rows)*rows; mat != want {
		t.Errorf("materialised loss bytes %d, want %d", mat, want)
	}
	if fused > 256<<20 || mat < 128<<30 {
		t.Errorf("fused %d bytes (want < 256 MiB), materialised %d (want >= 128 GiB)", fused, mat)
	}
}

// TestStepFusedMatchesMaterialised: Step and StepGathered give the same
// loss and gradients with loss.fused on and off, and auto picks the
// materialised path for this small batch on the cpu backend.
func TestStepFusedMatchesMaterialised(t *testing.T) {
	const n, per = 6, 3 * 12 * 12
	xs := gradcheck.RandomVector(2*n*per, 31)
	run := func(mode string) (float32, [][]float32, *SimCLR) {
		b := newBackend(t)
		m, err := NewSimCLR(b, tinyConfig(), 5)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.SetLossFused(mode); err != nil {
			t.Fatal(err)
		}
		x, err := b.New(2*n, 3, 12, 12)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Upload(x, xs); err != nil {
			t.Fatal(err)
		}
		loss, err := m.Step(x, 0.2)
		if err != nil {
			t.Fatal(err)
		}
		return loss, allGrads(t, b, m.Params()), m
	}
	lossOff, gradsOff, mOff := run(LossFusedOff)
	lossOn, gradsOn, mOn := run(LossFusedOn)
	_, _, mAuto := run(LossFusedAuto)
	if d := math.Abs(float64(lossOn-lossOff)) / float64(lossOff); d > 1e-6 {
		t.Errorf("loss fused %v, materialised %v (rel diff %.2g)", lossOn, lossOff, d)
	}
	for k := range gradsOff {
		if d := maxRelDiff(gradsOn[k], gradsOff[k]); d > 1e-4 {
			t.Errorf("gradient %s: fused and materialised differ by %.2g of its largest value", mOn.Params()[k].Name, d)
		}
	}
	for _, c := range []struct {
		m         *SimCLR
		name      string
		sim, stat bool
	}{{mOff, "off", true, false}, {mOn, "on", false, true}, {mAuto, "auto (12 rows on cpu)", true, false}} {
		sim, stat := hasBuf(c.m, "sim"), hasBuf(c.m, "lossStats")
		if sim != c.sim || stat != c.stat {
			t.Errorf("loss.fused %s: similarity matrix buffer %v, fused stats buffer %v; want %v, %v", c.name, sim, stat, c.sim, c.stat)
		}
	}
	// Two ranks with gathered z and the fused loss against one process
	// with the materialised loss.
	res := distributedStep(t, 2, n, per, xs, true, LossFusedOn)
	for r, rr := range res {
		if d := math.Abs(float64(rr.loss-lossOff)) / float64(lossOff); d > 1e-6 {
			t.Errorf("rank %d: fused gathered loss %v, single-process materialised %v", r, rr.loss, lossOff)
		}
	}
	for k := range gradsOff {
		sum := make([]float32, len(gradsOff[k]))
		for _, rr := range res {
			for i, v := range rr.grads[k] {
				sum[i] += v
			}
		}
		if d := maxRelDiff(sum, gradsOff[k]); d > 1e-4 {
			t.Errorf("%s: summed fused gathered gradient differs by %.2g", fmt.Sprint(mOff.Params()[k].Name), d)
		}
	}
}

// hasBuf reports whether m's loss buffers include one named name.
func hasBuf(m *SimCLR, name string) bool {
	for k := range m.bufs.m {
		if k.name == name {
			return true
		}
	}
	return false
}
