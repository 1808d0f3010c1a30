//go:build cuda || cudaemu

package cuda_test

import (
	"fmt"
	"hash/fnv"
	"math"
	"testing"

	"simclr/internal/tensor"
)

func TestBatchNormParity(t *testing.T) {
	for _, shape := range [][]int{{4, 3, 5, 5}, {3, 2, 20, 20}, {40, 2, 3, 3}, {3, 1, 7, 3}, {2, 70, 1, 1}, {9, 5}, {2, 1},
		// several chunks per channel (TestBNLaunchGeometry): float4 units with C = 1, scalar units, [N,C]
		{9, 1, 32, 32}, {5, 2, 21, 21}, {2500, 3}} {
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			e := newEnv(t)
			c := shape[1]
			x := e.make(e.values(tensor.Shape(shape).Numel(), -2, 3), shape...)
			gamma, beta := e.make(e.values(c, 0.5, 1.5), c), e.rand(c)
			rm, rv := e.rand(c), e.make(e.values(c, 0.5, 2), c)
			y, sm, si := e.zeros(shape...), e.zeros(c), e.zeros(c)
			e.must("forward train",
				e.cpu.BatchNormForwardTrain(x.c, gamma.c, beta.c, y.c, sm.c, si.c, rm.c, rv.c, 0.1, 1e-5),
				e.gpu.BatchNormForwardTrain(x.g, gamma.g, beta.g, y.g, sm.g, si.g, rm.g, rv.g, 0.1, 1e-5))
			for _, v := range []struct {
				name string
				p    pair
			}{{"y", y}, {"saveMean", sm}, {"saveInvStd", si}, {"runMean", rm}, {"runVar", rv}} {
				e.check("batchnorm forward train "+v.name, v.p, tol{abs: 1e-6, rel: 1e-5})
			}
			ye := e.zeros(shape...)
			e.must("forward eval",
				e.cpu.BatchNormForwardEval(x.c, gamma.c, beta.c, rm.c, rv.c, ye.c, 1e-5),
				e.gpu.BatchNormForwardEval(x.g, gamma.g, beta.g, rm.g, rv.g, ye.g, 1e-5))
			e.check("batchnorm forward eval", ye, tol{abs: 1e-6, rel: 1e-6})
			dy, dx, dg, db := e.rand(shape...), e.zeros(shape...), e.zeros(c), e.zeros(c)
			e.must("backward",
				e.cpu.BatchNormBackward(dy.c, x.c, gamma.c, sm.c, si.c, dx.c, dg.c, db.c),
				e.gpu.BatchNormBackward(dy.g, x.g, gamma.g, sm.g, si.g, dx.g, dg.g, db.g))
			e.check("batchnorm backward dx", dx, tol{abs: 1e-5, rel: 1e-4})
			e.check("batchnorm backward dgamma", dg, tol{abs: 1e-5, rel: 1e-5})
			e.check("batchnorm backward dbeta", db, tol{abs: 1e-5, rel: 1e-5})
		})
	}
}

// TestBatchNormReLUParity checks the fused batch norm + ReLU ops: against
// the CPU backend's fused ops (the batch-norm tolerances of
// TestBatchNormParity), and against the cuda backend's unfused sequences
// (BatchNormForwardTrain + ReLUForward, ReLUBackward + BatchNormBackward)
// bit for bit, dx aliasing dy included. beta is small, so about half of the
// batch-norm outputs are negative and the mask matters. With C >= 4,
// channel 1 has gamma 0 and beta -0 (outputs of +0 and -0, which the ReLU
// passes and the backward masks), channel 2 a negative gamma and channel 3
// a NaN input (NaN outputs, which pass forward and mask the gradient).
func TestBatchNormReLUParity(t *testing.T) {
	for _, shape := range [][]int{{3, 5, 7, 5}, {5, 4, 9, 9}, {3, 1, 7, 3}, {9, 5}, {301, 4}, {2, 1}} {
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			e := newEnv(t)
			n, c, numel := shape[0], shape[1], tensor.Shape(shape).Numel()
			sp := numel / (n * c) // values per channel and sample
			xv := e.values(numel, -2, 3)
			gv, bv := e.values(c, 0.5, 1.5), e.values(c, -0.2, 0.2)
			if c >= 4 {
				gv[1], bv[1] = 0, float32(math.Copysign(0, -1))
				gv[2] = -gv[2]
				xv[(n/2*c+3)*sp] = float32(math.NaN()) // sample n/2, channel 3
			}
			x, gamma, beta := e.make(xv, shape...), e.make(gv, c), e.make(bv, c)
			rmv, rvv := e.values(c, -1, 1), e.values(c, 0.5, 2)
			rm, rv := e.make(rmv, c), e.make(rvv, c)
			y, sm, si := e.zeros(shape...), e.zeros(c), e.zeros(c)
			e.must("batchnorm+relu forward train",
				e.cpu.BatchNormReLUForwardTrain(x.c, gamma.c, beta.c, y.c, sm.c, si.c, rm.c, rv.c, 0.1, 1e-5),
				e.gpu.BatchNormReLUForwardTrain(x.g, gamma.g, beta.g, y.g, sm.g, si.g, rm.g, rv.g, 0.1, 1e-5))
			for _, v := range []struct {
				name string
				p    pair
			}{{"y", y}, {"saveMean", sm}, {"saveInvStd", si}, {"runMean", rm}, {"runVar", rv}} {
				e.check("batchnorm+relu forward train "+v.name, v.p, tol{abs: 1e-6, rel: 1e-5})
			}
			if c == 1 || c >= 4 { // channels other than the special ones: about half clipped
				_, yg := e.download(y)
				zeros, total := 0, 0
				for i, v := range yg {
					if ch := i / sp % c; c == 1 || ch == 0 || ch >= 4 {
						total++
						if v == 0 {
							zeros++
						}
					}
				}
				if total >= 20 && (zeros*10 < total*3 || zeros*10 > total*7) {
					t.Errorf("%d of %d outputs clipped by the ReLU; the test wants about half", zeros, total)
				}
			}

			// The cuda backend's unfused forward on the same input and the
			// same running statistics: equal bit for bit.
			y2, sm2, si2 := e.zeros(shape...), e.zeros(c), e.zeros(c)
			rm2, rv2 := e.make(rmv, c), e.make(rvv, c)
			e.mustGPU("batchnorm forward train", e.gpu.BatchNormForwardTrain(x.g, gamma.g, beta.g, y2.g, sm2.g, si2.g, rm2.g, rv2.g, 0.1, 1e-5))
			e.mustGPU("relu forward", e.gpu.ReLUForward(y2.g, y2.g))
			e.sameBits("forward y", y, y2)
			e.sameBits("forward saveMean", sm, sm2)
			e.sameBits("forward saveInvStd", si, si2)
			e.sameBits("forward runMean", rm, rm2)
			e.sameBits("forward runVar", rv, rv2)

			// Backward. Both backends get the cuda y: a value within rounding
			// of 0 could otherwise be clipped on one backend only and flip
			// the mask.
			_, ygv := e.download(y)
			if err := e.cpu.Upload(y.c, ygv); err != nil {
				t.Fatal(err)
			}
			dyv := e.values(numel, -1, 1)
			dy, dx, dg, db := e.make(dyv, shape...), e.zeros(shape...), e.zeros(c), e.zeros(c)
			e.must("batchnorm+relu backward",
				e.cpu.BatchNormReLUBackward(dy.c, y.c, x.c, gamma.c, sm.c, si.c, dx.c, dg.c, db.c),
				e.gpu.BatchNormReLUBackward(dy.g, y.g, x.g, gamma.g, sm.g, si.g, dx.g, dg.g, db.g))
			e.check("batchnorm+relu backward dx", dx, tol{abs: 1e-5, rel: 1e-4})
			e.check("batchnorm+relu backward dgamma", dg, tol{abs: 1e-5, rel: 1e-5})
			e.check("batchnorm+relu backward dbeta", db, tol{abs: 1e-5, rel: 1e-5})

			// The unfused cuda backward: ReLUBackward into a masked
			// gradient, then BatchNormBackward.
			masked, dx2, dg2, db2 := e.zeros(shape...), e.zeros(shape...), e.zeros(c), e.zeros(c)
			e.mustGPU("relu backward", e.gpu.ReLUBackward(y.g, dy.g, masked.g))
			e.mustGPU("batchnorm backward", e.gpu.BatchNormBackward(masked.g, x.g, gamma.g, sm.g, si.g, dx2.g, dg2.g, db2.g))
			e.sameBits("backward dx", dx, dx2)
			e.sameBits("backward dgamma", dg, dg2)
			e.sameBits("backward dbeta", db, db2)

			// dx aliasing dy.
			da, dga, dba := e.make(dyv, shape...), e.zeros(c), e.zeros(c)
			e.mustGPU("batchnorm+relu backward in place", e.gpu.BatchNormReLUBackward(da.g, y.g, x.g, gamma.g, sm.g, si.g, da.g, dga.g, dba.g))
			e.sameBits("backward in place dx", da, dx2)
			e.sameBits("backward in place dgamma", dga, dg2)
			e.sameBits("backward in place dbeta", dba, db2)
		})
	}
}

// TestBatchNormDeterministic runs every batch-norm op twice on the same
// inputs and wants the same bits (the two-stage reductions have a fixed
// order; no atomics). It logs an FNV-1a hash of all outputs, so runs under
// CUDAEMU_ORDER=index and reverse can be compared (go test -v).
func TestBatchNormDeterministic(t *testing.T) {
	for _, shape := range [][]int{{9, 1, 32, 32}, {5, 2, 21, 21}, {2500, 3}, {4, 3, 5, 5}} {
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			e := newEnv(t)
			c, numel := shape[1], tensor.Shape(shape).Numel()
			x := e.make(e.values(numel, -2, 3), shape...)
			gamma, beta := e.make(e.values(c, 0.5, 1.5), c), e.make(e.values(c, -0.2, 0.2), c)
			dyv, rmv, rvv := e.values(numel, -1, 1), e.values(c, -1, 1), e.values(c, 0.5, 2)
			type out struct{ y, yr, ye, sm, si, rm, rv, dx, dxr, dg, db pair }
			run := func() out {
				var o out
				o.y, o.yr, o.ye, o.dx, o.dxr = e.zeros(shape...), e.zeros(shape...), e.zeros(shape...), e.zeros(shape...), e.make(dyv, shape...)
				o.sm, o.si, o.dg, o.db = e.zeros(c), e.zeros(c), e.zeros(c), e.zeros(c)
				o.rm, o.rv = e.make(rmv, c), e.make(rvv, c)
				sm2, si2 := e.zeros(c), e.zeros(c)
				dy := e.make(dyv, shape...)
				e.mustGPU("forward train", e.gpu.BatchNormForwardTrain(x.g, gamma.g, beta.g, o.y.g, o.sm.g, o.si.g, o.rm.g, o.rv.g, 0.1, 1e-5))
				e.mustGPU("relu forward train", e.gpu.BatchNormReLUForwardTrain(x.g, gamma.g, beta.g, o.yr.g, sm2.g, si2.g, o.rm.g, o.rv.g, 0.1, 1e-5))
				e.mustGPU("forward eval", e.gpu.BatchNormForwardEval(x.g, gamma.g, beta.g, o.rm.g, o.rv.g, o.ye.g, 1e-5))
				e.mustGPU("backward", e.gpu.BatchNormBackward(dy.g, x.g, gamma.g, o.sm.g, o.si.g, o.dx.g, o.dg.g, o.db.g))
				dg2, db2 := e.zeros(c), e.zeros(c)
				e.mustGPU("relu backward in place", e.gpu.BatchNormReLUBackward(o.dxr.g, o.yr.g, x.g, gamma.g, o.sm.g, o.si.g, o.dxr.g, dg2.g, db2.g))
				return o
			}
			a, b := run(), run()
			h := fnv.New32a()
			for _, v := range []struct {
				name string
				a, b pair
			}{{"y", a.y, b.y}, {"relu y", a.yr, b.yr}, {"eval y", a.ye, b.ye}, {"saveMean", a.sm, b.sm}, {"saveInvStd", a.si, b.si},
				{"runMean", a.rm, b.rm}, {"runVar", a.rv, b.rv}, {"dx", a.dx, b.dx}, {"relu dx", a.dxr, b.dxr}, {"dgamma", a.dg, b.dg}, {"dbeta", a.db, b.db}} {
				e.sameBits(v.name+" run 1 vs run 2", v.a, v.b)
				_, g := e.download(v.a)
				for _, f := range g {
					u := math.Float32bits(f)
					h.Write([]byte{byte(u), byte(u >> 8), byte(u >> 16), byte(u >> 24)})
				}
			}
			t.Logf("outputs hash %08x", h.Sum32())
		})
	}
}
