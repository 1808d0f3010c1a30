//go:build cuda || cudaemu

package cuda_test

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

func TestLossParity(t *testing.T) {
	for _, c := range []struct {
		m   int
		tau float32
	}{{2, 0.5}, {6, 0.1}, {70, 0.2}, {258, 0.07}} {
		t.Run(fmt.Sprintf("ntxent_m%d_tau%g", c.m, c.tau), func(t *testing.T) {
			e := newEnv(t)
			s, ds := e.rand(c.m, c.m), e.zeros(c.m, c.m)
			lc, errC := e.cpu.NTXentForward(s.c, c.tau)
			lg, errG := e.gpu.NTXentForward(s.g, c.tau)
			e.must("nt-xent forward", errC, errG)
			closeScalar(t, "nt-xent forward", float64(lc), float64(lg), 1e-6)
			e.must("nt-xent backward", e.cpu.NTXentBackward(s.c, c.tau, ds.c), e.gpu.NTXentBackward(s.g, c.tau, ds.g))
			e.check("nt-xent backward", ds, tol{abs: 1e-9, rel: 1e-6})
		})
	}
	for _, c := range []struct{ n, k int }{{1, 1}, {5, 3}, {9, 300}} {
		t.Run(fmt.Sprintf("ce_%dx%d", c.n, c.k), func(t *testing.T) {
			e := newEnv(t)
			logits := e.make(e.values(c.n*c.k, -5, 5), c.n, c.k)
			labels := make([]int32, c.n)
			for i := range labels {
				labels[i] = int32(e.rng.IntN(c.k))
			}
			lc, errC := e.cpu.SoftmaxCrossEntropyForward(logits.c, labels)
			lg, errG := e.gpu.SoftmaxCrossEntropyForward(logits.g, labels)
			e.must("ce forward", errC, errG)
			closeScalar(t, "softmax cross-entropy forward", float64(lc), float64(lg), 1e-6)
			d := e.zeros(c.n, c.k)
			e.must("ce backward", e.cpu.SoftmaxCrossEntropyBackward(logits.c, labels, d.c), e.gpu.SoftmaxCrossEntropyBackward(logits.g, labels, d.g))
			e.check("softmax cross-entropy backward", d, tol{abs: 1e-9, rel: 1e-6})
		})
	}
}

// TestNTXentForwardIntoBitIdentical: on the cuda backend the ...Into ops
// write bit for bit the loss that NTXentForward and NTXentFusedForward
// return (mean_rows_f64 adds the row losses in the host's row order),
// touch no other slot and make no host read; a non-finite input gives NaN.
// M = 520 takes three 256-row chunks of mean_rows_f64. Every thread order.
func TestNTXentForwardIntoBitIdentical(t *testing.T) {
	for _, order := range []string{"index", "reverse", "random:7"} {
		for _, c := range []struct {
			m, d  int // d = 0: the materialised op
			tau   float32
			slots int
		}{{2, 0, 0.5, 1}, {70, 0, 0.2, 3}, {520, 0, 0.07, 2}, {2, 3, 0.5, 2}, {70, 9, 0.1, 4}, {520, 8, 0.2, 3}} {
			t.Run(fmt.Sprintf("%s/M%d_D%d", order, c.m, c.d), func(t *testing.T) {
				t.Setenv("CUDAEMU_ORDER", order)
				e := newEnv(t)
				slot := c.slots - 1
				losses := e.make(slices.Repeat([]float32{-7}, c.slots), c.slots)
				var in pair
				var want float32
				var err error
				run := func() error { return nil }
				if c.d == 0 {
					in = e.rand(c.m, c.m)
					want, err = e.gpu.NTXentForward(in.g, c.tau)
					run = func() error { return e.gpu.NTXentForwardInto(in.g, c.tau, losses.g, slot) }
				} else {
					in = e.make(e.unitRowsVals(c.m, c.d), c.m, c.d)
					stats := e.zeros(c.m, 2)
					want, err = e.gpu.NTXentFusedForward(in.g, stats.g, c.tau)
					run = func() error { return e.gpu.NTXentFusedForwardInto(in.g, stats.g, c.tau, losses.g, slot) }
				}
				e.mustGPU("float32-returning forward", err)
				reads := e.gpu.CountHostReads()
				before := reads.Load()
				e.mustGPU("forward into", run())
				if n := reads.Load() - before; n != 0 {
					t.Errorf("the ...Into op made %d host reads, want 0", n)
				}
				_, got := e.download(losses)
				for i, v := range got {
					switch {
					case i == slot && math.Float32bits(v) != math.Float32bits(want):
						t.Fatalf("losses[%d] = %v (%#x), the float32-returning op gives %v (%#x)", i, v, math.Float32bits(v), want, math.Float32bits(want))
					case i != slot && v != -7:
						t.Fatalf("losses[%d] = %v, want the untouched -7", i, v)
					}
				}
				vals := make([]float32, in.g.Numel())
				e.mustGPU("download input", e.gpu.Download(vals, in.g))
				vals[len(vals)/2+1] = float32(math.NaN())
				e.mustGPU("upload input", e.gpu.Upload(in.g, vals))
				e.mustGPU("forward into, NaN input", run())
				if _, got = e.download(losses); !math.IsNaN(float64(got[slot])) {
					t.Fatalf("loss of an input holding NaN = %v, want NaN", got[slot])
				}
			})
		}
	}
}

// TestNTXentForwardBackwardIntoBitIdentical: on the cuda backend
// NTXentForwardBackwardInto writes bit for bit NTXentForward's loss and
// NTXentBackward's ds with no host read; an s holding NaN gives a NaN loss
// and NaN in that row of ds (not an error). Every thread order.
func TestNTXentForwardBackwardIntoBitIdentical(t *testing.T) {
	for _, order := range []string{"index", "random:7"} {
		for _, m := range []int{2, 16} {
			t.Run(fmt.Sprintf("%s/M%d", order, m), func(t *testing.T) {
				t.Setenv("CUDAEMU_ORDER", order)
				e := newEnv(t)
				const tau, slot = 0.2, 1
				s, ds, want := e.rand(m, m), e.zeros(m, m), e.zeros(m, m)
				loss, err := e.gpu.NTXentForward(s.g, tau)
				e.mustGPU("forward", err)
				e.mustGPU("backward", e.gpu.NTXentBackward(s.g, tau, want.g))
				losses := e.make([]float32{-7, -7, -7}, 3)
				reads := e.gpu.CountHostReads()
				before := reads.Load()
				e.mustGPU("forward-backward into", e.gpu.NTXentForwardBackwardInto(s.g, tau, ds.g, losses.g, slot))
				if n := reads.Load() - before; n != 0 {
					t.Errorf("NTXentForwardBackwardInto made %d host reads, want 0", n)
				}
				e.sameBits("ds vs NTXentBackward", ds, want)
				_, got := e.download(losses)
				if math.Float32bits(got[slot]) != math.Float32bits(loss) || got[0] != -7 || got[2] != -7 {
					t.Fatalf("losses %v, want [-7 %v -7]", got, loss)
				}
				vals := make([]float32, m*m)
				e.mustGPU("download s", e.gpu.Download(vals, s.g))
				row := m - 1
				vals[row*m] = float32(math.NaN())
				e.mustGPU("upload s", e.gpu.Upload(s.g, vals))
				e.mustGPU("forward-backward into, NaN", e.gpu.NTXentForwardBackwardInto(s.g, tau, ds.g, losses.g, slot))
				_, got = e.download(losses)
				_, dsv := e.download(ds)
				if !math.IsNaN(float64(got[slot])) || !math.IsNaN(float64(dsv[row*m])) {
					t.Fatalf("loss %v, ds[%d,0] %v of an s holding NaN there, want NaN and NaN", got[slot], row, dsv[row*m])
				}
			})
		}
	}
}
