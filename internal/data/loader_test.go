package data

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// indexDataset is a test data set whose image i is a 1x1 gray pixel of value
// i%256 and whose label is i%3; it counts Image calls and can fail one index.
type indexDataset struct {
	n      int
	failAt int // -1: never
	calls  atomic.Int64
}

func (d *indexDataset) Name() string           { return "index/train" }
func (d *indexDataset) Len() int               { return d.n }
func (d *indexDataset) Label(i int) int        { return i % 3 }
func (d *indexDataset) ID(i int) string        { return fmt.Sprintf("img-%d", i) }
func (d *indexDataset) Classes() []string      { return []string{"a", "b", "c"} }
func (d *indexDataset) Channels() int          { return 1 }
func (d *indexDataset) NativeSize() (w, h int) { return 1, 1 }
func (d *indexDataset) Image(i int) (image.Image, error) {
	d.calls.Add(1)
	if i == d.failAt {
		return nil, errors.New("disk on fire")
	}
	g := image.NewGray(image.Rect(0, 0, 1, 1))
	g.SetGray(0, 0, color.Gray{uint8(i % 256)})
	return g, nil
}

// jitterTransform writes the mean gray level of the image plus uniform noise
// from rng into every element, so its output depends on both.
type jitterTransform struct {
	c, s  int
	nanAt int // image value (mean*255) for which to emit NaN; -1 never
	panic bool
}

func (t jitterTransform) OutputShape() (c, h, w int) { return t.c, t.s, t.s }
func (t jitterTransform) Apply(img image.Image, rng *rand.Rand, dst []float32) error {
	if len(dst) != t.c*t.s*t.s {
		return fmt.Errorf("dst has %d values, want %d", len(dst), t.c*t.s*t.s)
	}
	if t.panic {
		panic("boom")
	}
	b := img.Bounds()
	var sum float64
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			sum += float64(color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y)
		}
	}
	mean := sum / float64(b.Dx()*b.Dy())
	for k := range dst {
		dst[k] = float32(mean) + rng.Float32()
	}
	if int(mean) == t.nanAt {
		dst[len(dst)/2] = float32(math.NaN())
	}
	return nil
}

func newJitter() jitterTransform { return jitterTransform{c: 2, s: 3, nanAt: -1} }

func collect(t *testing.T, l *Loader, ctx context.Context, epoch int) []*Batch {
	t.Helper()
	var out []*Batch
	for b, err := range l.Epoch(ctx, epoch) {
		if err != nil {
			t.Fatalf("epoch %d: %v", epoch, err)
		}
		out = append(out, b)
	}
	return out
}

func TestLoaderBatchCounts(t *testing.T) {
	tests := []struct {
		n, batch  int
		dropLast  bool
		batches   int
		lastSize  int
		wantError bool
	}{
		{10, 3, false, 4, 1, false},
		{10, 3, true, 3, 3, false},
		{9, 3, false, 3, 3, false},
		{9, 3, true, 3, 3, false},
		{2, 3, false, 1, 2, false},
		{2, 3, true, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("n%d_b%d_drop%v", tc.n, tc.batch, tc.dropLast), func(t *testing.T) {
			ds := &indexDataset{n: tc.n, failAt: -1}
			l, err := NewLoader(ds, newJitter(), LoaderOptions{BatchSize: tc.batch, Views: 1, DropLast: tc.dropLast, Workers: 2})
			if tc.wantError {
				wantErr(t, err, "fewer than one batch", "drop_last")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if l.BatchesPerEpoch() != tc.batches {
				t.Errorf("BatchesPerEpoch %d, want %d", l.BatchesPerEpoch(), tc.batches)
			}
			got := collect(t, l, context.Background(), 0)
			if len(got) != tc.batches {
				t.Fatalf("%d batches, want %d", len(got), tc.batches)
			}
			last := got[len(got)-1]
			if last.N != tc.lastSize || len(last.Labels) != tc.lastSize || len(last.Views[0]) != tc.lastSize*2*3*3 {
				t.Errorf("last batch N %d labels %d view len %d, want %d images", last.N, len(last.Labels), len(last.Views[0]), tc.lastSize)
			}
		})
	}
}

func TestLoaderOptionErrors(t *testing.T) {
	ds := &indexDataset{n: 5, failAt: -1}
	tests := []struct {
		name string
		ds   Dataset
		tr   Transform
		opts LoaderOptions
		want string
	}{
		{"batch", ds, newJitter(), LoaderOptions{BatchSize: 0, Views: 1}, "batch size 0"},
		{"views", ds, newJitter(), LoaderOptions{BatchSize: 2, Views: 0}, "views 0"},
		{"no data set", nil, newJitter(), LoaderOptions{BatchSize: 2, Views: 1}, "no data set"},
		{"no transform", ds, nil, LoaderOptions{BatchSize: 2, Views: 1}, "no transform"},
		{"empty", &indexDataset{n: 0}, newJitter(), LoaderOptions{BatchSize: 2, Views: 1}, "no images"},
		{"shape", ds, jitterTransform{c: 0, s: 3}, LoaderOptions{BatchSize: 2, Views: 1}, "output shape"},
	}
	for _, tc := range tests {
		_, err := NewLoader(tc.ds, tc.tr, tc.opts)
		wantErr(t, err, tc.want)
	}
}

func TestLoaderEpochCoverageAndOrder(t *testing.T) {
	const n = 23
	ds := &indexDataset{n: n, failAt: -1}
	l, err := NewLoader(ds, newJitter(), LoaderOptions{BatchSize: 5, Views: 2, Shuffle: true, Seed: 42, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	orders := map[int][]int{}
	for _, epoch := range []int{0, 1, 0} {
		var order []int
		for k, b := range collect(t, l, context.Background(), epoch) {
			if b.Index != k || b.N != len(b.Indices) || len(b.Views) != 2 {
				t.Fatalf("batch %d: index %d N %d indices %d views %d", k, b.Index, b.N, len(b.Indices), len(b.Views))
			}
			for j, idx := range b.Indices {
				if b.Labels[j] != int32(idx%3) {
					t.Errorf("label of image %d = %d, want %d", idx, b.Labels[j], idx%3)
				}
				// Each value is idx%256 plus noise in [0,1).
				if v := b.Views[1][j*18+17]; v < float32(idx) || v >= float32(idx+1) {
					t.Errorf("view value %v of image %d out of [%d,%d)", v, idx, idx, idx+1)
				}
			}
			order = append(order, b.Indices...)
		}
		sorted := slices.Sorted(slices.Values(order))
		for i, v := range sorted {
			if v != i {
				t.Fatalf("epoch %d: indices %v are not each of 0..%d exactly once", epoch, order, n-1)
			}
		}
		if prev, ok := orders[epoch]; ok && !slices.Equal(prev, order) {
			t.Errorf("epoch %d gave two different orders", epoch)
		}
		orders[epoch] = order
	}
	if slices.Equal(orders[0], orders[1]) {
		t.Errorf("epochs 0 and 1 have the same order %v", orders[0])
	}
	if slices.IsSorted(orders[0]) {
		t.Errorf("shuffled order is sorted")
	}

	plain, _ := NewLoader(ds, newJitter(), LoaderOptions{BatchSize: 5, Views: 1, Workers: 3})
	var order []int
	for _, b := range collect(t, plain, context.Background(), 3) {
		order = append(order, b.Indices...)
	}
	if !slices.IsSorted(order) || len(order) != n {
		t.Errorf("unshuffled order %v", order)
	}
}

func TestLoaderWorkersIdentical(t *testing.T) {
	ds := mustOpen(t, Spec{Format: "synthetic", SyntheticSize: 45, SyntheticImageSize: 8, Seed: 5})
	run := func(workers int) []*Batch {
		l, err := NewLoader(ds, newJitter(), LoaderOptions{BatchSize: 8, Views: 2, Shuffle: true, Seed: 9, Workers: workers, Prefetch: 1})
		if err != nil {
			t.Fatal(err)
		}
		return collect(t, l, context.Background(), 2)
	}
	one, four := run(1), run(4)
	if len(one) != len(four) {
		t.Fatalf("%d vs %d batches", len(one), len(four))
	}
	for k := range one {
		a, b := one[k], four[k]
		if !slices.Equal(a.Indices, b.Indices) || !slices.Equal(a.Labels, b.Labels) {
			t.Fatalf("batch %d: indices or labels differ", k)
		}
		for v := range a.Views {
			if !slices.Equal(a.Views[v], b.Views[v]) {
				t.Fatalf("batch %d view %d differs between 1 and 4 workers", k, v)
			}
		}
		if slices.Equal(a.Views[0], a.Views[1]) {
			t.Errorf("batch %d: the two views are identical", k)
		}
	}
}

func TestViewRNG(t *testing.T) {
	draw := func(seed int64, e, i, v int) uint64 { return ViewRNG(seed, e, i, v).Uint64() }
	base := draw(1, 2, 3, 0)
	if draw(1, 2, 3, 0) != base {
		t.Error("ViewRNG is not deterministic")
	}
	for _, other := range []uint64{draw(2, 2, 3, 0), draw(1, 3, 3, 0), draw(1, 2, 4, 0), draw(1, 2, 3, 1), draw(1, 3, 2, 0)} {
		if other == base {
			t.Error("ViewRNG collides for different arguments")
		}
	}
}

func TestLoaderErrors(t *testing.T) {
	tests := []struct {
		name string
		ds   *indexDataset
		tr   jitterTransform
		want []string
	}{
		{"image error", &indexDataset{n: 40, failAt: 13}, newJitter(), []string{"img-13", "index 13", "disk on fire"}},
		{"nan", &indexDataset{n: 40, failAt: -1}, jitterTransform{c: 2, s: 3, nanAt: 21}, []string{"img-21", "NaN"}},
		{"panic", &indexDataset{n: 40, failAt: -1}, jitterTransform{c: 2, s: 3, nanAt: -1, panic: true}, []string{"img-0", "panic: boom"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := NewLoader(tc.ds, tc.tr, LoaderOptions{BatchSize: 4, Views: 2, Workers: 3})
			if err != nil {
				t.Fatal(err)
			}
			before := runtime.NumGoroutine()
			good, errs := 0, 0
			for b, err := range l.Epoch(context.Background(), 0) {
				if err != nil {
					errs++
					wantErr(t, err, tc.want...)
					continue
				}
				good++
				if b == nil {
					t.Fatal("nil batch without error")
				}
			}
			if errs != 1 {
				t.Errorf("%d errors, want exactly 1 then the end of the epoch", errs)
			}
			if tc.ds.failAt >= 0 && good != tc.ds.failAt/4 {
				t.Errorf("%d good batches before the failure, want %d", good, tc.ds.failAt/4)
			}
			waitGoroutines(t, before)
		})
	}
}

// waitGoroutines fails if the goroutine count does not drop back to n.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left running, want at most %d", runtime.NumGoroutine(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLoaderCancel(t *testing.T) {
	ds := &indexDataset{n: 1000, failAt: -1}
	l, err := NewLoader(ds, newJitter(), LoaderOptions{BatchSize: 10, Views: 2, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got []int
	var last error
	for b, err := range l.Epoch(ctx, 0) {
		if err != nil {
			last = err
			break
		}
		got = append(got, b.Index)
		if b.Index == 2 {
			cancel()
		}
	}
	if !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("batches %v after cancelling at batch 2", got)
	}
	if !errors.Is(last, context.Canceled) {
		t.Errorf("error after cancel = %v, want context.Canceled", last)
	}
	waitGoroutines(t, before)
	if calls := ds.calls.Load(); calls >= 1000 {
		t.Errorf("all %d images were decoded despite the cancel", calls)
	}

	// Breaking out of the loop also stops the workers.
	for b, err := range l.Epoch(context.Background(), 1) {
		if err != nil || b.Index == 1 {
			break
		}
	}
	waitGoroutines(t, before)

	// A context cancelled up front yields only the error.
	done, cancelNow := context.WithCancel(context.Background())
	cancelNow()
	for b, err := range l.Epoch(done, 0) {
		if b != nil || !errors.Is(err, context.Canceled) {
			t.Errorf("pre-cancelled epoch gave batch %v, error %v", b, err)
		}
	}
	waitGoroutines(t, before)
}

// TestLoaderBoundedMemory checks that while the caller holds the first
// batch, the workers fill Prefetch+1 more and stop there.
func TestLoaderBoundedMemory(t *testing.T) {
	for _, prefetch := range []int{1, 3} {
		ds := &indexDataset{n: 10000, failAt: -1}
		const batch = 16
		l, err := NewLoader(ds, newJitter(), LoaderOptions{BatchSize: batch, Views: 1, Workers: 4, Prefetch: prefetch})
		if err != nil {
			t.Fatal(err)
		}
		for b, err := range l.Epoch(context.Background(), 0) {
			if err != nil {
				t.Fatal(err)
			}
			if b.Index == 0 {
				// The workers should fill exactly the Prefetch+1 batches
				// after this one, and no more.
				limit := int64((prefetch + 2) * batch)
				deadline := time.Now().Add(3 * time.Second)
				for ds.calls.Load() < limit && time.Now().Before(deadline) {
					time.Sleep(2 * time.Millisecond)
				}
				time.Sleep(50 * time.Millisecond) // room to overshoot, were it allowed
				if calls := ds.calls.Load(); calls != limit {
					t.Errorf("prefetch %d: %d images decoded while holding batch 0, want %d", prefetch, calls, limit)
				}
			}
			if b.Index == 5 {
				break
			}
		}
	}
}

// TestLoaderShardsCoverBatch: the shards of 3 ranks (batches of 8 and a
// last one of 5 split unevenly) concatenate, view by view, to the unsharded
// batches bit for bit, and the batch counts agree.
func TestLoaderShardsCoverBatch(t *testing.T) {
	ds := mustOpen(t, Spec{Format: "synthetic", SyntheticSize: 21, SyntheticImageSize: 8, Seed: 5})
	opts := LoaderOptions{BatchSize: 8, Views: 2, Shuffle: true, Seed: 9, Workers: 2}
	whole, err := NewLoader(ds, newJitter(), opts)
	if err != nil {
		t.Fatal(err)
	}
	want := collect(t, whole, context.Background(), 1)
	const ranks = 3
	var shards [ranks][]*Batch
	for r := range ranks {
		o := opts
		o.Shard, o.Shards = r, ranks
		l, err := NewLoader(ds, newJitter(), o)
		if err != nil {
			t.Fatal(err)
		}
		if l.BatchesPerEpoch() != whole.BatchesPerEpoch() {
			t.Fatalf("shard %d: %d batches per epoch, want %d", r, l.BatchesPerEpoch(), whole.BatchesPerEpoch())
		}
		shards[r] = collect(t, l, context.Background(), 1)
	}
	for k, w := range want {
		var idx []int
		views := make([][]float32, 2)
		for r := range ranks {
			s := shards[r][k]
			if s.GlobalN != w.N {
				t.Fatalf("batch %d shard %d: GlobalN %d, want %d", k, r, s.GlobalN, w.N)
			}
			idx = append(idx, s.Indices...)
			for v := range views {
				views[v] = append(views[v], s.Views[v]...)
			}
		}
		if !slices.Equal(idx, w.Indices) {
			t.Fatalf("batch %d: shards hold %v, the whole batch %v", k, idx, w.Indices)
		}
		for v := range views {
			if !slices.Equal(views[v], w.Views[v]) {
				t.Fatalf("batch %d view %d: the shards' views differ from the unsharded batch's", k, v)
			}
		}
	}
	if _, err := NewLoader(ds, newJitter(), LoaderOptions{BatchSize: 8, Views: 2, Shard: 3, Shards: 3}); err == nil {
		t.Error("shard 3 of 3 accepted")
	}
}
