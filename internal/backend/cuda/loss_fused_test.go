//go:build cuda || cudaemu

package cuda_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"simclr/internal/backend/cuda"
	"simclr/internal/tensor"
)

// unitRowsVals returns m random rows of length d scaled to unit length.
func (e *env) unitRowsVals(m, d int) []float32 {
	v := e.values(m*d, -1, 1)
	for i := 0; i < m; i++ {
		row := v[i*d : (i+1)*d]
		var sq float64
		for _, x := range row {
			sq += float64(x) * float64(x)
		}
		inv := float32(1 / math.Sqrt(sq))
		for k := range row {
			row[k] *= inv
		}
	}
	return v
}

// fusedCases: N = 1, D = 1, rows and columns that are not multiples of
// the 32-row tile, D above the 32-wide z chunk and the 128-wide dz chunk.
var fusedCases = []struct {
	n, d int
	tau  float32
}{{1, 3, 0.5}, {1, 1, 0.1}, {3, 5, 0.1}, {17, 40, 0.2}, {35, 7, 0.07}, {20, 130, 0.1}}

// TestNTXentFusedParity: the cuda fused op against the cpu fused op and
// against the cuda materialised path (similarity_fwd, ntxent_rows,
// similarity_bwd), in index and reverse thread order on the emulator.
func TestNTXentFusedParity(t *testing.T) {
	for _, order := range []string{"index", "reverse"} {
		for _, c := range fusedCases {
			t.Run(fmt.Sprintf("%s/N%d_D%d_tau%g", order, c.n, c.d, c.tau), func(t *testing.T) {
				t.Setenv("CUDAEMU_ORDER", order)
				e := newEnv(t)
				m := 2 * c.n
				z := e.make(e.unitRowsVals(m, c.d), m, c.d)
				stats, dz := e.zeros(m, 2), e.zeros(m, c.d)
				lc, errC := e.cpu.NTXentFusedForward(z.c, stats.c, c.tau)
				lg, errG := e.gpu.NTXentFusedForward(z.g, stats.g, c.tau)
				e.must("fused forward", errC, errG)
				closeScalar(t, "fused loss, cuda vs cpu", float64(lc), float64(lg), 1e-6)
				e.check("stats", stats, tol{abs: 1e-6, rel: 1e-6})
				e.must("fused backward", e.cpu.NTXentFusedBackward(z.c, stats.c, c.tau, dz.c), e.gpu.NTXentFusedBackward(z.g, stats.g, c.tau, dz.g))
				e.check("fused dz, cuda vs cpu", dz, gemmTol(m, 1/float64(c.tau*float32(m))))

				// The materialised path on the same device.
				s, ds, dzm := e.zeros(m, m), e.zeros(m, m), e.zeros(m, c.d)
				e.mustGPU("similarity", e.gpu.SimilarityForward(z.g, s.g))
				lm, err := e.gpu.NTXentForward(s.g, c.tau)
				e.mustGPU("nt-xent", err)
				closeScalar(t, "cuda fused vs materialised loss", float64(lm), float64(lg), 2e-7)
				e.mustGPU("nt-xent backward", e.gpu.NTXentBackward(s.g, c.tau, ds.g))
				e.mustGPU("similarity backward", e.gpu.SimilarityBackward(z.g, ds.g, dzm.g))
				_, fused := e.download(dz)
				_, mat := e.download(dzm)
				var scale float64
				for _, v := range mat {
					scale = math.Max(scale, math.Abs(float64(v)))
				}
				for i := range mat {
					if d := math.Abs(float64(fused[i] - mat[i])); !(d <= 1e-5*scale+1e-9) {
						t.Fatalf("dz[%d]: fused %g, materialised %g (max |dz| %g)", i, fused[i], mat[i], scale)
					}
				}
			})
		}
	}
}

// TestNTXentFusedDeterministic: two runs give the same bits (no atomics,
// fixed reduction order), in a random thread order too.
func TestNTXentFusedDeterministic(t *testing.T) {
	t.Setenv("CUDAEMU_ORDER", "random:7")
	e := newEnv(t)
	m, d := 70, 9
	z := e.make(e.unitRowsVals(m, d), m, d)
	var losses []float32
	var outs []pair
	for k := 0; k < 2; k++ {
		stats, dz := e.zeros(m, 2), e.zeros(m, d)
		l, err := e.gpu.NTXentFusedForward(z.g, stats.g, 0.1)
		e.mustGPU("fused forward", err)
		e.mustGPU("fused backward", e.gpu.NTXentFusedBackward(z.g, stats.g, 0.1, dz.g))
		losses = append(losses, l)
		outs = append(outs, stats, dz)
	}
	if math.Float32bits(losses[0]) != math.Float32bits(losses[1]) {
		t.Errorf("loss %g then %g", losses[0], losses[1])
	}
	e.sameBits("stats", outs[0], outs[2])
	e.sameBits("dz", outs[1], outs[3])
}

// TestNTXentFusedNaN: a NaN in z is an error naming the element.
func TestNTXentFusedNaN(t *testing.T) {
	e := newEnv(t)
	v := e.unitRowsVals(6, 4)
	v[9] = float32(math.NaN())
	z := e.make(v, 6, 4)
	stats := e.zeros(6, 2)
	_, err := e.gpu.NTXentFusedForward(z.g, stats.g, 0.1)
	if err == nil || !strings.Contains(err.Error(), "nt-xent fused forward") || !strings.Contains(err.Error(), "z") {
		t.Fatalf("NaN in z: error %v, want one naming the op and z", err)
	}
}

// TestNTXentFusedMemoryLinear: on a fresh backend the fused forward and
// backward hold z, stats, dz and the row-loss scratch only (PeakBytes
// counts tensors and scratch, in the pool's size classes): the peak
// doubles when N doubles, while the materialised path's s and ds make it
// grow about fourfold.
func TestNTXentFusedMemoryLinear(t *testing.T) {
	const d = 8
	peak := func(n int, fused bool) int64 {
		g, err := cuda.New("cuda")
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		m := 2 * n
		alloc := func(shape ...int) *tensor.Tensor {
			x, err := g.New(shape...)
			if err != nil {
				t.Fatal(err)
			}
			return x
		}
		z := alloc(m, d)
		vals := make([]float32, m*d)
		for i := 0; i < m; i++ {
			vals[i*d+i%d] = 1
		}
		if err := g.Upload(z, vals); err != nil {
			t.Fatal(err)
		}
		dz := alloc(m, d)
		if fused {
			stats := alloc(m, 2)
			if _, err := g.NTXentFusedForward(z, stats, 0.1); err != nil {
				t.Fatal(err)
			}
			if err := g.NTXentFusedBackward(z, stats, 0.1, dz); err != nil {
				t.Fatal(err)
			}
		} else {
			s, ds := alloc(m, m), alloc(m, m)
			if err := g.SimilarityForward(z, s); err != nil {
				t.Fatal(err)
			}
			if _, err := g.NTXentForward(s, 0.1); err != nil {
				t.Fatal(err)
			}
			if err := g.NTXentBackward(s, 0.1, ds); err != nil {
				t.Fatal(err)
			}
			if err := g.SimilarityBackward(z, ds, dz); err != nil {
				t.Fatal(err)
			}
		}
		return g.PeakBytes()
	}
	ns := []int{32, 64}
	f0, f1 := peak(ns[0], true), peak(ns[1], true)
	m0, m1 := peak(ns[0], false), peak(ns[1], false)
	t.Logf("peak bytes at N=%v: fused %d, %d; materialised %d, %d", ns, f0, f1, m0, m1)
	// Every buffer is below 1 MiB, where the pool rounds to 256 bytes: the
	// doubling is exact up to that rounding.
	if r := float64(f1) / float64(f0); r > 2.05 {
		t.Errorf("fused peak grew %.2fx when N doubled, want 2x (linear)", r)
	}
	if r := float64(m1) / float64(m0); r < 3 {
		t.Errorf("materialised peak grew %.2fx when N doubled; expected about 4x (the test no longer contrasts the paths)", r)
	}
}

// BenchmarkNTXentPathCUDA times one forward and backward of the loss from
// zn [2N,128] on the device, materialised against fused, for the GPU
// threshold of loss.fused=auto (model.MaterialisedLossMaxBytes; see
// docs/benchmarks.md "Fused NT-Xent"). On a GPU:
//
//	bin/cuda-parity.test -test.run XXX -test.bench NTXentPathCUDA -test.benchtime 10x
//
// M64 is a smoke size for the emulator.
func BenchmarkNTXentPathCUDA(b *testing.B) {
	const d = 128
	g, err := cuda.New("cuda")
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	for _, m := range []int{64, 2048, 8192, 16384} {
		for _, fused := range []bool{false, true} {
			name := map[bool]string{false: "materialised", true: "fused"}[fused]
			b.Run(fmt.Sprintf("%s/M%d", name, m), func(b *testing.B) {
				alloc := func(shape ...int) *tensor.Tensor {
					x, err := g.New(shape...)
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { g.Free(x) })
					return x
				}
				z, dz := alloc(m, d), alloc(m, d)
				vals := make([]float32, m*d)
				for i := 0; i < m; i++ {
					vals[i*d+i%d] = 1
				}
				if err := g.Upload(z, vals); err != nil {
					b.Fatal(err)
				}
				var s, ds, stats *tensor.Tensor
				if fused {
					stats = alloc(m, 2)
				} else {
					s, ds = alloc(m, m), alloc(m, m)
				}
				b.ResetTimer()
				for k := 0; k < b.N; k++ {
					var err error
					if fused {
						if _, err = g.NTXentFusedForward(z, stats, 0.1); err == nil {
							err = g.NTXentFusedBackward(z, stats, 0.1, dz)
						}
					} else {
						err = g.SimilarityForward(z, s)
						if err == nil {
							_, err = g.NTXentForward(s, 0.1)
						}
						if err == nil {
							err = g.NTXentBackward(s, 0.1, ds)
						}
						if err == nil {
							err = g.SimilarityBackward(z, ds, dz)
						}
					}
					if err == nil {
						err = g.Sync()
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
