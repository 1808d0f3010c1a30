package cpu

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"simclr/internal/gradcheck"
)

// bnTensors holds every operand of the batch-norm ops for C channels.
type bnTensors struct {
	x, y, gamma, beta, mean, invStd, runMean, runVar *Tensor
}

func newBN(t testing.TB, b *Backend, seed uint64, shape ...int) *bnTensors {
	c := shape[1]
	bn := &bnTensors{
		x:       randT(t, b, seed, 2, shape...),
		y:       newT(t, b, nil, shape...),
		gamma:   randT(t, b, seed+1, 1, c),
		beta:    randT(t, b, seed+2, 1, c),
		mean:    newT(t, b, nil, c),
		invStd:  newT(t, b, nil, c),
		runMean: newT(t, b, nil, c),
		runVar:  newT(t, b, nil, c),
	}
	for i := range bn.runVar.Host {
		bn.runVar.Host[i] = 1
		bn.gamma.Host[i] += 1.5 // keep gamma away from 0
	}
	// Give channels different means so the mean matters.
	s := 1
	if len(shape) == 4 {
		s = shape[2] * shape[3]
	}
	for n := 0; n < shape[0]; n++ {
		for ch := 0; ch < c; ch++ {
			for i := 0; i < s; i++ {
				bn.x.Host[(n*c+ch)*s+i] += float32(ch) - 1
			}
		}
	}
	return bn
}

// naiveBN returns y, the biased variance and the mean per channel.
func naiveBN(x, gamma, beta []float32, n, c, s int, eps float64) (y, mean, variance []float64) {
	y = make([]float64, len(x))
	mean = make([]float64, c)
	variance = make([]float64, c)
	m := float64(n * s)
	for ch := 0; ch < c; ch++ {
		for i := 0; i < n; i++ {
			for j := 0; j < s; j++ {
				mean[ch] += float64(x[(i*c+ch)*s+j]) / m
			}
		}
		for i := 0; i < n; i++ {
			for j := 0; j < s; j++ {
				d := float64(x[(i*c+ch)*s+j]) - mean[ch]
				variance[ch] += d * d / m
			}
		}
		for i := 0; i < n; i++ {
			for j := 0; j < s; j++ {
				k := (i*c+ch)*s + j
				y[k] = (float64(x[k])-mean[ch])/math.Sqrt(variance[ch]+eps)*float64(gamma[ch]) + float64(beta[ch])
			}
		}
	}
	return y, mean, variance
}

// {37, 2, 2, 1}: 13 image chunks of 3 (bnImageChunks), the last partial.
var bnShapes = [][]int{{3, 3, 5, 3}, {2, 2, 1, 1}, {1, 2, 3, 3}, {6, 4}, {2, 3}, {37, 2, 2, 1}}

func TestBatchNormForwardTrainMatchesNaive(t *testing.T) {
	const eps, momentum = 1e-5, 0.1
	for _, shape := range bnShapes {
		t.Run(shapeName(shape), func(t *testing.T) {
			b := New()
			bn := newBN(t, b, 5, shape...)
			for i := range bn.runMean.Host {
				bn.runMean.Host[i] = 0.5
				bn.runVar.Host[i] = 2
			}
			must(t, b.BatchNormForwardTrain(bn.x, bn.gamma, bn.beta, bn.y, bn.mean, bn.invStd, bn.runMean, bn.runVar, momentum, eps))
			n, c, s := shape[0], shape[1], 1
			if len(shape) == 4 {
				s = shape[2] * shape[3]
			}
			y, mean, variance := naiveBN(bn.x.Host, bn.gamma.Host, bn.beta.Host, n, c, s, eps)
			closeTo(t, "y", bn.y.Host, y, 1e-5, 1e-5)
			closeTo(t, "saveMean", bn.mean.Host, mean, 1e-6, 1e-6)
			invStd := make([]float64, c)
			wantRM := make([]float64, c)
			wantRV := make([]float64, c)
			m := float64(n * s)
			for ch := range invStd {
				invStd[ch] = 1 / math.Sqrt(variance[ch]+eps)
				wantRM[ch] = 0.9*0.5 + 0.1*mean[ch]
				wantRV[ch] = 0.9*2 + 0.1*variance[ch]*m/(m-1)
			}
			closeTo(t, "saveInvStd", bn.invStd.Host, invStd, 1e-5, 0)
			closeTo(t, "runMean", bn.runMean.Host, wantRM, 1e-6, 1e-7)
			closeTo(t, "runVar", bn.runVar.Host, wantRV, 1e-6, 1e-7)
		})
	}
}

// TestBatchNormRunningStatsByHand checks PyTorch's update on values worked
// out by hand: x = 1,2,3,4 in one channel has mean 2.5, biased variance
// 1.25 and unbiased variance 5/3; from runMean 0, runVar 1 with momentum
// 0.1: runMean = 0.25, runVar = 0.9 + 0.1*5/3 = 1.0666667.
func TestBatchNormRunningStatsByHand(t *testing.T) {
	b := New()
	x := newT(t, b, []float32{1, 2, 3, 4}, 4, 1)
	y := newT(t, b, nil, 4, 1)
	gamma := newT(t, b, []float32{2}, 1)
	beta := newT(t, b, []float32{0.5}, 1)
	mean, inv, rm, rv := newT(t, b, nil, 1), newT(t, b, nil, 1), newT(t, b, nil, 1), newT(t, b, []float32{1}, 1)
	must(t, b.BatchNormForwardTrain(x, gamma, beta, y, mean, inv, rm, rv, 0.1, 1e-5))
	closeTo(t, "runMean", rm.Host, []float64{0.25}, 1e-7, 0)
	closeTo(t, "runVar", rv.Host, []float64{1.0666667}, 1e-7, 0)
	closeTo(t, "saveMean", mean.Host, []float64{2.5}, 0, 0)
	is := 1 / math.Sqrt(1.25+1e-5)
	closeTo(t, "saveInvStd", inv.Host, []float64{is}, 1e-7, 0)
	closeTo(t, "y", y.Host, []float64{-1.5*is*2 + 0.5, -0.5*is*2 + 0.5, 0.5*is*2 + 0.5, 1.5*is*2 + 0.5}, 1e-6, 1e-6)
	// A second step moves further towards the batch statistics.
	must(t, b.BatchNormForwardTrain(x, gamma, beta, y, mean, inv, rm, rv, 0.1, 1e-5))
	closeTo(t, "runMean step 2", rm.Host, []float64{0.9*0.25 + 0.25}, 1e-7, 0)
	closeTo(t, "runVar step 2", rv.Host, []float64{0.9*1.0666667 + 0.1*5.0/3}, 1e-6, 0)
}

func TestBatchNormForwardEval(t *testing.T) {
	b := New()
	x := newT(t, b, []float32{1, -2, 3, 4, 0, 6}, 3, 2)
	y := newT(t, b, nil, 3, 2)
	gamma := newT(t, b, []float32{2, -1}, 2)
	beta := newT(t, b, []float32{0.5, 1}, 2)
	rm := newT(t, b, []float32{1, 2}, 2)
	rv := newT(t, b, []float32{4, 0.25}, 2)
	must(t, b.BatchNormForwardEval(x, gamma, beta, rm, rv, y, 1e-5))
	want := make([]float64, 6)
	for i, v := range x.Host {
		c := i % 2
		want[i] = (float64(v)-float64(rm.Host[c]))/math.Sqrt(float64(rv.Host[c])+1e-5)*float64(gamma.Host[c]) + float64(beta.Host[c])
	}
	closeTo(t, "y", y.Host, want, 1e-6, 1e-6)
	rv.Host[1] = float32(math.NaN())
	if err := b.BatchNormForwardEval(x, gamma, beta, rm, rv, y, 1e-5); err == nil || !strings.Contains(err.Error(), "channel 1") {
		t.Fatalf("NaN running variance: got %v, want an error naming channel 1", err)
	}
}

func TestBatchNormGradients(t *testing.T) {
	for _, shape := range bnShapes {
		t.Run(shapeName(shape), func(t *testing.T) {
			b := New()
			bn := newBN(t, b, 7, shape...)
			r := newT(t, b, gradcheck.RandomVector(bn.x.Numel(), 8), shape...)
			loss := func() float64 {
				must(t, b.BatchNormForwardTrain(bn.x, bn.gamma, bn.beta, bn.y, bn.mean, bn.invStd, bn.runMean, bn.runVar, 0.1, 1e-5))
				return gradcheck.Dot64(r.Host, bn.y.Host)
			}
			loss()
			c := shape[1]
			dx := newT(t, b, nil, shape...)
			dg, db := newT(t, b, nil, c), newT(t, b, nil, c)
			must(t, b.BatchNormBackward(r, bn.x, bn.gamma, bn.mean, bn.invStd, dx, dg, db))
			// BN is smooth; eps 5e-3 keeps the O(eps^2) truncation error and
			// the float32 rounding noise (~1e-4) below atol. rtol 2e-3 catches
			// a gradient off by a few tenths of a percent.
			checkGrad(t, loss, [][]float32{bn.x.Host, bn.gamma.Host, bn.beta.Host},
				[][]float32{dx.Host, dg.Host, db.Host}, 5e-3, 2e-3, 5e-4)
		})
	}
}

func TestBatchNormRejectsBadInput(t *testing.T) {
	b := New()
	bn := newBN(t, b, 1, 2, 3, 2, 2)
	if err := b.BatchNormForwardTrain(bn.x, bn.gamma, bn.beta, bn.y, bn.mean, bn.invStd, bn.runMean, bn.runVar, 0.1, 0); err == nil {
		t.Fatal("eps 0 accepted")
	}
	if err := b.BatchNormForwardTrain(bn.x, bn.gamma, bn.beta, bn.y, bn.mean, bn.invStd, bn.runMean, bn.runVar, 1.5, 1e-5); err == nil {
		t.Fatal("momentum 1.5 accepted")
	}
	one := newBN(t, b, 1, 1, 3)
	err := b.BatchNormForwardTrain(one.x, one.gamma, one.beta, one.y, one.mean, one.invStd, one.runMean, one.runVar, 0.1, 1e-5)
	if err == nil || !strings.Contains(err.Error(), "at least 2") {
		t.Fatalf("batch of one [1,3]: got %v, want an error asking for 2 values per channel", err)
	}
	x3 := newT(t, b, nil, 2, 3, 4)
	if err := b.BatchNormForwardTrain(x3, bn.gamma, bn.beta, x3, bn.mean, bn.invStd, bn.runMean, bn.runVar, 0.1, 1e-5); err == nil {
		t.Fatal("3-D input accepted")
	}
}

func shapeName(s []int) string {
	return strings.ReplaceAll(strings.Trim(fmt.Sprint(s), "[]"), " ", "x")
}

// TestBatchNormReLUFusedMatchesSequence: the fused ops give the results of
// BatchNormForwardTrain + ReLUForward and ReLUBackward + BatchNormBackward
// bit for bit (statistics, running statistics, y, dx, dgamma, dbeta),
// including dx aliasing dy.
func TestBatchNormReLUFusedMatchesSequence(t *testing.T) {
	for _, shape := range [][]int{{3, 4, 5, 7}, {6, 3}, {2, 1, 9, 9}} {
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			type result struct{ y, mean, inv, rm, rv, dx, dg, db []float32 }
			run := func(fused, alias bool) result {
				b := New()
				c := shape[1]
				x := randT(t, b, 41, 2, shape...)
				dy := randT(t, b, 42, 1, shape...)
				// gamma > 0 and beta = 0: about half the outputs are negative.
				gamma := newT(t, b, constOnes(c), c)
				beta := newT(t, b, nil, c)
				y := newT(t, b, nil, shape...)
				mean, inv := newT(t, b, nil, c), newT(t, b, nil, c)
				rm, rv := randT(t, b, 45, 1, c), newT(t, b, constOnes(c), c)
				dx := newT(t, b, nil, shape...)
				if alias {
					dx = dy
				}
				dg, db := newT(t, b, nil, c), newT(t, b, nil, c)
				if fused {
					must(t, b.BatchNormReLUForwardTrain(x, gamma, beta, y, mean, inv, rm, rv, 0.1, 1e-5))
				} else {
					must(t, b.BatchNormForwardTrain(x, gamma, beta, y, mean, inv, rm, rv, 0.1, 1e-5))
					must(t, b.ReLUForward(y, y))
				}
				if fused {
					must(t, b.BatchNormReLUBackward(dy, y, x, gamma, mean, inv, dx, dg, db))
				} else {
					masked := newT(t, b, nil, shape...)
					must(t, b.ReLUBackward(y, dy, masked))
					must(t, b.BatchNormBackward(masked, x, gamma, mean, inv, dx, dg, db))
				}
				return result{y.Host, mean.Host, inv.Host, rm.Host, rv.Host, dx.Host, dg.Host, db.Host}
			}
			want := run(false, false)
			for _, alias := range []bool{false, true} {
				got := run(true, alias)
				for _, f := range []struct {
					name      string
					got, want []float32
				}{{"y", got.y, want.y}, {"mean", got.mean, want.mean}, {"invstd", got.inv, want.inv},
					{"running mean", got.rm, want.rm}, {"running var", got.rv, want.rv},
					{"dx", got.dx, want.dx}, {"dgamma", got.dg, want.dg}, {"dbeta", got.db, want.db}} {
					if !slices.Equal(bits(f.got), bits(f.want)) {
						t.Errorf("alias=%v: fused %s differs from the unfused sequence", alias, f.name)
					}
				}
			}
			// Many outputs are clipped and many are not, so the mask matters.
			zeros := 0
			for _, v := range want.y {
				if v == 0 {
					zeros++
				}
			}
			if zeros < len(want.y)/10 || zeros > 9*len(want.y)/10 {
				t.Fatalf("%d of %d outputs are 0: the test does not exercise the ReLU", zeros, len(want.y))
			}
		})
	}
}

func TestBatchNormReLUBackwardRejectsBadY(t *testing.T) {
	b := New()
	x := newT(t, b, nil, 2, 3, 4, 4)
	y := newT(t, b, nil, 2, 3, 4, 5)
	c3 := func() *Tensor { return newT(t, b, nil, 3) }
	err := b.BatchNormReLUBackward(x, y, x, c3(), c3(), c3(), x, c3(), c3())
	if err == nil || !strings.Contains(err.Error(), "y") {
		t.Fatalf("got %v, want an error naming y", err)
	}
}

func constOnes(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = 1
	}
	return v
}
