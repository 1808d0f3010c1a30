package probe

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"simclr/internal/backend"
	"simclr/internal/model"
	"simclr/internal/optim"
	"simclr/internal/tensor"
)

// LinearOptions configures TrainLinear.
type LinearOptions struct {
	// Classes is the number of classes (labels are in [0, Classes)).
	Classes int
	// Epochs over the training set and the mini-batch size.
	Epochs, BatchSize int
	// LR is the base learning rate, WeightDecay the L2 penalty on the
	// weight matrix (never on the bias), Momentum the SGD momentum.
	LR, WeightDecay, Momentum float32
	// Optimizer is "sgd" (Nesterov momentum when Momentum > 0) or "adam"
	// (AdamW, betas 0.9/0.999, eps 1e-8, decoupled weight decay).
	Optimizer string
	// Seed fixes the initial weights and the shuffling order.
	Seed int64
	// Schedule is "cosine" (per-step cosine decay from LR to 0) or
	// "constant".
	Schedule string
}

// Result is the outcome of a linear evaluation on the test set.
type Result struct {
	// Top1 and Top5 are accuracies in percent (Top5 counts a sample as
	// correct when its label is among the five highest logits; with fewer
	// than five classes it is 100).
	Top1, Top5 float64
	// PerClass is the top-1 accuracy in percent of each class's test
	// samples (0 for a class with no test sample; see Confusion).
	PerClass []float64
	// Confusion[t][p] counts test samples of class t predicted as p.
	Confusion [][]int
	// TrainLoss is the mean training cross-entropy of each epoch.
	TrainLoss []float64
}

// Optimizers lists the probe's optimizers; eval.probe_optim accepts
// exactly these.
var Optimizers = []string{"sgd", "adam"}

// validate checks the options.
func (o LinearOptions) validate() error {
	switch {
	case o.Epochs < 1:
		return fmt.Errorf("probe: epochs %d must be >= 1", o.Epochs)
	case o.BatchSize < 1:
		return fmt.Errorf("probe: batch size %d must be >= 1", o.BatchSize)
	case math.IsNaN(float64(o.LR)) || math.IsInf(float64(o.LR), 0) || o.LR <= 0:
		return fmt.Errorf("probe: learning rate %v must be finite and > 0", o.LR)
	case math.IsNaN(float64(o.WeightDecay)) || o.WeightDecay < 0:
		return fmt.Errorf("probe: weight decay %v must be >= 0", o.WeightDecay)
	case math.IsNaN(float64(o.Momentum)) || o.Momentum < 0 || o.Momentum >= 1:
		return fmt.Errorf("probe: momentum %v must be in [0, 1)", o.Momentum)
	}
	if !slices.Contains(Optimizers, o.Optimizer) {
		return fmt.Errorf("probe: unknown optimizer %q; use one of %s", o.Optimizer, strings.Join(Optimizers, ", "))
	}
	if o.Schedule != "cosine" && o.Schedule != "constant" {
		return fmt.Errorf("probe: unknown schedule %q; use cosine or constant", o.Schedule)
	}
	return nil
}

// TrainLinear trains a linear classifier (weight [Classes, dim] plus bias)
// on frozen training features with softmax cross-entropy and reports its
// accuracy on the test features.
//
// Features are standardised first: every column of both sets has the
// training set's mean subtracted and is divided by the training set's
// standard deviation (columns that are constant in the training set are only
// centred). The inputs are not modified. Weights start from N(0, 0.01²) and
// the bias from 0. Each epoch visits the training set in a fresh random
// order in mini-batches of BatchSize (the last one may be smaller). All
// arithmetic goes through b (LinearForward/Backward, SoftmaxCrossEntropy*
// and the optim package), so the run is deterministic for a given seed and
// backend.
func TrainLinear(b backend.Backend, trainX []float32, trainY []int32, testX []float32, testY []int32, dim int, o LinearOptions) (*Result, error) {
	if err := checkSet("train", trainX, trainY, dim, o.Classes); err != nil {
		return nil, err
	}
	train, test := standardize(trainX, testX, dim)
	same := func(int) ([]float32, []int32, error) { return train, trainY, nil }
	return trainLinear(b, same, test, testX, testY, dim, o)
}

// EpochFeatures returns the training features and labels for one epoch
// (0-based), e.g. of freshly augmented views of the training images. Every
// epoch must return the same number of rows.
type EpochFeatures func(epoch int) ([]float32, []int32, error)

// TrainLinearAugmented is TrainLinear with new training features every epoch
// (the paper's crop-and-flip probe). Standardisation statistics come from
// epoch 0's features and are applied to every epoch and to the test set.
func TrainLinearAugmented(b backend.Backend, train EpochFeatures, testX []float32, testY []int32, dim int, o LinearOptions) (*Result, error) {
	if train == nil {
		return nil, fmt.Errorf("probe: no training features")
	}
	x0, y0, err := train(0)
	if err != nil {
		return nil, err
	}
	if err := checkSet("train", x0, y0, dim, o.Classes); err != nil {
		return nil, err
	}
	sc := newScaler(x0, dim)
	first := sc.apply(x0)
	epochs := func(epoch int) ([]float32, []int32, error) {
		if epoch == 0 {
			return first, y0, nil
		}
		x, y, err := train(epoch)
		if err != nil {
			return nil, nil, err
		}
		if len(y) != len(y0) {
			return nil, nil, fmt.Errorf("probe: epoch %d has %d training rows, epoch 1 had %d", epoch+1, len(y), len(y0))
		}
		if err := checkSet("train", x, y, dim, o.Classes); err != nil {
			return nil, nil, err
		}
		return sc.apply(x), y, nil
	}
	return trainLinear(b, epochs, sc.apply(testX), testX, testY, dim, o)
}

// trainLinear is the shared training loop; train yields standardised
// features per epoch, test is the standardised test set (raw is checked).
func trainLinear(b backend.Backend, train EpochFeatures, test, rawTest []float32, testY []int32, dim int, o LinearOptions) (*Result, error) {
	if b == nil {
		return nil, fmt.Errorf("probe: backend is nil")
	}
	if err := checkDims(dim, o.Classes); err != nil {
		return nil, err
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := checkSet("test", rawTest, testY, dim, o.Classes); err != nil {
		return nil, err
	}

	r := &linearRun{b: b, dim: dim, classes: o.Classes, bufs: map[int]*batchBufs{}}
	defer r.free()
	if err := r.init(uint64(o.Seed)); err != nil {
		return nil, err
	}
	opt, err := newOptimizer(b, r.params, o)
	if err != nil {
		return nil, err
	}
	defer opt.Release()

	rng := rand.New(rand.NewPCG(uint64(o.Seed), 0x5eed_1ea4))
	res := &Result{}
	xb := make([]float32, o.BatchSize*dim)
	yb := make([]int32, o.BatchSize)
	step := 0
	var sched optim.Schedule
	for epoch := 0; epoch < o.Epochs; epoch++ {
		trainX, trainY, err := train(epoch)
		if err != nil {
			return nil, fmt.Errorf("probe: training features of epoch %d: %w", epoch+1, err)
		}
		n := len(trainY)
		if epoch == 0 {
			perEpoch := (n + o.BatchSize - 1) / o.BatchSize
			sched = optim.Schedule{BaseLR: float64(o.LR), TotalSteps: o.Epochs * perEpoch}
		}
		perm := rng.Perm(n)
		var lossSum float64
		for start := 0; start < n; start += o.BatchSize {
			idx := perm[start:min(start+o.BatchSize, n)]
			bs := len(idx)
			for i, j := range idx {
				copy(xb[i*dim:(i+1)*dim], trainX[j*dim:(j+1)*dim])
				yb[i] = trainY[j]
			}
			lr := o.LR
			if o.Schedule == "cosine" {
				lr = float32(sched.LR(step))
			}
			loss, err := r.trainStep(xb[:bs*dim], yb[:bs], opt, lr)
			if err != nil {
				return nil, fmt.Errorf("probe: epoch %d, step %d: %w", epoch+1, step, err)
			}
			lossSum += float64(loss) * float64(bs)
			step++
		}
		mean := lossSum / float64(n)
		if math.IsNaN(mean) || math.IsInf(mean, 0) {
			return nil, fmt.Errorf("probe: training loss became %v in epoch %d; lower the learning rate", mean, epoch+1)
		}
		res.TrainLoss = append(res.TrainLoss, mean)
	}
	if err := r.evaluate(test, testY, o.BatchSize, res); err != nil {
		return nil, err
	}
	return res, nil
}

// newOptimizer builds the optimizer named in o.
func newOptimizer(b backend.Backend, params []*model.Param, o LinearOptions) (interface {
	optim.Optimizer
	Release()
}, error) {
	if o.Optimizer == "adam" {
		return optim.NewAdamW(b, params, optim.AdamWOptions{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: o.WeightDecay, ExcludeBiasBN: true})
	}
	return optim.NewSGD(b, params, optim.SGDOptions{Momentum: o.Momentum, WeightDecay: o.WeightDecay, Nesterov: o.Momentum > 0, ExcludeBiasBN: true})
}

// scaler standardises feature columns with fixed statistics.
type scaler struct {
	dim       int
	mean, inv []float64
}

// newScaler measures every column's mean and standard deviation on train
// (constant columns are only centred).
func newScaler(train []float32, dim int) *scaler {
	n := len(train) / dim
	mean := make([]float64, dim)
	for r := 0; r < n; r++ {
		for j, v := range train[r*dim : (r+1)*dim] {
			mean[j] += float64(v)
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	inv := make([]float64, dim)
	for r := 0; r < n; r++ {
		for j, v := range train[r*dim : (r+1)*dim] {
			d := float64(v) - mean[j]
			inv[j] += d * d
		}
	}
	for j := range inv {
		sd := math.Sqrt(inv[j] / float64(n))
		if sd > 1e-12 {
			inv[j] = 1 / sd
		} else {
			inv[j] = 1
		}
	}
	return &scaler{dim: dim, mean: mean, inv: inv}
}

// apply returns a standardised copy of x.
func (s *scaler) apply(x []float32) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		j := i % s.dim
		out[i] = float32((float64(v) - s.mean[j]) * s.inv[j])
	}
	return out
}

// standardize returns copies of train and test with every column scaled by
// the training set's mean and standard deviation.
func standardize(train, test []float32, dim int) ([]float32, []float32) {
	sc := newScaler(train, dim)
	return sc.apply(train), sc.apply(test)
}

// batchBufs are the backend tensors for one batch size.
type batchBufs struct {
	x, logits, dlogits *tensor.Tensor
}

// linearRun holds the classifier's tensors.
type linearRun struct {
	b            backend.Backend
	dim, classes int
	w, bias      *tensor.Tensor
	dw, dbias    *tensor.Tensor
	params       []*model.Param
	bufs         map[int]*batchBufs
	host         []float32 // logits downloaded for evaluation
}

// init allocates the parameters and draws the initial weights.
func (r *linearRun) init(seed uint64) error {
	var err error
	alloc := func(shape ...int) *tensor.Tensor {
		if err != nil {
			return nil
		}
		var t *tensor.Tensor
		t, err = r.b.New(shape...)
		return t
	}
	r.w, r.bias = alloc(r.classes, r.dim), alloc(r.classes)
	r.dw, r.dbias = alloc(r.classes, r.dim), alloc(r.classes)
	if err != nil {
		return fmt.Errorf("probe: allocate classifier: %w", err)
	}
	rng := rand.New(rand.NewPCG(seed, 0x11ea_c1a5))
	w := make([]float32, r.classes*r.dim)
	for i := range w {
		w[i] = float32(0.01 * rng.NormFloat64())
	}
	if err := r.b.Upload(r.w, w); err != nil {
		return fmt.Errorf("probe: upload classifier weights: %w", err)
	}
	r.params = []*model.Param{
		{Name: "linear.weight", Value: r.w, Grad: r.dw},
		{Name: "linear.bias", Value: r.bias, Grad: r.dbias, NoDecay: true},
	}
	return nil
}

// batch returns (allocating once) the tensors for batch size n.
func (r *linearRun) batch(n int) (*batchBufs, error) {
	if bb, ok := r.bufs[n]; ok {
		return bb, nil
	}
	bb := &batchBufs{}
	var err error
	if bb.x, err = r.b.New(n, r.dim); err == nil {
		if bb.logits, err = r.b.New(n, r.classes); err == nil {
			bb.dlogits, err = r.b.New(n, r.classes)
		}
	}
	r.bufs[n] = bb // freed by free even when partly allocated
	if err != nil {
		return nil, fmt.Errorf("probe: allocate batch of %d: %w", n, err)
	}
	return bb, nil
}

// forward uploads x and computes the logits of its rows.
func (r *linearRun) forward(x []float32) (*batchBufs, error) {
	bb, err := r.batch(len(x) / r.dim)
	if err != nil {
		return nil, err
	}
	if err := r.b.Upload(bb.x, x); err != nil {
		return nil, err
	}
	if err := r.b.LinearForward(bb.x, r.w, r.bias, bb.logits); err != nil {
		return nil, err
	}
	return bb, nil
}

// trainStep does forward, loss, backward and one optimizer update.
func (r *linearRun) trainStep(x []float32, y []int32, opt optim.Optimizer, lr float32) (float32, error) {
	bb, err := r.forward(x)
	if err != nil {
		return 0, err
	}
	loss, err := r.b.SoftmaxCrossEntropyForward(bb.logits, y)
	if err != nil {
		return 0, err
	}
	if err := r.b.SoftmaxCrossEntropyBackward(bb.logits, y, bb.dlogits); err != nil {
		return 0, err
	}
	if err := r.b.LinearBackward(bb.x, r.w, bb.dlogits, nil, r.dw, r.dbias); err != nil {
		return 0, err
	}
	if err := opt.Step(lr); err != nil {
		return 0, err
	}
	return loss, nil
}

// evaluate fills the accuracies and the confusion matrix of res.
func (r *linearRun) evaluate(x []float32, y []int32, batch int, res *Result) error {
	c := r.classes
	res.Confusion = make([][]int, c)
	for i := range res.Confusion {
		res.Confusion[i] = make([]int, c)
	}
	top5 := min(5, c)
	var hit1, hit5 int
	n := len(y)
	for start := 0; start < n; start += batch {
		end := min(start+batch, n)
		bb, err := r.forward(x[start*r.dim : end*r.dim])
		if err != nil {
			return fmt.Errorf("probe: evaluate: %w", err)
		}
		if cap(r.host) < (end-start)*c {
			r.host = make([]float32, (end-start)*c)
		}
		logits := r.host[:(end-start)*c]
		if err := r.b.Download(logits, bb.logits); err != nil {
			return fmt.Errorf("probe: evaluate: %w", err)
		}
		for i := 0; i < end-start; i++ {
			row := logits[i*c : (i+1)*c]
			label := int(y[start+i])
			for _, v := range row {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return fmt.Errorf("probe: evaluate: logits of test sample %d are not finite; the classifier diverged, lower the learning rate", start+i)
				}
			}
			pred, rank := 0, 0
			for j, v := range row {
				if v > row[pred] {
					pred = j
				}
				if v > row[label] || (v == row[label] && j < label) {
					rank++
				}
			}
			res.Confusion[label][pred]++
			if rank == 0 {
				hit1++
			}
			if rank < top5 {
				hit5++
			}
		}
	}
	res.Top1 = 100 * float64(hit1) / float64(n)
	res.Top5 = 100 * float64(hit5) / float64(n)
	res.PerClass = make([]float64, c)
	for t, row := range res.Confusion {
		total := 0
		for _, v := range row {
			total += v
		}
		if total > 0 {
			res.PerClass[t] = 100 * float64(row[t]) / float64(total)
		}
	}
	return nil
}

// free releases every backend tensor the run allocated.
func (r *linearRun) free() {
	for _, t := range []*tensor.Tensor{r.w, r.bias, r.dw, r.dbias} {
		if t != nil {
			r.b.Free(t)
		}
	}
	for _, bb := range r.bufs {
		for _, t := range []*tensor.Tensor{bb.x, bb.logits, bb.dlogits} {
			if t != nil {
				r.b.Free(t)
			}
		}
	}
}
