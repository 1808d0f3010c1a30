package data

import (
	"context"
	"errors"
	"fmt"
	"image"
	"iter"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
)

// Transform turns an image into float32 CHW values (len = C*S*S) in dst
// using only rng for randomness.
type Transform interface {
	Apply(img image.Image, rng *rand.Rand, dst []float32) error // math/rand/v2
	OutputShape() (c, h, w int)
}

// LoaderOptions configures a Loader.
type LoaderOptions struct {
	BatchSize int
	Views     int   // 2 for pretraining (two augmented views), 1 for eval/export
	DropLast  bool  // drop the final partial batch
	Shuffle   bool  // new permutation each epoch from (Seed, epoch)
	Seed      int64 // seeds the shuffle and, through ViewRNG, every view
	Workers   int   // goroutines decoding/augmenting; <=0 means runtime.GOMAXPROCS(0)
	Prefetch  int   // batches buffered ahead (bounded memory); <=0 means 2
	// Shards > 1 splits every batch among the ranks of a data-parallel job:
	// a batch then holds only this rank's part of the global batch of
	// BatchSize images, the contiguous block Shard*n/Shards up to
	// (Shard+1)*n/Shards of its n images (dist.ShardRange). Views are those
	// of the unsplit batch: ViewRNG depends on the image, not the batch.
	Shard, Shards int
}

// Batch is one batch of images, each transformed into Views views.
type Batch struct {
	Index   int         // batch number within the epoch
	Views   [][]float32 // Views[v] is [N,C,H,W] flattened, v < Views
	Labels  []int32     // len N (Unlabelled where none)
	Indices []int       // data-set indices of the N images
	N       int
	GlobalN int // images of the whole batch over all shards (N unless sharded)
}

// Loader streams a data set as batches of transformed views. Worker
// goroutines fill the batches; they are delivered in order. At most
// Prefetch+2 batches exist at once (the one the caller holds, up to Prefetch
// finished ones waiting, and the one being filled), whatever the data set
// size. Each view of each image is transformed with ViewRNG(Seed, epoch,
// index, view), so the output does not depend on Workers.
type Loader struct {
	ds              Dataset
	t               Transform
	opts            LoaderOptions
	c, h, w         int
	perImage        int
	batchesPerEpoch int
}

// NewLoader checks the options against the data set and transform.
func NewLoader(ds Dataset, t Transform, opts LoaderOptions) (*Loader, error) {
	if ds == nil {
		return nil, errors.New("data loader: no data set")
	}
	if t == nil {
		return nil, errors.New("data loader: no transform")
	}
	if opts.BatchSize <= 0 {
		return nil, fmt.Errorf("data loader: batch size %d must be positive", opts.BatchSize)
	}
	if opts.Views <= 0 {
		return nil, fmt.Errorf("data loader: views %d must be positive (2 for pretraining, 1 for evaluation)", opts.Views)
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Prefetch <= 0 {
		opts.Prefetch = 2
	}
	if opts.Shards <= 0 {
		opts.Shards = 1
	}
	if opts.Shard < 0 || opts.Shard >= opts.Shards {
		return nil, fmt.Errorf("data loader: shard %d outside [0, %d)", opts.Shard, opts.Shards)
	}
	c, h, w := t.OutputShape()
	if c <= 0 || h <= 0 || w <= 0 {
		return nil, fmt.Errorf("data loader: transform output shape %dx%dx%d must be positive", c, h, w)
	}
	n := ds.Len()
	if n <= 0 {
		return nil, fmt.Errorf("data loader: data set %s has no images", ds.Name())
	}
	l := &Loader{ds: ds, t: t, opts: opts, c: c, h: h, w: w, perImage: c * h * w}
	l.batchesPerEpoch = n / opts.BatchSize
	if !opts.DropLast && n%opts.BatchSize != 0 {
		l.batchesPerEpoch++
	}
	if l.batchesPerEpoch == 0 {
		return nil, fmt.Errorf("data loader: data set %s has %d images, fewer than one batch of %d with drop_last; lower the batch size or turn off drop_last",
			ds.Name(), n, opts.BatchSize)
	}
	return l, nil
}

// BatchesPerEpoch is the number of batches Epoch yields.
func (l *Loader) BatchesPerEpoch() int { return l.batchesPerEpoch }

// order returns the data-set indices of one epoch in visiting order.
func (l *Loader) order(epoch int) []int {
	n := l.ds.Len()
	if l.opts.Shuffle {
		return shuffleRNG(l.opts.Seed, epoch).Perm(n)
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// pending is a batch being filled.
type pending struct {
	batch *Batch
	left  atomic.Int32 // images still to fill
	done  chan struct{}
	mu    sync.Mutex
	errAt int // position of the first failed image, -1 when none
	err   error
}

func (p *pending) fail(pos int, err error) {
	p.mu.Lock()
	if p.errAt < 0 || pos < p.errAt {
		p.errAt, p.err = pos, err
	}
	p.mu.Unlock()
}

// job is one image of a batch.
type job struct {
	p   *pending
	pos int
}

// Epoch streams the batches of one epoch in order; stops early when ctx is
// cancelled (yielding ctx's error) or after the first error from the data
// set or transform (which names the image). Breaking out of the loop stops
// the workers; no goroutine outlives the iteration.
func (l *Loader) Epoch(ctx context.Context, epoch int) iter.Seq2[*Batch, error] {
	return func(yield func(*Batch, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer wg.Wait()
		defer cancel()

		order := l.order(epoch)
		nb := l.batchesPerEpoch
		B := l.opts.BatchSize
		slots := make(chan struct{}, l.opts.Prefetch+2) // one token per live batch
		queue := make(chan *pending, l.opts.Prefetch+2) // batches in epoch order
		jobs := make(chan job)

		wg.Go(func() { // dispatcher: allocate batches in order, hand out their images
			defer close(jobs)
			defer close(queue)
			for b := range nb {
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					return
				}
				global := min(B, len(order)-b*B)
				lo, hi := l.opts.Shard*global/l.opts.Shards, (l.opts.Shard+1)*global/l.opts.Shards
				n := hi - lo
				p := &pending{done: make(chan struct{}), errAt: -1}
				p.batch = &Batch{
					Index:   b,
					Views:   make([][]float32, l.opts.Views),
					Labels:  make([]int32, n),
					Indices: order[b*B+lo : b*B+hi : b*B+hi],
					N:       n,
					GlobalN: global,
				}
				for v := range p.batch.Views {
					p.batch.Views[v] = make([]float32, n*l.perImage)
				}
				p.left.Store(int32(n))
				if n == 0 { // an empty shard (fewer images than ranks)
					close(p.done)
				}
				queue <- p // never blocks: capacity equals the number of slots
				for pos := range n {
					select {
					case jobs <- job{p, pos}:
					case <-ctx.Done():
						return
					}
				}
			}
		})
		for range l.opts.Workers {
			wg.Go(func() {
				for j := range jobs {
					if ctx.Err() != nil {
						continue // drain quickly; the epoch is over
					}
					if err := l.fill(epoch, j.p.batch, j.pos); err != nil {
						j.p.fail(j.pos, err)
					}
					if j.p.left.Add(-1) == 0 {
						close(j.p.done)
					}
				}
			})
		}

		for b := 0; b < nb; b++ {
			var p *pending
			if ctx.Err() == nil {
				select {
				case p = <-queue:
				case <-ctx.Done():
				}
			}
			if p != nil {
				select {
				case <-p.done:
				case <-ctx.Done():
					p = nil
				}
			}
			if p == nil {
				yield(nil, fmt.Errorf("data loader: %s epoch %d stopped at batch %d of %d: %w", l.ds.Name(), epoch, b, nb, context.Cause(ctx)))
				return
			}
			if p.err != nil {
				yield(nil, p.err)
				return
			}
			if !yield(p.batch, nil) {
				return
			}
			<-slots
		}
	}
}

// fill decodes the image at position pos of the batch and writes its views.
// A panic in the data set or transform becomes an error.
func (l *Loader) fill(epoch int, b *Batch, pos int) (err error) {
	idx := b.Indices[pos]
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("data loader: %s image %s (index %d): panic: %v", l.ds.Name(), l.ds.ID(idx), idx, r)
		}
	}()
	img, err := l.ds.Image(idx)
	if err != nil {
		return fmt.Errorf("data loader: %s image %s (index %d): %w", l.ds.Name(), l.ds.ID(idx), idx, err)
	}
	b.Labels[pos] = int32(l.ds.Label(idx))
	for v := range b.Views {
		dst := b.Views[v][pos*l.perImage : (pos+1)*l.perImage]
		if err := l.t.Apply(img, ViewRNG(l.opts.Seed, epoch, idx, v), dst); err != nil {
			return fmt.Errorf("data loader: %s image %s (index %d) view %d: transform: %w", l.ds.Name(), l.ds.ID(idx), idx, v, err)
		}
		for k, x := range dst {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("data loader: %s image %s (index %d) view %d: transform produced %v at element %d; check the normalisation settings",
					l.ds.Name(), l.ds.ID(idx), idx, v, x, k)
			}
		}
	}
	return nil
}
