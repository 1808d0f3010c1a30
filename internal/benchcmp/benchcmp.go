// Package benchcmp measures an old and a new implementation side by side
// inside one Go benchmark, for the speed ladders of docs/benchmarks.md:
// the two alternate call by call (old new, new old, ...), so that a load
// change on a shared machine hits both alike, and the medians and their
// ratio are reported as benchmark metrics.
package benchcmp

import (
	"slices"
	"testing"
)

// Alternate runs old and new once per benchmark iteration, alternating
// which goes first, and reports the median of each as "old-UNIT" and
// "new-UNIT" and their ratio as "old/new" (> 1: new is faster). Each
// function returns the time its own call took, in unit ("ms", "ns").
func Alternate(b *testing.B, unit string, old, new func() float64) {
	b.Helper()
	var olds, news []float64
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			olds = append(olds, old())
			news = append(news, new())
		} else {
			news = append(news, new())
			olds = append(olds, old())
		}
	}
	mo, mn := Median(olds), Median(news)
	b.ReportMetric(mo, "old-"+unit)
	b.ReportMetric(mn, "new-"+unit)
	b.ReportMetric(mo/mn, "old/new")
}

// Median returns the median of v (the upper one of an even count), or 0
// for none. v is sorted in place.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[len(v)/2]
}
