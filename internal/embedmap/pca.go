// Package embedmap draws a 2-D map of embeddings: a principal component
// analysis (PCA) projects them onto their two directions of largest
// variance, and a scatter plot colours each point by its label.
//
// The PCA is the textbook one: the data are centred, their sample
// covariance (divided by N-1) is eigen-decomposed (gonum's symmetric
// eigensolver) and the eigenvectors of the largest eigenvalues are the
// components, each with the sign that makes its largest-magnitude
// coordinate positive, so the map does not flip from run to run.
package embedmap

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// PCA is a fitted principal component analysis.
type PCA struct {
	// Mean is the mean of the data, one value per dimension.
	Mean []float64
	// Components are the unit principal axes, largest variance first.
	Components [][]float64
	// Variance is the variance of the data along each component (the
	// covariance's eigenvalue).
	Variance []float64
	// TotalVariance is the sum of the variances along every dimension
	// (the covariance's trace).
	TotalVariance float64
}

// covChunk is the number of rows centred at once while the covariance is
// accumulated, bounding the float64 working copy.
const covChunk = 2048

// FitPCA finds the k leading principal components of n rows of dimension
// dim stored row after row in x.
func FitPCA(x []float32, n, dim, k int) (*PCA, error) {
	switch {
	case dim < 1 || k < 1:
		return nil, fmt.Errorf("pca: dimension %d and component count %d must be >= 1", dim, k)
	case k > dim:
		return nil, fmt.Errorf("pca: %d components asked of %d-dimensional data; ask for at most %d", k, dim, dim)
	case len(x) != n*dim:
		return nil, fmt.Errorf("pca: %d values for %d rows of dimension %d, want %d", len(x), n, dim, n*dim)
	case n < 2:
		return nil, fmt.Errorf("pca: %d embeddings; a variance needs at least 2 (check data.limit and data.split)", n)
	}
	mean := make([]float64, dim)
	for i := 0; i < n; i++ {
		for j, v := range x[i*dim : (i+1)*dim] {
			mean[j] += float64(v)
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	// Covariance = sum over chunks of Xc^T Xc / (n-1), with Xc the centred
	// rows of the chunk.
	cov := mat.NewSymDense(dim, nil)
	buf := make([]float64, min(covChunk, n)*dim)
	for start := 0; start < n; start += covChunk {
		m := min(covChunk, n-start)
		c := buf[:m*dim]
		for i := range m {
			row := x[(start+i)*dim : (start+i+1)*dim]
			for j, v := range row {
				c[i*dim+j] = float64(v) - mean[j]
			}
		}
		cov.SymRankK(cov, 1/float64(n-1), mat.NewDense(m, dim, c).T())
	}
	total := 0.0
	for j := range dim {
		total += cov.At(j, j)
	}
	if !(total > 0) || math.IsInf(total, 0) {
		return nil, fmt.Errorf("pca: the %d embeddings have total variance %g; they are all the same point (a collapsed encoder?) and a map would show one dot", n, total)
	}

	var eig mat.EigenSym
	if !eig.Factorize(cov, true) {
		return nil, errors.New("pca: the eigen-decomposition of the covariance did not converge")
	}
	values := eig.Values(nil) // ascending
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	p := &PCA{Mean: mean, TotalVariance: total}
	for c := range k {
		col := dim - 1 - c
		v := make([]float64, dim)
		mat.Col(v, col, &vecs)
		orient(v)
		p.Components = append(p.Components, v)
		p.Variance = append(p.Variance, max(values[col], 0)) // rounding can make a zero eigenvalue slightly negative
	}
	return p, nil
}

// orient flips v so that its largest-magnitude coordinate (the first of
// equal ones) is positive.
func orient(v []float64) {
	best := 0
	for i, a := range v {
		if math.Abs(a) > math.Abs(v[best]) {
			best = i
		}
	}
	if v[best] < 0 {
		for i := range v {
			v[i] = -v[i]
		}
	}
}

// ExplainedRatio is the fraction of the total variance along component c.
func (p *PCA) ExplainedRatio(c int) float64 {
	return p.Variance[c] / p.TotalVariance
}

// Project returns the coordinates of the rows of x (row after row, the
// fitted dimension) on the components: n rows of len(p.Components) values.
func (p *PCA) Project(x []float32) [][]float64 {
	dim := len(p.Mean)
	n := len(x) / dim
	out := make([][]float64, n)
	for i := range n {
		row := x[i*dim : (i+1)*dim]
		coords := make([]float64, len(p.Components))
		for c, comp := range p.Components {
			s := 0.0
			for j, v := range row {
				s += (float64(v) - p.Mean[j]) * comp[j]
			}
			coords[c] = s
		}
		out[i] = coords
	}
	return out
}
