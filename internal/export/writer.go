package export

import (
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"simclr/internal/atomicfile"
)

// Writer streams embeddings to disk.
type Writer interface {
	// Write appends one row per id: vecs holds len(ids) rows of the
	// writer's dimension, labels one label per id (-1 for unlabelled
	// data). A batch with a wrong length, a NaN/Inf value or (for NPY) an
	// id containing a line break is rejected whole.
	Write(ids []string, vecs []float32, labels []int64) error
	// Close completes the files and moves them into place.
	Close() error
	// Abort removes the temporary files; the final files are untouched.
	// It is safe to call after Close (then it does nothing).
	Abort()
}

// ErrClosed is returned by Write and Close on a writer that was already
// closed or aborted.
var ErrClosed = errors.New("embedding writer is already closed")

// checkBatch validates one Write call.
func checkBatch(kind string, dim int, ids []string, vecs []float32, labels []int64, lineIDs bool) error {
	n := len(ids)
	if len(vecs) != n*dim {
		return fmt.Errorf("%s write: %d values for %d ids of dimension %d, want %d", kind, len(vecs), n, dim, n*dim)
	}
	if len(labels) != n {
		return fmt.Errorf("%s write: %d labels for %d ids; pass one label per id (-1 when unknown)", kind, len(labels), n)
	}
	for i, v := range vecs {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%s write: embedding of %q (row %d of the batch) has %v at column %d; the model produced non-finite features", kind, ids[i/dim], i/dim, v, i%dim)
		}
	}
	if lineIDs {
		for i, id := range ids {
			if strings.ContainsAny(id, "\r\n") {
				return fmt.Errorf("%s write: id %q (row %d of the batch) contains a line break, which ids.txt cannot hold", kind, id, i)
			}
		}
	}
	return nil
}

// npyWriter writes NAME.npy, NAME.labels.npy and NAME.ids.txt.
type npyWriter struct {
	dim              int
	vecs, labs, idsF *atomicfile.File
	rows             int
	buf              []byte
	err              error // sticky I/O error
	closed           bool
}

// NewNPY returns a Writer of three files sharing the name NAME (path with
// any ".npy" suffix removed): NAME.npy, float32 [N, dim]; NAME.labels.npy,
// int64 [N]; NAME.ids.txt, one id per line. The .npy headers are NumPy's
// v1.0 format with room for any N, patched with the final N on Close.
func NewNPY(path string, dim int) (Writer, error) {
	if dim < 1 {
		return nil, fmt.Errorf("npy writer %s: dimension %d must be >= 1", path, dim)
	}
	if path == "" {
		return nil, fmt.Errorf("npy writer: empty output path; pass a file name such as embeddings.npy")
	}
	name := strings.TrimSuffix(path, ".npy")
	w := &npyWriter{dim: dim}
	var err error
	if w.vecs, err = atomicfile.Create(name + ".npy"); err != nil {
		return nil, fmt.Errorf("npy writer: %w", err)
	}
	if w.labs, err = atomicfile.Create(name + ".labels.npy"); err != nil {
		w.vecs.Abort()
		return nil, fmt.Errorf("npy writer: %w", err)
	}
	if w.idsF, err = atomicfile.Create(name + ".ids.txt"); err != nil {
		w.vecs.Abort()
		w.labs.Abort()
		return nil, fmt.Errorf("npy writer: %w", err)
	}
	// Headers for N = 0 have the same length as for any later N.
	if _, err := w.vecs.Write(npyHeader("<f4", []int{0, dim})); err != nil {
		w.Abort()
		return nil, fmt.Errorf("npy writer: %w", err)
	}
	if _, err := w.labs.Write(npyHeader("<i8", []int{0})); err != nil {
		w.Abort()
		return nil, fmt.Errorf("npy writer: %w", err)
	}
	return w, nil
}

func (w *npyWriter) Write(ids []string, vecs []float32, labels []int64) error {
	if w.closed {
		return fmt.Errorf("npy write %s: %w", w.vecs.Name(), ErrClosed)
	}
	if w.err != nil {
		return w.err
	}
	if err := checkBatch("npy "+w.vecs.Name(), w.dim, ids, vecs, labels, true); err != nil {
		return err
	}
	w.buf = w.buf[:0]
	for _, v := range vecs {
		w.buf = binary.LittleEndian.AppendUint32(w.buf, math.Float32bits(v))
	}
	if _, err := w.vecs.Write(w.buf); err != nil {
		w.err = fmt.Errorf("npy write %s: %w", w.vecs.Name(), err)
		return w.err
	}
	w.buf = w.buf[:0]
	for _, l := range labels {
		w.buf = binary.LittleEndian.AppendUint64(w.buf, uint64(l))
	}
	if _, err := w.labs.Write(w.buf); err != nil {
		w.err = fmt.Errorf("npy write %s: %w", w.labs.Name(), err)
		return w.err
	}
	for _, id := range ids {
		if _, err := w.idsF.WriteString(id + "\n"); err != nil {
			w.err = fmt.Errorf("npy write %s: %w", w.idsF.Name(), err)
			return w.err
		}
	}
	w.rows += len(ids)
	return nil
}

func (w *npyWriter) Close() error {
	if w.closed {
		return fmt.Errorf("npy close %s: %w", w.vecs.Name(), ErrClosed)
	}
	if w.err != nil {
		w.Abort()
		return w.err
	}
	w.closed = true
	for _, fix := range []struct {
		t   *atomicfile.File
		hdr []byte
	}{
		{w.vecs, npyHeader("<f4", []int{w.rows, w.dim})},
		{w.labs, npyHeader("<i8", []int{w.rows})},
	} {
		if _, err := fix.t.WriteAt(fix.hdr, 0); err != nil {
			w.removeAll()
			return fmt.Errorf("npy close %s: write header: %w", fix.t.Name(), err)
		}
	}
	if err := atomicfile.CommitAll(w.vecs, w.labs, w.idsF); err != nil {
		return fmt.Errorf("npy close: %w", err)
	}
	return nil
}

func (w *npyWriter) removeAll() {
	w.vecs.Abort()
	w.labs.Abort()
	w.idsF.Abort()
}

func (w *npyWriter) Abort() {
	if w.closed {
		return
	}
	w.closed = true
	w.removeAll()
}

// csvWriter writes one CSV file.
type csvWriter struct {
	dim    int
	t      *atomicfile.File
	cw     *csv.Writer
	rec    []string
	err    error
	closed bool
}

// NewCSV returns a Writer of one CSV file at path with the header
// filenames,embedding_0,...,embedding_{dim-1},labels and one row per id.
// Values use the shortest decimal form that reads back as the same float32.
func NewCSV(path string, dim int) (Writer, error) {
	if dim < 1 {
		return nil, fmt.Errorf("csv writer %s: dimension %d must be >= 1", path, dim)
	}
	if path == "" {
		return nil, fmt.Errorf("csv writer: empty output path; pass a file name such as embeddings.csv")
	}
	t, err := atomicfile.Create(path)
	if err != nil {
		return nil, fmt.Errorf("csv writer: %w", err)
	}
	w := &csvWriter{dim: dim, t: t, cw: csv.NewWriter(t), rec: make([]string, dim+2)}
	w.rec[0] = "filenames"
	for j := 0; j < dim; j++ {
		w.rec[j+1] = "embedding_" + strconv.Itoa(j)
	}
	w.rec[dim+1] = "labels"
	if err := w.cw.Write(w.rec); err != nil {
		w.Abort()
		return nil, fmt.Errorf("csv writer %s: %w", path, err)
	}
	return w, nil
}

func (w *csvWriter) Write(ids []string, vecs []float32, labels []int64) error {
	if w.closed {
		return fmt.Errorf("csv write %s: %w", w.t.Name(), ErrClosed)
	}
	if w.err != nil {
		return w.err
	}
	if err := checkBatch("csv "+w.t.Name(), w.dim, ids, vecs, labels, false); err != nil {
		return err
	}
	for i, id := range ids {
		w.rec[0] = id
		for j, v := range vecs[i*w.dim : (i+1)*w.dim] {
			w.rec[j+1] = strconv.FormatFloat(float64(v), 'g', -1, 32)
		}
		w.rec[w.dim+1] = strconv.FormatInt(labels[i], 10)
		if err := w.cw.Write(w.rec); err != nil {
			w.err = fmt.Errorf("csv write %s: %w", w.t.Name(), err)
			return w.err
		}
	}
	return nil
}

func (w *csvWriter) Close() error {
	if w.closed {
		return fmt.Errorf("csv close %s: %w", w.t.Name(), ErrClosed)
	}
	if w.err != nil {
		w.Abort()
		return w.err
	}
	w.closed = true
	w.cw.Flush()
	if err := w.cw.Error(); err != nil {
		w.t.Abort()
		return fmt.Errorf("csv close %s: %w", w.t.Name(), err)
	}
	if err := w.t.Commit(); err != nil {
		return fmt.Errorf("csv close: %w", err)
	}
	return nil
}

func (w *csvWriter) Abort() {
	if w.closed {
		return
	}
	w.closed = true
	w.t.Abort()
}
