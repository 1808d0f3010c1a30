//go:build cuda || cudaemu

package cuda_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/backend/cpu"
	"simclr/internal/backend/cuda"
	"simclr/internal/tensor"
)

// TestBatchNormApplyReproducesForward: on the cuda backend, BatchNormApply
// with the statistics BatchNormForwardTrain / BatchNormReLUForwardTrain
// saved writes their y bit for bit (float4 and scalar units, one and
// several statistics chunks, [N,C]), with y aliasing x too; it launches
// bn_apply_scale and bn_apply only, reads nothing back to the host and
// leaves x, the saved and the running statistics alone. The CPU backend's
// Apply on the same operands gives the same bits, and so does the CPU
// backend's training forward fed the cuda statistics' inputs (its own
// saved statistics can differ by an ulp, its y then by more).
func TestBatchNormApplyReproducesForward(t *testing.T) {
	for _, shape := range [][]int{{4, 3, 5, 5}, {3, 2, 4, 4}, {3, 1, 7, 3}, {2, 5, 1, 1}, {9, 5}, {301, 4}, {5, 2, 21, 21}, {9, 1, 32, 32}} {
		for _, relu := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v relu=%v", shape, relu), func(t *testing.T) {
				e := newEnv(t)
				c, numel := shape[1], tensor.Shape(shape).Numel()
				xv := e.values(numel, -2, 3)
				x := e.make(xv, shape...)
				gamma, beta := e.make(e.values(c, 0.5, 1.5), c), e.make(e.values(c, -0.3, 0.3), c)
				rmv, rvv := e.values(c, -1, 1), e.values(c, 0.5, 2)
				rm, rv := e.make(rmv, c), e.make(rvv, c)
				y, sm, si := e.zeros(shape...), e.zeros(c), e.zeros(c)
				train := e.gpu.BatchNormForwardTrain
				if relu {
					train = e.gpu.BatchNormReLUForwardTrain
				}
				e.mustGPU("forward train", train(x.g, gamma.g, beta.g, y.g, sm.g, si.g, rm.g, rv.g, 0.1, 1e-5))
				// Snapshots of what Apply must leave alone.
				snap := map[string]pair{}
				for name, p := range map[string]pair{"x": x, "gamma": gamma, "beta": beta, "saveMean": sm, "saveInvStd": si, "runMean": rm, "runVar": rv} {
					_, g := e.download(p)
					snap[name] = e.make(g, p.g.Shape...)
				}

				ya := e.zeros(shape...)
				reads := e.gpu.CountHostReads()
				before := reads.Load()
				e.gpu.ResetKernelTimes()
				e.gpu.EnableKernelTimes(true)
				err := e.gpu.BatchNormApply(x.g, gamma.g, beta.g, sm.g, si.g, ya.g, relu)
				e.gpu.EnableKernelTimes(false)
				e.mustGPU("apply", err)
				if n := reads.Load() - before; n != 0 {
					t.Errorf("BatchNormApply made %d host reads, want 0", n)
				}
				kts, err := e.gpu.KernelTimes()
				e.mustGPU("kernel times", err)
				e.gpu.ResetKernelTimes()
				got := map[string]int{}
				for _, kt := range kts {
					got[kt.Kernel] = kt.Calls
				}
				if len(got) != 2 || got["bn_apply_scale"] != 1 || got["bn_apply"] != 1 {
					t.Errorf("BatchNormApply launched %v, want bn_apply_scale and bn_apply once each", got)
				}
				e.sameBits("apply y vs forward y", ya, y)
				for name, p := range map[string]pair{"x": x, "gamma": gamma, "beta": beta, "saveMean": sm, "saveInvStd": si, "runMean": rm, "runVar": rv} {
					e.sameBits("apply changed "+name, p, snap[name])
				}

				// In place: y aliasing x.
				xy := e.make(xv, shape...)
				e.mustGPU("apply in place", e.gpu.BatchNormApply(xy.g, gamma.g, beta.g, sm.g, si.g, xy.g, relu))
				e.sameBits("apply in place y vs forward y", xy, y)

				// CPU parity on identical operands (the cuda statistics on
				// both backends): elementwise, so exact.
				_, smv := e.download(sm)
				_, siv := e.download(si)
				smc, sic := e.make(smv, c), e.make(siv, c)
				yp := e.zeros(shape...)
				e.must("apply on both backends",
					e.cpu.BatchNormApply(x.c, gamma.c, beta.c, smc.c, sic.c, yp.c, relu),
					e.gpu.BatchNormApply(x.g, gamma.g, beta.g, smc.g, sic.g, yp.g, relu))
				e.check("apply cpu vs cuda", yp, exact)
				e.sameBits("apply (cuda) vs forward y", yp, y)

				// The CPU backend's own forward and Apply agree too (its
				// statistics, its y).
				ycf, smcf, sicf := e.zeros(shape...), e.zeros(c), e.zeros(c)
				rmc, rvc := e.make(rmv, c), e.make(rvv, c)
				ctrain := e.cpu.BatchNormForwardTrain
				if relu {
					ctrain = e.cpu.BatchNormReLUForwardTrain
				}
				if err := ctrain(x.c, gamma.c, beta.c, ycf.c, smcf.c, sicf.c, rmc.c, rvc.c, 0.1, 1e-5); err != nil {
					t.Fatal(err)
				}
				yca := e.zeros(shape...)
				if err := e.cpu.BatchNormApply(x.c, gamma.c, beta.c, smcf.c, sicf.c, yca.c, relu); err != nil {
					t.Fatal(err)
				}
				cf, _ := e.download(ycf)
				ca, _ := e.download(yca)
				for i := range cf {
					if math.Float32bits(cf[i]) != math.Float32bits(ca[i]) {
						t.Fatalf("cpu apply element %d: %g, cpu forward %g", i, ca[i], cf[i])
					}
				}
			})
		}
	}
}

// TestBatchNormApplyRejectsBadOperands: nil, host, freed and foreign
// tensors and wrong shapes are errors that name the op and the operand,
// with no launch (y keeps its values).
func TestBatchNormApplyRejectsBadOperands(t *testing.T) {
	e := newEnv(t)
	x, y := e.rand(2, 3, 4, 4), e.zeros(2, 3, 4, 4)
	gamma, beta, sm, si := e.rand(3), e.rand(3), e.rand(3), e.rand(3)
	host := &tensor.Tensor{Shape: tensor.Shape{3}, Host: make([]float32, 3)}
	freed, err := e.gpu.New(3)
	e.mustGPU("new", err)
	e.gpu.Free(freed)
	other, err := cuda.New("cuda")
	e.mustGPU("second backend", err)
	defer other.Close()
	foreign, err := other.New(3)
	e.mustGPU("foreign tensor", err)
	defer other.Free(foreign)
	y4 := e.zeros(2, 3, 4, 5)
	x3, y3 := e.zeros(2, 3, 4), e.zeros(2, 3, 4)
	for _, tc := range []struct {
		name              string
		x, g, b, m, s, yy *tensor.Tensor
		want              []string
		shapeErr          bool
	}{
		{"nil x", nil, gamma.g, beta.g, sm.g, si.g, y.g, []string{"x is nil", "New"}, false},
		{"nil y", x.g, gamma.g, beta.g, sm.g, si.g, nil, []string{"y is nil"}, false},
		{"host beta", x.g, gamma.g, host, sm.g, si.g, y.g, []string{"beta [3] is a host tensor", "Upload"}, false},
		{"freed saveMean", x.g, gamma.g, beta.g, freed, si.g, y.g, []string{"saveMean [3]", "freed"}, false},
		{"foreign saveInvStd", x.g, gamma.g, beta.g, sm.g, foreign, y.g, []string{"saveInvStd [3] was not created by this cuda backend", "use its New"}, false},
		{"y [2 3 4 5]", x.g, gamma.g, beta.g, sm.g, si.g, y4.g, []string{"y: got shape [2 3 4 5], want [2 3 4 4]"}, true},
		{"gamma [2 3 4 4]", x.g, x.g, beta.g, sm.g, si.g, y.g, []string{"gamma: got shape [2 3 4 4], want [3]"}, true},
		{"3-D x", x3.g, gamma.g, beta.g, sm.g, si.g, y3.g, []string{"x must be [N,C,H,W] or [N,C]"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sentinel := make([]float32, y.g.Numel())
			for i := range sentinel {
				sentinel[i] = 7
			}
			e.mustGPU("upload y", e.gpu.Upload(y.g, sentinel))
			err := e.gpu.BatchNormApply(tc.x, tc.g, tc.b, tc.m, tc.s, tc.yy, false)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, backend.OpBatchNormApply+": ") {
				t.Errorf("error %q does not start with %q", msg, backend.OpBatchNormApply)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			var se *tensor.ShapeError
			if got := errors.As(err, &se); got != tc.shapeErr {
				t.Errorf("error %q: *tensor.ShapeError %v, want %v", msg, got, tc.shapeErr)
			}
			_, g := e.download(y)
			for i, v := range g {
				if v != 7 {
					t.Fatalf("y[%d] = %g after a rejected call", i, v)
				}
			}
		})
	}
	// The same shape errors as the CPU backend (the shared table checks
	// every generated shape; here one of each kind by hand).
	c := cpu.New()
	xc, _ := c.New(2, 3, 4, 4)
	yc, _ := c.New(2, 3, 4, 5)
	vc, _ := c.New(3)
	errC := c.BatchNormApply(xc, vc, vc, vc, vc, yc, true)
	errG := e.gpu.BatchNormApply(x.g, gamma.g, beta.g, sm.g, si.g, y4.g, true)
	if errText(errC) != errText(errG) || errC == nil {
		t.Errorf("cpu error %q, cuda error %q: want the same error", errText(errC), errText(errG))
	}
}
