package train

import (
	"context"
	"fmt"
	"math"

	"simclr/internal/augment"
	"simclr/internal/backend"
	"simclr/internal/config"
	"simclr/internal/data"
	"simclr/internal/model"
	"simclr/internal/probe"
	"simclr/internal/tensor"
)

// Embedder runs a frozen encoder (BN in eval mode), optionally followed by
// the projection head, over a planned Input (EachInput: the jobs) or over a
// data set with the evaluation preprocessing that ImageSize, Mean, Std,
// BatchSize and Workers describe (Each).
type Embedder struct {
	Backend   backend.Backend
	Encoder   *model.ResNet
	Projector *model.Projector // nil: backbone features
	// Used by Each only: resize/centre-crop to ImageSize, [0,1], Mean/Std;
	// batches of BatchSize (256 when 0) decoded by Workers goroutines.
	ImageSize int
	Mean, Std []float64
	BatchSize int
	Workers   int
}

// Dim is the length of one embedding.
func (e *Embedder) Dim() int {
	if e.Projector != nil {
		return e.Projector.OutDim()
	}
	return e.Encoder.FeatureDim()
}

// Each streams the embeddings of ds in data-set order, one batch at a time,
// with the evaluation preprocessing of e (ImageSize, Mean, Std); vecs is
// [batch.N, Dim()] and is reused after fn returns.
func (e *Embedder) Each(ctx context.Context, ds data.Dataset, fn func(batch *data.Batch, vecs []float32) error) error {
	ev, err := augment.NewEval(e.ImageSize, ds.Channels(), e.Mean, e.Std)
	if err != nil {
		return fmt.Errorf("evaluation preprocessing: %w", err)
	}
	bs := e.BatchSize
	if bs <= 0 {
		bs = 256
	}
	in := &Input{Role: "features", Dataset: ds, Transform: ev, Options: data.LoaderOptions{BatchSize: bs, Views: 1, Workers: e.Workers}}
	return e.EachInput(ctx, in, 0, fn)
}

// EachInput streams the embeddings of the input's images with its
// transform and loader options (one view per image; random transforms draw
// from data.ViewRNG(seed, epoch, index, 0)), in the loader's order.
func (e *Embedder) EachInput(ctx context.Context, in *Input, epoch int, fn func(batch *data.Batch, vecs []float32) error) error {
	b := e.Backend
	ds := in.Dataset
	loader, err := in.NewLoader()
	if err != nil {
		return err
	}
	c, h, w := in.Transform.OutputShape()
	dim := e.Dim()
	var x *tensor.Tensor
	defer func() {
		if x != nil {
			b.Free(x)
		}
	}()
	vecs := make([]float32, in.Options.BatchSize*dim)
	for batch, err := range loader.Epoch(ctx, epoch) {
		if err != nil {
			return fmt.Errorf("read %s: %w", ds.Name(), err)
		}
		n := batch.N
		if x == nil || x.Dim(0) != n {
			if x != nil {
				b.Free(x)
			}
			if x, err = b.New(n, c, h, w); err != nil {
				return fmt.Errorf("allocate batch: %w", err)
			}
		}
		if err := b.Upload(x, batch.Views[0][:n*c*h*w]); err != nil {
			return fmt.Errorf("upload batch: %w", err)
		}
		out, err := e.Encoder.Forward(x, false)
		if err != nil {
			return fmt.Errorf("encoder forward: %w", err)
		}
		if e.Projector != nil {
			if out, err = e.Projector.Forward(out, false); err != nil {
				return fmt.Errorf("projection head forward: %w", err)
			}
		}
		if err := b.Download(vecs[:n*dim], out); err != nil {
			return fmt.Errorf("download embeddings: %w", err)
		}
		for i, v := range vecs[:n*dim] {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("embedding of %s image %s is not finite (%v): the checkpoint holds NaN/Inf weights", ds.Name(), ds.ID(batch.Indices[i/dim]), v)
			}
		}
		if err := fn(batch, vecs[:n*dim]); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Collect gathers every embedding and label of ds in memory (Each).
func (e *Embedder) Collect(ctx context.Context, ds data.Dataset) ([]float32, []int32, error) {
	feats, labels, collect := e.collector(ds)
	err := e.Each(ctx, ds, collect)
	return *feats, *labels, err
}

// CollectInput gathers the embeddings and labels of the input's images for
// the given epoch (EachInput).
func (e *Embedder) CollectInput(ctx context.Context, in *Input, epoch int) ([]float32, []int32, error) {
	feats, labels, collect := e.collector(in.Dataset)
	err := e.EachInput(ctx, in, epoch, collect)
	return *feats, *labels, err
}

func (e *Embedder) collector(ds data.Dataset) (*[]float32, *[]int32, func(*data.Batch, []float32) error) {
	feats := make([]float32, 0, ds.Len()*e.Dim())
	labels := make([]int32, 0, ds.Len())
	return &feats, &labels, func(batch *data.Batch, vecs []float32) error {
		feats = append(feats, vecs...)
		labels = append(labels, batch.Labels[:batch.N]...)
		return nil
	}
}

// knnAccuracy (a percentage) is the weighted kNN monitor (eval.knn_k
// neighbours, cosine, eval.knn_temperature) of the backbone features of the
// test input against the train input.
func knnAccuracy(ctx context.Context, b backend.Backend, enc *model.ResNet, train, test *Input, cfg *config.Config) (float64, error) {
	classes := len(train.Dataset.Classes())
	if classes == 0 {
		return 0, fmt.Errorf("kNN needs a labelled split; %s is unlabelled", train.Dataset.Name())
	}
	e := &Embedder{Backend: b, Encoder: enc}
	trX, trY, err := e.CollectInput(ctx, train, 0)
	if err != nil {
		return 0, err
	}
	teX, teY, err := e.CollectInput(ctx, test, 0)
	if err != nil {
		return 0, err
	}
	return probe.KNN(trX, trY, teX, teY, e.Dim(), classes, cfg.Eval.KNNK, cfg.Eval.KNNTemperature)
}
