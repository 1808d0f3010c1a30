package probe

import (
	"math"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"

	"simclr/internal/backend/cpu"
)

// clusters draws n samples per class around well-separated random centres
// (distance ~ 10, noise sd 0.3), so a linear classifier can be perfect.
func clusters(seed uint64, classes, perClass, dim int, scale, offset float32) ([]float32, []int32) {
	rng := rand.New(rand.NewPCG(seed, 1))
	centres := make([]float32, classes*dim)
	for i := range centres {
		centres[i] = float32(rng.NormFloat64() * 5)
	}
	var x []float32
	var y []int32
	for i := 0; i < perClass; i++ {
		for c := 0; c < classes; c++ {
			for j := 0; j < dim; j++ {
				x = append(x, (centres[c*dim+j]+float32(rng.NormFloat64()*0.3))*scale+offset)
			}
			y = append(y, int32(c))
		}
	}
	return x, y
}

func defaultOptions(classes int) LinearOptions {
	return LinearOptions{Classes: classes, Epochs: 10, BatchSize: 32, LR: 0.1, Momentum: 0.9, WeightDecay: 1e-4, Optimizer: "sgd", Seed: 1, Schedule: "cosine"}
}

func TestTrainLinearSeparable(t *testing.T) {
	const classes, dim = 10, 16
	tests := []struct {
		name          string
		optimizer     string
		schedule      string
		lr            float32
		scale, offset float32
	}{
		{"sgd cosine", "sgd", "cosine", 0.1, 1, 0},
		{"adam constant", "adam", "constant", 0.01, 1, 0},
		// Standardisation makes the scale of the features irrelevant.
		{"huge scale", "sgd", "cosine", 0.1, 1e5, 3e6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Same centres (seed 7) for train and test; the noise differs
			// because the test set is drawn after more samples.
			trainX, trainY := clusters(7, classes, 40, dim, tc.scale, tc.offset)
			allX, allY := clusters(7, classes, 60, dim, tc.scale, tc.offset)
			testX, testY := allX[len(trainX):], allY[len(trainY):]
			o := defaultOptions(classes)
			o.Optimizer, o.Schedule, o.LR = tc.optimizer, tc.schedule, tc.lr
			res, err := TrainLinear(cpu.New(), trainX, trainY, testX, testY, dim, o)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("top-1 %.2f, top-5 %.2f, loss %.4f -> %.4f", res.Top1, res.Top5, res.TrainLoss[0], res.TrainLoss[len(res.TrainLoss)-1])
			if res.Top1 < 99 {
				t.Errorf("top-1 %.2f%% on separable clusters, want ~100%%", res.Top1)
			}
			if res.Top5 < res.Top1 {
				t.Errorf("top-5 %.2f < top-1 %.2f", res.Top5, res.Top1)
			}
			if len(res.TrainLoss) != o.Epochs {
				t.Fatalf("%d epoch losses, want %d", len(res.TrainLoss), o.Epochs)
			}
			if first, last := res.TrainLoss[0], res.TrainLoss[o.Epochs-1]; !(last < first/4) {
				t.Errorf("training loss %.4f -> %.4f did not fall", first, last)
			}
			checkConsistent(t, res, testY, classes)
		})
	}
}

// checkConsistent checks that Confusion, PerClass and Top1 agree.
func checkConsistent(t *testing.T, res *Result, testY []int32, classes int) {
	t.Helper()
	if len(res.Confusion) != classes || len(res.PerClass) != classes {
		t.Fatalf("confusion %d rows, per-class %d entries, want %d", len(res.Confusion), len(res.PerClass), classes)
	}
	count := make([]int, classes)
	for _, y := range testY {
		count[y]++
	}
	total, diag := 0, 0
	for c, row := range res.Confusion {
		s := 0
		for _, v := range row {
			s += v
		}
		if s != count[c] {
			t.Errorf("confusion row %d sums to %d, want %d test samples", c, s, count[c])
		}
		total += s
		diag += row[c]
		if want := 100 * float64(row[c]) / float64(count[c]); math.Abs(res.PerClass[c]-want) > 1e-9 {
			t.Errorf("per-class %d = %v, want %v", c, res.PerClass[c], want)
		}
	}
	if total != len(testY) {
		t.Errorf("confusion sums to %d, want %d", total, len(testY))
	}
	if want := 100 * float64(diag) / float64(total); math.Abs(res.Top1-want) > 1e-9 {
		t.Errorf("top-1 %v disagrees with the confusion diagonal %v", res.Top1, want)
	}
}

func TestTrainLinearRandomLabelsIsChance(t *testing.T) {
	const classes, dim, n = 4, 8, 800
	rng := rand.New(rand.NewPCG(3, 3))
	x := make([]float32, 2*n*dim)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]int32, 2*n)
	for i := range y {
		y[i] = int32(rng.IntN(classes))
	}
	res, err := TrainLinear(cpu.New(), x[:n*dim], y[:n], x[n*dim:], y[n:], dim, defaultOptions(classes))
	if err != nil {
		t.Fatal(err)
	}
	// Chance is 25%; the standard error with 800 test samples is ~1.5%.
	if res.Top1 < 18 || res.Top1 > 32 {
		t.Errorf("top-1 %.2f%% on random labels, want ~25%% (chance)", res.Top1)
	}
	if res.Top5 != 100 {
		t.Errorf("top-5 with 4 classes = %v, want 100", res.Top5)
	}
	t.Logf("random labels: top-1 %.2f", res.Top1)
	checkConsistent(t, res, y[n:], classes)
}

func TestTrainLinearTop5(t *testing.T) {
	// Heavily overlapping clusters: top-1 well below 100, top-5 above it.
	const classes, dim = 20, 4
	rng := rand.New(rand.NewPCG(5, 5))
	gen := func(n int) ([]float32, []int32) {
		x := make([]float32, n*dim)
		y := make([]int32, n)
		for i := range y {
			y[i] = int32(rng.IntN(classes))
			x[i*dim] = float32(y[i]) + float32(rng.NormFloat64()*2)
			for j := 1; j < dim; j++ {
				x[i*dim+j] = float32(rng.NormFloat64())
			}
		}
		return x, y
	}
	trainX, trainY := gen(2000)
	testX, testY := gen(500)
	res, err := TrainLinear(cpu.New(), trainX, trainY, testX, testY, dim, defaultOptions(classes))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("overlapping clusters: top-1 %.2f, top-5 %.2f", res.Top1, res.Top5)
	if !(res.Top5 > res.Top1+10) || res.Top1 < 100.0/classes {
		t.Errorf("top-1 %.2f, top-5 %.2f: want top-1 above chance and top-5 clearly above top-1", res.Top1, res.Top5)
	}
	checkConsistent(t, res, testY, classes)
}

func TestTrainLinearDeterministic(t *testing.T) {
	x, y := clusters(11, 3, 30, 5, 1, 0)
	o := defaultOptions(3)
	o.BatchSize = 7 // a partial last batch
	run := func(seed int64) *Result {
		o.Seed = seed
		res, err := TrainLinear(cpu.New(), x, y, x, y, 5, o)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a, b, c := run(1), run(1), run(2)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("two runs with seed 1 differ:\n%+v\n%+v", a, b)
	}
	if reflect.DeepEqual(a.TrainLoss, c.TrainLoss) {
		t.Errorf("seeds 1 and 2 gave identical losses: the seed is not used")
	}
}

func TestTrainLinearDoesNotModifyInputs(t *testing.T) {
	x, y := clusters(2, 2, 10, 3, 2, 5)
	orig := append([]float32(nil), x...)
	if _, err := TrainLinear(cpu.New(), x, y, x, y, 3, defaultOptions(2)); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(x, orig) {
		t.Errorf("TrainLinear modified the caller's features")
	}
}

func TestTrainLinearConstantFeature(t *testing.T) {
	x, y := clusters(4, 2, 20, 3, 1, 0)
	for i := 0; i < len(y); i++ {
		x[i*3+1] = 7 // constant column: std 0, must not give NaN
	}
	res, err := TrainLinear(cpu.New(), x, y, x, y, 3, defaultOptions(2))
	if err != nil {
		t.Fatal(err)
	}
	if res.Top1 < 99 {
		t.Errorf("top-1 %.2f with a constant column", res.Top1)
	}
}

func TestTrainLinearErrors(t *testing.T) {
	x := []float32{0, 1, 1, 0, 1, 1}
	y := []int32{0, 1, 1}
	nan := []float32{0, 1, 1, float32(math.NaN()), 1, 1}
	mod := func(f func(*LinearOptions)) LinearOptions { o := defaultOptions(2); f(&o); return o }
	tests := []struct {
		name   string
		trainX []float32
		trainY []int32
		testX  []float32
		testY  []int32
		dim    int
		o      LinearOptions
		want   string
	}{
		{"label too big", x, []int32{0, 2, 1}, x, y, 2, defaultOptions(2), "train label 2 at index 1 is outside [0, 2)"},
		{"negative test label", x, y, x, []int32{0, 1, -1}, 2, defaultOptions(2), "test label -1 at index 2"},
		{"dim mismatch", x, y, x, y, 4, defaultOptions(2), "train features have 6 values, want 3 labels x dimension 4"},
		{"test dim mismatch", x, y, x[:4], y, 2, defaultOptions(2), "test features have 4 values"},
		{"NaN train", nan, y, x, y, 2, defaultOptions(2), "train feature at row 1, column 1 is NaN"},
		{"NaN test", x, y, nan, y, 2, defaultOptions(2), "test feature at row 1, column 1 is NaN"},
		{"empty train", nil, nil, x, y, 2, defaultOptions(2), "train set is empty"},
		{"dim 0", x, y, x, y, 0, defaultOptions(2), "dimension 0"},
		{"one class", x, []int32{0, 0, 0}, x, []int32{0, 0, 0}, 2, defaultOptions(1), "1 classes"},
		{"epochs", x, y, x, y, 2, mod(func(o *LinearOptions) { o.Epochs = 0 }), "epochs 0"},
		{"batch", x, y, x, y, 2, mod(func(o *LinearOptions) { o.BatchSize = 0 }), "batch size 0"},
		{"lr", x, y, x, y, 2, mod(func(o *LinearOptions) { o.LR = 0 }), "learning rate 0"},
		{"momentum", x, y, x, y, 2, mod(func(o *LinearOptions) { o.Momentum = 1 }), "momentum 1"},
		{"optimizer", x, y, x, y, 2, mod(func(o *LinearOptions) { o.Optimizer = "lbfgs" }), `unknown optimizer "lbfgs"`},
		{"schedule", x, y, x, y, 2, mod(func(o *LinearOptions) { o.Schedule = "step" }), `unknown schedule "step"`},
		{"diverges", x, y, x, y, 2, mod(func(o *LinearOptions) { o.LR = 1e38; o.Momentum = 0 }), "lower the learning rate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := TrainLinear(cpu.New(), tc.trainX, tc.trainY, tc.testX, tc.testY, tc.dim, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := TrainLinear(nil, x, y, x, y, 2, defaultOptions(2)); err == nil {
		t.Errorf("nil backend accepted")
	}
}

func TestKNNHandChecked(t *testing.T) {
	// Test point (1,0), label 0. Train: A=(1,0) class 0 (sim 1),
	// B=(0.6,0.8) and C=(0.6,-0.8) class 1 (sim 0.6 each), D=(-2,0) class 0
	// (sim -1; its length must not matter).
	train := []float32{1, 0, 0.6, 0.8, 0.6, -0.8, -2, 0}
	trainY := []int32{0, 1, 1, 0}
	test := []float32{3, 0}
	testY := []int32{0}
	tests := []struct {
		name string
		k    int
		temp float64
		want float64
	}{
		{"k=1 nearest is A", 1, 0.1, 100},
		// k=3, T=0.1: class 0 gets e^10, class 1 gets 2e^6: correct.
		{"sharp temperature", 3, 0.1, 100},
		// k=3, T=1: class 0 gets e = 2.72, class 1 gets 2e^0.6 = 3.64: wrong.
		{"flat temperature", 3, 1, 0},
		// k=4, T=1: class 0 gets e + 1/e = 3.09 < 3.64: still wrong.
		{"k=4", 4, 1, 0},
		// k beyond the training set uses all four.
		{"k larger than train set", 100, 1, 0},
		{"k larger, sharp", 100, 0.1, 100},
		// A tiny temperature must not overflow exp.
		{"tiny temperature", 3, 1e-4, 100},
	}
	for _, tc := range tests {
		got, err := KNN(train, trainY, test, testY, 2, 2, tc.k, tc.temp)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got != tc.want {
			t.Errorf("%s: top-1 %v, want %v", tc.name, got, tc.want)
		}
	}
}

// knnReference is the plain definition: sort all training samples by
// cosine similarity (ties by index), vote with exp(sim/T) in float64.
func knnReference(train []float32, trainY []int32, test []float32, testY []int32, dim, classes, k int, temp float64) float64 {
	tr, te := normalizeRows(train, dim), normalizeRows(test, dim)
	n := len(trainY)
	hits := 0
	for q := range testY {
		idx := make([]int, n)
		sims := make([]float32, n)
		for i := range idx {
			idx[i] = i
			var s float32
			for j := 0; j < dim; j++ {
				s += te[q*dim+j] * tr[i*dim+j]
			}
			sims[i] = s
		}
		sort.SliceStable(idx, func(a, b int) bool { return sims[idx[a]] > sims[idx[b]] })
		votes := make([]float64, classes)
		for _, i := range idx[:min(k, n)] {
			votes[trainY[i]] += math.Exp(float64(sims[i]) / temp)
		}
		best := 0
		for c := range votes {
			if votes[c] > votes[best] {
				best = c
			}
		}
		if int32(best) == testY[q] {
			hits++
		}
	}
	return 100 * float64(hits) / float64(len(testY))
}

func TestKNNMatchesReference(t *testing.T) {
	const dim, classes = 6, 5
	rng := rand.New(rand.NewPCG(9, 9))
	gen := func(n int) ([]float32, []int32) {
		x := make([]float32, n*dim)
		y := make([]int32, n)
		for i := range y {
			y[i] = int32(rng.IntN(classes))
			for j := 0; j < dim; j++ {
				x[i*dim+j] = float32(rng.NormFloat64())
				if j == int(y[i]) {
					x[i*dim+j] += 1.5
				}
			}
		}
		return x, y
	}
	trainX, trainY := gen(300)
	testX, testY := gen(150) // more than two blocks of 64
	for _, k := range []int{1, 5, 20, 299, 300, 1000} {
		got, err := KNN(trainX, trainY, testX, testY, dim, classes, k, 0.1)
		if err != nil {
			t.Fatal(err)
		}
		if want := knnReference(trainX, trainY, testX, testY, dim, classes, k, 0.1); math.Abs(got-want) > 1e-9 {
			t.Errorf("k=%d: top-1 %v, reference %v", k, got, want)
		}
		if k == 20 && got < 40 {
			t.Errorf("k=20: top-1 %v, want well above chance (20%%)", got)
		}
	}
}

func TestKNNErrors(t *testing.T) {
	x := []float32{1, 0, 0, 1}
	y := []int32{0, 1}
	tests := []struct {
		name            string
		trainX, testX   []float32
		trainY, testY   []int32
		dim, classes, k int
		temp            float64
		want            string
	}{
		{"train label", x, x, []int32{0, 5}, y, 2, 2, 1, 0.1, "train label 5 at index 1"},
		{"test label", x, x, y, []int32{-1, 0}, 2, 2, 1, 0.1, "test label -1 at index 0"},
		{"dim mismatch", x, x[:3], y, y, 2, 2, 1, 0.1, "test features have 3 values"},
		{"NaN", x, []float32{1, 0, float32(math.Inf(1)), 1}, y, y, 2, 2, 1, 0.1, "test feature at row 1, column 0 is +Inf"},
		{"k", x, x, y, y, 2, 2, 0, 0.1, "k = 0"},
		{"temperature", x, x, y, y, 2, 2, 1, 0, "temperature 0"},
		{"dim", x, x, y, y, 0, 2, 1, 0.1, "dimension 0"},
		{"empty test", x, nil, y, nil, 2, 2, 1, 0.1, "test set is empty"},
	}
	for _, tc := range tests {
		_, err := KNN(tc.trainX, tc.trainY, tc.testX, tc.testY, tc.dim, tc.classes, tc.k, tc.temp)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.name, err, tc.want)
		}
	}
}

// TestTrainLinearAugmented: fresh features each epoch (as from augmented
// views) are used, epoch by epoch, and a shape change between epochs is an
// error naming the epoch.
func TestTrainLinearAugmented(t *testing.T) {
	const classes, dim = 5, 8
	allX, allY := clusters(3, classes, 60, dim, 1, 0)
	testX, testY := allX[40*classes*dim:], allY[40*classes:]
	var seen []int
	epochs := func(epoch int) ([]float32, []int32, error) {
		seen = append(seen, epoch)
		// A different noisy draw around the same centres every epoch.
		x, y := clusters(3, classes, 40+epoch, dim, 1, 0)
		return x[epoch*classes*dim:], y[epoch*classes:], nil
	}
	o := defaultOptions(classes)
	o.Epochs = 4
	res, err := TrainLinearAugmented(cpu.New(), epochs, testX, testY, dim, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 4 || seen[0] != 0 || seen[3] != 3 {
		t.Fatalf("epochs asked for: %v, want 0..3 once each", seen)
	}
	if res.Top1 < 95 || len(res.TrainLoss) != 4 {
		t.Fatalf("top-1 %.1f%%, %d epoch losses", res.Top1, len(res.TrainLoss))
	}
	bad := func(epoch int) ([]float32, []int32, error) {
		n := 40
		if epoch == 2 {
			n = 39
		}
		x, y := clusters(3, classes, n, dim, 1, 0)
		return x, y, nil
	}
	if _, err := TrainLinearAugmented(cpu.New(), bad, testX, testY, dim, o); err == nil || !strings.Contains(err.Error(), "epoch 3") {
		t.Fatalf("row-count change: err = %v, want one naming epoch 3", err)
	}
}
