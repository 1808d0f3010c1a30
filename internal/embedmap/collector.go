package embedmap

import (
	"errors"
	"fmt"
	"math"
)

// errClosed is returned by Write and Close after Close or Abort.
var errClosed = errors.New("embedding map is already closed")

// Collector gathers embeddings batch by batch and draws their map on
// Close. It has the methods of export.Writer, so an export can feed it the
// rows it writes. It keeps every row in memory (N × dim float32) because
// the PCA needs them all.
type Collector struct {
	path   string
	dim    int
	opt    Options
	vecs   []float32
	labels []int64
	closed bool
}

// NewCollector returns a Collector whose Close writes the map to path.
func NewCollector(path string, dim int, opt Options) (*Collector, error) {
	if path == "" {
		return nil, fmt.Errorf("embedding map: empty output path; pass a file name such as map.png")
	}
	if dim < 2 {
		return nil, fmt.Errorf("embedding map %s: %d-dimensional embeddings; a 2-D map needs at least 2 dimensions", path, dim)
	}
	return &Collector{path: path, dim: dim, opt: opt}, nil
}

// Write keeps one row of vecs and one label per id.
func (c *Collector) Write(ids []string, vecs []float32, labels []int64) error {
	if c.closed {
		return fmt.Errorf("embedding map %s: %w", c.path, errClosed)
	}
	if len(vecs) != len(ids)*c.dim || len(labels) != len(ids) {
		return fmt.Errorf("embedding map %s: %d values and %d labels for %d ids of dimension %d", c.path, len(vecs), len(labels), len(ids), c.dim)
	}
	for i, v := range vecs {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("embedding map %s: embedding of %q has %v; the model produced non-finite features", c.path, ids[i/c.dim], v)
		}
	}
	c.vecs = append(c.vecs, vecs...)
	c.labels = append(c.labels, labels...)
	return nil
}

// Close draws the map of every row written and writes it atomically.
func (c *Collector) Close() error {
	if c.closed {
		return fmt.Errorf("embedding map %s: %w", c.path, errClosed)
	}
	c.closed = true
	err := Write(c.path, c.vecs, c.dim, c.labels, c.opt)
	c.vecs, c.labels = nil, nil
	return err
}

// Abort drops the rows; no file is written. It does nothing after Close.
func (c *Collector) Abort() {
	c.closed = true
	c.vecs, c.labels = nil, nil
}
