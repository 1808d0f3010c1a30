// Package runlog records a training run as it goes: metrics.csv rows, the
// loss curve loss.png, and the progress shown on the terminal.
package runlog

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"

	"simclr/internal/atomicfile"
)

// MetricsHeader is the first line of metrics.csv.
var MetricsHeader = []string{"epoch", "step", "loss", "lr", "pairs_per_s", "seconds", "knn_top1"}

// Row is one line of metrics.csv. KNNTop1 is NaN when the kNN monitor did
// not run at that step (written as an empty field).
type Row struct {
	Epoch     int
	Step      int
	Loss      float64
	LR        float64
	PairsPerS float64
	Seconds   float64
	KNNTop1   float64
}

func (r Row) record() []string {
	knn := ""
	if !math.IsNaN(r.KNNTop1) {
		knn = strconv.FormatFloat(r.KNNTop1, 'f', 4, 64)
	}
	return []string{
		strconv.Itoa(r.Epoch),
		strconv.Itoa(r.Step),
		strconv.FormatFloat(r.Loss, 'g', 9, 64),
		strconv.FormatFloat(r.LR, 'g', 9, 64),
		strconv.FormatFloat(r.PairsPerS, 'f', 2, 64),
		strconv.FormatFloat(r.Seconds, 'f', 3, 64),
		knn,
	}
}

// Metrics appends rows to metrics.csv, flushing every row so the file is
// always readable while training runs.
type Metrics struct {
	path string
	f    *os.File
	w    *csv.Writer
	rows []Row
}

// OpenMetrics creates path with a header, or, when keepUpToStep >= 0 and the
// file exists (a resumed run), keeps its rows with step <= keepUpToStep and
// appends after them. Rows beyond the resumed step are dropped so a resumed
// run's file matches an uninterrupted run's.
func OpenMetrics(path string, keepUpToStep int) (*Metrics, error) {
	var kept []Row
	if keepUpToStep >= 0 {
		rows, err := ReadMetrics(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		for _, r := range rows {
			if r.Step <= keepUpToStep {
				kept = append(kept, r)
			}
		}
	}
	// The header and the kept rows replace the file atomically (a crash
	// here leaves the previous metrics.csv), then rows are appended to it.
	tmp, err := atomicfile.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create metrics file: %w", err)
	}
	defer tmp.Abort()
	cw := csv.NewWriter(tmp)
	if err := cw.Write(MetricsHeader); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	for _, r := range kept {
		if err := cw.Write(r.record()); err != nil {
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Commit(); err != nil {
		return nil, fmt.Errorf("metrics file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("open metrics file %s for appending: %w", path, err)
	}
	return &Metrics{path: path, f: f, w: csv.NewWriter(f), rows: kept}, nil
}

// Append writes one row and flushes it to disk.
func (m *Metrics) Append(r Row) error {
	if err := m.w.Write(r.record()); err != nil {
		return fmt.Errorf("append to %s: %w", m.path, err)
	}
	m.w.Flush()
	if err := m.w.Error(); err != nil {
		return fmt.Errorf("append to %s: %w", m.path, err)
	}
	m.rows = append(m.rows, r)
	return nil
}

// Rows returns every row written so far (including those kept on resume).
func (m *Metrics) Rows() []Row { return m.rows }

// Close flushes and closes the file.
func (m *Metrics) Close() error {
	m.w.Flush()
	if err := m.w.Error(); err != nil {
		m.f.Close()
		return fmt.Errorf("close %s: %w", m.path, err)
	}
	if err := m.f.Sync(); err != nil {
		m.f.Close()
		return fmt.Errorf("sync %s: %w", m.path, err)
	}
	return m.f.Close()
}

// ReadMetrics parses a metrics.csv written by Metrics.
func ReadMetrics(path string) ([]Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	defer f.Close()
	return parseMetrics(bufio.NewReader(f), path)
}

func parseMetrics(r io.Reader, path string) ([]Row, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(MetricsHeader)
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read metrics %s: header: %w", path, err)
	}
	for i, h := range MetricsHeader {
		if header[i] != h {
			return nil, fmt.Errorf("read metrics %s: column %d is %q, want %q", path, i+1, header[i], h)
		}
	}
	var rows []Row
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read metrics %s: %w", path, err)
		}
		var row Row
		var perr error
		num := func(s string) float64 {
			if s == "" {
				return math.NaN()
			}
			v, err := strconv.ParseFloat(s, 64)
			if err != nil && perr == nil {
				perr = err
			}
			return v
		}
		row.Epoch = int(num(rec[0]))
		row.Step = int(num(rec[1]))
		row.Loss = num(rec[2])
		row.LR = num(rec[3])
		row.PairsPerS = num(rec[4])
		row.Seconds = num(rec[5])
		row.KNNTop1 = num(rec[6])
		if perr != nil {
			return nil, fmt.Errorf("read metrics %s line %d: %w", path, line, perr)
		}
		rows = append(rows, row)
	}
}
