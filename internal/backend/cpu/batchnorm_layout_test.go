package cpu

import (
	"fmt"
	"math"
	"runtime"
	"simclr/internal/benchcmp"
	"slices"
	"testing"
	"time"
)

// bnRun holds every output of one training-mode forward + backward.
type bnRun struct{ y, mean, inv, rm, rv, dx, dg, db []float32 }

// runBNLayout runs BatchNorm(ReLU)ForwardTrain and BatchNorm(ReLU)Backward
// on fixed operands of the given shape, with the channel-blocked (part 5)
// or the image-chunked passes.
func runBNLayout(t *testing.T, shape []int, relu, byChannel, alias bool) bnRun {
	b := New()
	b.bnByChannel = byChannel
	c := shape[1]
	bn := newBN(t, b, 61, shape...)
	for i := range bn.beta.Host {
		bn.beta.Host[i] = 0 // about half the ReLU outputs clipped
	}
	dy := randT(t, b, 62, 1, shape...)
	dx := newT(t, b, nil, shape...)
	if alias {
		dx = dy
	}
	dg, db := newT(t, b, nil, c), newT(t, b, nil, c)
	if relu {
		must(t, b.BatchNormReLUForwardTrain(bn.x, bn.gamma, bn.beta, bn.y, bn.mean, bn.invStd, bn.runMean, bn.runVar, 0.1, 1e-5))
		must(t, b.BatchNormReLUBackward(dy, bn.y, bn.x, bn.gamma, bn.mean, bn.invStd, dx, dg, db))
	} else {
		must(t, b.BatchNormForwardTrain(bn.x, bn.gamma, bn.beta, bn.y, bn.mean, bn.invStd, bn.runMean, bn.runVar, 0.1, 1e-5))
		must(t, b.BatchNormBackward(dy, bn.x, bn.gamma, bn.mean, bn.invStd, dx, dg, db))
	}
	return bnRun{bn.y.Host, bn.mean.Host, bn.invStd.Host, bn.runMean.Host, bn.runVar.Host, dx.Host, dg.Host, db.Host}
}

// bnLayoutShapes: several chunks with a partial last one (37 images: 3 per
// chunk, 13 chunks), exactly 16 chunks, fewer images than chunks, one
// image per chunk with a 1x1 map, and [N,C] input.
var bnLayoutShapes = [][]int{{37, 3, 5, 4}, {32, 4, 3, 3}, {5, 2, 7, 7}, {40, 6, 1, 1}, {50, 9}}

// TestBatchNormImageChunksMatchChannelBlocks: the image-chunked passes give
// the channel-blocked results up to the rounding of the float64 sums
// (they add the same per-(image, channel) sums in another order), with and
// without ReLU, dx aliasing dy or not. Against the float64 reference, the
// forward is covered by naiveBN below and the backward by
// TestBatchNormGradients (finite differences, shapes with several chunks).
func TestBatchNormImageChunksMatchChannelBlocks(t *testing.T) {
	for _, shape := range bnLayoutShapes {
		for _, relu := range []bool{false, true} {
			for _, alias := range []bool{false, true} {
				t.Run(fmt.Sprintf("%v/relu=%v/alias=%v", shape, relu, alias), func(t *testing.T) {
					if _, chunks := bnImageChunks(shape[0]); chunks < 2 {
						t.Fatalf("%v: %d chunk(s), the test needs several", shape, chunks)
					}
					old := runBNLayout(t, shape, relu, true, alias)
					got := runBNLayout(t, shape, relu, false, alias)
					for _, f := range []struct {
						name      string
						got, want []float32
					}{{"y", got.y, old.y}, {"mean", got.mean, old.mean}, {"invstd", got.inv, old.inv},
						{"running mean", got.rm, old.rm}, {"running var", got.rv, old.rv},
						{"dx", got.dx, old.dx}, {"dgamma", got.dg, old.dg}, {"dbeta", got.db, old.db}} {
						want := make([]float64, len(f.want))
						for i, v := range f.want {
							want[i] = float64(v)
						}
						closeTo(t, f.name, f.got, want, 1e-6, 1e-6)
					}
				})
			}
		}
	}
}

// TestBatchNormImageChunksMatchNaive: the forward of the image-chunked
// passes against the float64 loops of naiveBN.
func TestBatchNormImageChunksMatchNaive(t *testing.T) {
	for _, shape := range bnLayoutShapes {
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			b := New()
			bn := newBN(t, b, 63, shape...)
			must(t, b.BatchNormForwardTrain(bn.x, bn.gamma, bn.beta, bn.y, bn.mean, bn.invStd, bn.runMean, bn.runVar, 0.1, 1e-5))
			n, c, s := shape[0], shape[1], 1
			if len(shape) == 4 {
				s = shape[2] * shape[3]
			}
			y, mean, variance := naiveBN(bn.x.Host, bn.gamma.Host, bn.beta.Host, n, c, s, 1e-5)
			closeTo(t, "y", bn.y.Host, y, 1e-5, 1e-5)
			closeTo(t, "saveMean", bn.mean.Host, mean, 1e-6, 1e-6)
			inv := make([]float64, c)
			for i := range inv {
				inv[i] = 1 / math.Sqrt(variance[i]+1e-5)
			}
			closeTo(t, "saveInvStd", bn.invStd.Host, inv, 1e-5, 0)
		})
	}
}

// TestBatchNormImageChunksDeterministic: bit-identical with GOMAXPROCS 1,
// 2 and 4 (the chunks are fixed by N; the partials are added in chunk
// order), with ReLU (runReductions covers the plain ops).
func TestBatchNormImageChunksDeterministic(t *testing.T) {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	for _, shape := range bnLayoutShapes {
		runtime.GOMAXPROCS(1)
		want := runBNLayout(t, shape, true, false, false)
		for _, procs := range []int{2, 4} {
			runtime.GOMAXPROCS(procs)
			got := runBNLayout(t, shape, true, false, false)
			for i, pair := range [][2][]float32{{got.y, want.y}, {got.mean, want.mean}, {got.inv, want.inv},
				{got.rv, want.rv}, {got.dx, want.dx}, {got.dg, want.dg}, {got.db, want.db}} {
				if !slices.Equal(bits(pair[0]), bits(pair[1])) {
					t.Errorf("%v: output %d differs between GOMAXPROCS 1 and %d", shape, i, procs)
				}
			}
		}
	}
}

// BenchmarkBatchNormLayout runs the Fashion-MNIST model's batch norms
// (BatchNormReLUForwardTrain + BatchNormReLUBackward, 2x256 views) with the
// channel-blocked passes (old) and the image-chunked ones (new), the two
// alternating call by call, and reports each one's median ms and
// old/new, the ratio of the medians.
func BenchmarkBatchNormLayout(b *testing.B) {
	for _, shape := range [][]int{{512, 16, 28, 28}, {512, 32, 14, 14}, {512, 64, 7, 7}, {512, 128, 4, 4}} {
		b.Run(shapeName(shape), func(b *testing.B) {
			bk := New()
			c := shape[1]
			bn := newBN(b, bk, 64, shape...)
			dy := randT(b, bk, 65, 1, shape...)
			dx := newT(b, bk, nil, shape...)
			dg, db := newT(b, bk, nil, c), newT(b, bk, nil, c)
			run := func(byChannel bool) time.Duration {
				bk.bnByChannel = byChannel
				start := time.Now()
				if err := bk.BatchNormReLUForwardTrain(bn.x, bn.gamma, bn.beta, bn.y, bn.mean, bn.invStd, bn.runMean, bn.runVar, 0.1, 1e-5); err != nil {
					b.Fatal(err)
				}
				if err := bk.BatchNormReLUBackward(dy, bn.y, bn.x, bn.gamma, bn.mean, bn.invStd, dx, dg, db); err != nil {
					b.Fatal(err)
				}
				return time.Since(start)
			}
			run(true)
			run(false)
			b.ResetTimer()
			benchcmp.Alternate(b, "ms", func() float64 { return run(true).Seconds() * 1e3 }, func() float64 { return run(false).Seconds() * 1e3 })
		})
	}
}
