package train

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"simclr/internal/data"
	"simclr/internal/export"
)

// ExportJob writes the embeddings of a data set, streaming batch by batch.
type ExportJob struct {
	Embedder *Embedder
	Data     data.Dataset
	Out      string // NAME.npy or NAME.csv
	Format   string // "npy" | "csv"
	Log      io.Writer
	// Extra, when set, receives every batch too and is closed before the
	// files are moved into place (the embedding map: when it cannot be
	// drawn, no file appears).
	Extra export.Writer
}

// Run writes the files; on any error nothing is left at the output paths
// (an existing file of the same name survives).
func (j *ExportJob) Run(ctx context.Context) (int, error) {
	dim := j.Embedder.Dim()
	var w export.Writer
	var err error
	switch j.Format {
	case "npy":
		w, err = export.NewNPY(j.Out, dim)
	case "csv":
		w, err = export.NewCSV(j.Out, dim)
	default:
		return 0, fmt.Errorf("--format %q: use npy or csv", j.Format)
	}
	if err != nil {
		return 0, err
	}
	if j.Extra != nil {
		w = export.Tee(j.Extra, w)
	}
	n := 0
	ids := make([]string, 0, 256)
	labels := make([]int64, 0, 256)
	err = j.Embedder.Each(ctx, j.Data, func(batch *data.Batch, vecs []float32) error {
		ids, labels = ids[:0], labels[:0]
		for k := 0; k < batch.N; k++ {
			idx := batch.Indices[k]
			id := j.Data.ID(idx)
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
		return 0, err
	}
	if err := w.Close(); err != nil {
		w.Abort()
		return 0, err
	}
	return n, nil
}
