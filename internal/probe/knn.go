package probe

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"simclr/internal/gemm"
)

// knnBlock is the number of test rows whose similarities are computed at
// once (one Sgemm call of knnBlock x Ntrain).
const knnBlock = 64

// KNN classifies each test feature by a weighted vote of its k nearest
// training features and returns the top-1 accuracy in percent. Similarity
// is cosine (rows are L2-normalised first; an all-zero row has similarity 0
// to everything); each of the k most similar training samples votes for its
// class with weight exp(sim/temperature), as in InstDisc and the SimCLR
// monitors. k larger than the training set uses every training sample. Ties
// are broken deterministically: among equal similarities the lower training
// index is nearer, among equal votes the lower class wins.
func KNN(trainX []float32, trainY []int32, testX []float32, testY []int32, dim, classes, k int, temperature float64) (top1 float64, err error) {
	if err := checkDims(dim, classes); err != nil {
		return 0, err
	}
	if k < 1 {
		return 0, fmt.Errorf("probe: knn k = %d must be >= 1", k)
	}
	if math.IsNaN(temperature) || math.IsInf(temperature, 0) || temperature <= 0 {
		return 0, fmt.Errorf("probe: knn temperature %v must be finite and > 0 (0.1 is usual)", temperature)
	}
	if err := checkSet("train", trainX, trainY, dim, classes); err != nil {
		return 0, err
	}
	if err := checkSet("test", testX, testY, dim, classes); err != nil {
		return 0, err
	}
	train := normalizeRows(trainX, dim)
	test := normalizeRows(testX, dim)
	nTrain, nTest := len(trainY), len(testY)
	k = min(k, nTrain)

	correct := make([]bool, nTest)
	blocks := (nTest + knnBlock - 1) / knnBlock
	workers := min(runtime.GOMAXPROCS(0), blocks)
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sims := make([]float32, knnBlock*nTrain)
			sel := newTopK(k)
			votes := make([]float64, classes)
			for blk := range next {
				r0 := blk * knnBlock
				rows := min(knnBlock, nTest-r0)
				gemm.Sgemm(false, true, rows, nTrain, dim, 1, test[r0*dim:(r0+rows)*dim], dim, train, dim, 0, sims, nTrain)
				for r := 0; r < rows; r++ {
					pred := vote(sims[r*nTrain:(r+1)*nTrain], trainY, sel, votes, temperature)
					correct[r0+r] = pred == testY[r0+r]
				}
			}
		}()
	}
	for blk := 0; blk < blocks; blk++ {
		next <- blk
	}
	close(next)
	wg.Wait()

	hits := 0
	for _, c := range correct {
		if c {
			hits++
		}
	}
	return 100 * float64(hits) / float64(nTest), nil
}

// vote returns the class with the largest weighted vote of the k nearest
// neighbours. Weights are exp((sim-maxSim)/T): the common factor
// exp(maxSim/T) does not change the winner and keeps small temperatures
// from overflowing.
func vote(sims []float32, labels []int32, sel *topK, votes []float64, temperature float64) int32 {
	sel.reset()
	for i, s := range sims {
		sel.offer(s, int32(i))
	}
	clear(votes)
	maxSim := sel.max()
	for _, n := range sel.items {
		votes[labels[n.idx]] += math.Exp((float64(n.sim) - float64(maxSim)) / temperature)
	}
	best := 0
	for c, v := range votes {
		if v > votes[best] {
			best = c
		}
	}
	return int32(best)
}

// normalizeRows returns a copy of x with every row scaled to unit L2 norm
// (rows with norm below 1e-12 are divided by 1e-12, as F.normalize does).
func normalizeRows(x []float32, dim int) []float32 {
	out := make([]float32, len(x))
	for r := 0; r < len(x)/dim; r++ {
		row := x[r*dim : (r+1)*dim]
		var ss float64
		for _, v := range row {
			ss += float64(v) * float64(v)
		}
		inv := 1 / math.Max(math.Sqrt(ss), 1e-12)
		for j, v := range row {
			out[r*dim+j] = float32(float64(v) * inv)
		}
	}
	return out
}

// neighbour is one candidate in the top-k selection.
type neighbour struct {
	sim float32
	idx int32
}

// nearer orders neighbours: higher similarity first, then lower index.
func nearer(a, b neighbour) bool {
	return a.sim > b.sim || (a.sim == b.sim && a.idx < b.idx)
}

// topK keeps the k nearest neighbours offered so far in a binary heap whose
// root is the farthest of them.
type topK struct {
	k     int
	items []neighbour
}

func newTopK(k int) *topK { return &topK{k: k, items: make([]neighbour, 0, k)} }

func (t *topK) reset() { t.items = t.items[:0] }

// offer adds a candidate, dropping the farthest one when full.
func (t *topK) offer(sim float32, idx int32) {
	n := neighbour{sim, idx}
	if len(t.items) < t.k {
		t.items = append(t.items, n)
		t.up(len(t.items) - 1)
		return
	}
	if !nearer(n, t.items[0]) {
		return
	}
	t.items[0] = n
	t.down(0)
}

// up and down restore the heap property (parent farther than children).
func (t *topK) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !nearer(t.items[p], t.items[i]) {
			return
		}
		t.items[p], t.items[i] = t.items[i], t.items[p]
		i = p
	}
}

func (t *topK) down(i int) {
	n := len(t.items)
	for {
		far := i
		if l := 2*i + 1; l < n && nearer(t.items[far], t.items[l]) {
			far = l
		}
		if r := 2*i + 2; r < n && nearer(t.items[far], t.items[r]) {
			far = r
		}
		if far == i {
			return
		}
		t.items[i], t.items[far] = t.items[far], t.items[i]
		i = far
	}
}

// max returns the largest similarity held.
func (t *topK) max() float32 {
	m := t.items[0].sim
	for _, n := range t.items[1:] {
		m = max(m, n.sim)
	}
	return m
}
