package cpu

import (
	"math"
	"runtime"
	"slices"
	"testing"

	"simclr/internal/backend"
)

// runReductions runs every op with a cross-element reduction and returns
// the raw bits of all their outputs.
func runReductions(t *testing.T) [][]uint32 {
	b := New()
	p := backend.ConvParams{Stride: 2, Pad: 1}
	n, cin, cout, h := 19, 6, 8, 9
	x := randT(t, b, 1, 1, n, cin, h, h)
	w := randT(t, b, 2, 1, cout, cin, 3, 3)
	ho := backend.ConvOutSize(h, 3, 2, 1)
	y := newT(t, b, nil, n, cout, ho, ho)
	dy := randT(t, b, 3, 1, n, cout, ho, ho)
	dx, dw := newT(t, b, nil, n, cin, h, h), newT(t, b, nil, cout, cin, 3, 3)
	must(t, b.Conv2DForward(x, w, y, p))
	must(t, b.Conv2DBackwardData(dy, w, dx, p))
	must(t, b.Conv2DBackwardFilter(x, dy, dw, p))

	out := [][]uint32{bits(y.Host), bits(dx.Host), bits(dw.Host)}
	for _, shape := range [][]int{{n, cout, ho, ho}, {300, 40}} {
		c := shape[1]
		bn := newBN(t, b, 4, shape...)
		must(t, b.BatchNormForwardTrain(bn.x, bn.gamma, bn.beta, bn.y, bn.mean, bn.invStd, bn.runMean, bn.runVar, 0.1, 1e-5))
		g := randT(t, b, 5, 1, shape...)
		bdx, dg, db := newT(t, b, nil, shape...), newT(t, b, nil, c), newT(t, b, nil, c)
		must(t, b.BatchNormBackward(g, bn.x, bn.gamma, bn.mean, bn.invStd, bdx, dg, db))
		out = append(out, bits(bn.y.Host), bits(bn.mean.Host), bits(bn.invStd.Host), bits(bn.runVar.Host),
			bits(bdx.Host), bits(dg.Host), bits(db.Host))
	}

	m := 96
	s := cosineLike(t, b, m, 6)
	loss, err := b.NTXentForward(s, 0.1)
	must(t, err)
	ds := newT(t, b, nil, m, m)
	must(t, b.NTXentBackward(s, 0.1, ds))
	out = append(out, bits([]float32{loss}), bits(ds.Host))

	// Fused NT-Xent: 2N = 300 rows, partial row (64) and column (128) tiles.
	z := randT(t, b, 11, 1, 300, 12)
	stats, dz := newT(t, b, nil, 300, 2), newT(t, b, nil, 300, 12)
	floss, err := b.NTXentFusedForward(z, stats, 0.2)
	must(t, err)
	must(t, b.NTXentFusedBackward(z, stats, 0.2, dz))
	out = append(out, bits([]float32{floss}), bits(stats.Host), bits(dz.Host))

	lx, lw, ldy := randT(t, b, 7, 1, 300, 20), randT(t, b, 8, 1, 600, 20), randT(t, b, 9, 1, 300, 600)
	ldx, ldw, ldb := newT(t, b, nil, 300, 20), newT(t, b, nil, 600, 20), newT(t, b, nil, 600)
	must(t, b.LinearBackward(lx, lw, ldy, ldx, ldw, ldb))
	out = append(out, bits(ldx.Host), bits(ldw.Host), bits(ldb.Host))

	big := randT(t, b, 10, 1, 5*reduceChunk+3)
	ss, err := b.SumSquares(big)
	must(t, err)
	dot, err := b.Dot(big, big)
	must(t, err)
	out = append(out, bits64(ss), bits64(dot))
	return out
}

// bits64 splits the IEEE bits of v into two words.
func bits64(v float64) []uint32 {
	u := math.Float64bits(v)
	return []uint32{uint32(u), uint32(u >> 32)}
}

// TestDeterministicAcrossGOMAXPROCS: every reduction is bit-identical with
// 1 and 4 threads.
func TestDeterministicAcrossGOMAXPROCS(t *testing.T) {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	one := runReductions(t)
	runtime.GOMAXPROCS(4)
	four := runReductions(t)
	for i := range one {
		if !slices.Equal(one[i], four[i]) {
			t.Fatalf("output %d differs between GOMAXPROCS 1 and 4", i)
		}
	}
}
