package train

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"simclr/internal/backend"
	"simclr/internal/config"
	"simclr/internal/data"
	"simclr/internal/embedmap"
	"simclr/internal/export"
	"simclr/internal/model"
)

// ExportOptions are the command-line choices of an embedding export.
type ExportOptions struct {
	// Checkpoint is the encoder file (encoder.safetensors); "" only for a
	// dry run (then the configured model and normalisation stand in).
	Checkpoint string
	Layer      string // "backbone" (the encoder's features) or "projection" (the head's output)
	Format     string // "npy" | "csv"
	Out        string // NAME.npy or NAME.csv
	// Map, when set, is a PNG to draw the embeddings' 2-D PCA map to
	// (internal/embedmap); it is drawn before the embedding files are
	// moved into place.
	Map string
}

// ExportPlan is what an embedding export reads and builds, decided before a
// device is opened: --dry-run prints it, ExportJob.Run uses it.
type ExportPlan struct {
	Config *config.Config
	ExportOptions
	Meta model.EncoderMeta // the checkpoint's metadata
	// Model is the encoder and head the checkpoint holds (checkpointModel).
	Model model.Config
	// Input is data.split in order, centre crops at the checkpoint's image
	// size with its mean and std, batches of eval.probe_batch_size.
	Input *Input
	// Head is the training checkpoint beside the encoder that holds the
	// projection head (Layer "projection"); "" otherwise.
	Head string
	// ConfigOut is where the resolved configuration is written
	// (NAME.config.yaml).
	ConfigOut string
	Precision Precision // train.precision, applied to the backend by Run
}

// NewExportPlan reads the checkpoint's metadata and opens data.split.
// Warnings (skipped images) go to warn. Close it when done.
func NewExportPlan(cfg *config.Config, opts ExportOptions, warn io.Writer) (*ExportPlan, error) {
	p := &ExportPlan{Config: cfg, ExportOptions: opts}
	if err := p.build(warn); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *ExportPlan) build(warn io.Writer) error {
	cfg := p.Config
	var err error
	if p.Precision, err = newPrecision(cfg); err != nil {
		return err
	}
	if p.Checkpoint != "" {
		if p.Meta, err = model.ReadEncoderMeta(p.Checkpoint); err != nil {
			return fmt.Errorf("load --checkpoint: %w", err)
		}
		if p.Model, err = checkpointModel(cfg, p.Meta, p.Checkpoint); err != nil {
			return err
		}
		if p.Layer == "projection" {
			p.Head = filepath.Join(filepath.Dir(p.Checkpoint), CheckpointFile)
		}
	}
	p.ConfigOut = strings.TrimSuffix(p.Out, filepath.Ext(p.Out)) + ".config.yaml"
	spec := cfg.DataSpec()
	ds, err := openData(cfg, "export", spec, warn)
	if err != nil {
		return err
	}
	if p.Checkpoint == "" {
		p.Meta = configuredEncoder(cfg, ds.Channels())
		p.Model = cfg.ModelConfig(ds.Channels())
	} else if err := CheckEncoderFits(p.Meta, ds, cfg.Data.ImageSize, p.Checkpoint); err != nil {
		data.Close(ds)
		return err
	}
	m := p.Meta
	if p.Input, err = centreCropInput("export", spec, ds, m.ImageSize, m.Mean, m.Std, inOrder(cfg, cfg.Eval.ProbeBatchSize)); err != nil {
		data.Close(ds)
		return err
	}
	return nil
}

// Describe writes the output, the encoder, what is read and how, and the
// configuration.
func (p *ExportPlan) Describe(w io.Writer) error {
	fmt.Fprintf(w, "output: %s embeddings of the %s layer to %s (configuration to %s)\n", p.Format, p.Layer, p.Out, p.ConfigOut)
	from := p.Checkpoint
	if from == "" {
		from = "no --checkpoint given: the configured model stands in"
	}
	describeEncoder(w, p.Meta, from)
	describePrecision(w, p.Precision)
	if p.Head != "" {
		fmt.Fprintf(w, "projection head: from %s\n", p.Head)
	}
	if p.Map != "" {
		fmt.Fprintf(w, "map: PCA of the embeddings to %s\n", p.Map)
	}
	return describeInputs(w, p.Config, p.Input)
}

// Close releases the data set's open files.
func (p *ExportPlan) Close() error {
	return closeAll(p.Input)
}

// ExportJob writes the embeddings of a data set, streaming batch by batch.
type ExportJob struct {
	Plan    *ExportPlan
	Backend backend.Backend
	Log     io.Writer
	// Extra, when set, receives every batch too and is closed before the
	// files are moved into place (the embedding map: when it cannot be
	// drawn, no file appears). Run sets it from the plan's Map.
	Extra export.Writer
}

// ExportResult says what an export wrote.
type ExportResult struct {
	Images, Dim int
}

// embedder loads the encoder (and for the projection layer the head from
// the training checkpoint beside it).
func (p *ExportPlan) embedder(b backend.Backend) (*Embedder, error) {
	if p.Checkpoint == "" {
		return nil, fmt.Errorf("no encoder to export: pass --checkpoint (the encoder.safetensors of a pretrain run)")
	}
	enc, _, err := model.LoadEncoder(p.Checkpoint, b)
	if err != nil {
		return nil, fmt.Errorf("load --checkpoint: %w", err)
	}
	emb := &Embedder{Backend: b, Encoder: enc}
	if p.Head != "" {
		net, err := LoadSimCLR(p.Head, b, p.Model, p.Config.Seed)
		if err != nil {
			return nil, fmt.Errorf("--layer projection needs the projection head from %s: %w", p.Head, err)
		}
		emb.Encoder, emb.Projector = net.Encoder, net.Projector
	}
	return emb, nil
}

// Run writes the files and then the resolved configuration; on any error
// nothing is left at the embedding paths (an existing file of the same name
// survives).
func (j *ExportJob) Run(ctx context.Context) (*ExportResult, error) {
	p := j.Plan
	prec, err := p.Precision.Apply(j.Backend, j.Log)
	if err != nil {
		return nil, err
	}
	if j.Log != nil {
		fmt.Fprintf(j.Log, "matmul precision %s (train.precision %s)\n", prec, p.Precision.Setting)
	}
	emb, err := p.embedder(j.Backend)
	if err != nil {
		return nil, err
	}
	dim := emb.Dim()
	var w export.Writer
	switch p.Format {
	case "npy":
		w, err = export.NewNPY(p.Out, dim)
	case "csv":
		w, err = export.NewCSV(p.Out, dim)
	default:
		return nil, fmt.Errorf("--format %q: use npy or csv", p.Format)
	}
	if err != nil {
		return nil, err
	}
	ds := p.Input.Dataset
	if p.Map != "" && j.Extra == nil {
		opt := embedmap.Options{Classes: ds.Classes(), Subtitle: ds.Name() + ", " + p.Layer + " layer"}
		if j.Extra, err = embedmap.NewCollector(p.Map, dim, opt); err != nil {
			return nil, err
		}
	}
	if j.Extra != nil {
		w = export.Tee(j.Extra, w)
	}
	n := 0
	ids := make([]string, 0, 256)
	labels := make([]int64, 0, 256)
	err = emb.EachInput(ctx, p.Input, 0, func(batch *data.Batch, vecs []float32) error {
		ids, labels = ids[:0], labels[:0]
		for k := 0; k < batch.N; k++ {
			idx := batch.Indices[k]
			id := ds.ID(idx)
			if id == "" {
				id = strconv.Itoa(idx)
			}
			ids = append(ids, id)
			labels = append(labels, int64(batch.Labels[k]))
		}
		n += batch.N
		return w.Write(ids, vecs, labels)
	})
	if err != nil {
		w.Abort()
		return nil, err
	}
	if err := w.Close(); err != nil {
		w.Abort()
		return nil, err
	}
	if err := p.Config.WriteFile(p.ConfigOut); err != nil {
		return nil, err
	}
	return &ExportResult{Images: n, Dim: dim}, nil
}
