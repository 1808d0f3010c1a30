package data

import (
	"context"
	"testing"
)

func BenchmarkSyntheticImage32(b *testing.B) {
	ds, err := Open(Spec{Format: "synthetic", Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		if _, err := ds.Image(i % ds.Len()); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkLoaderEpochSynthetic(b *testing.B) {
	ds, err := Open(Spec{Format: "synthetic", Seed: 1, SyntheticSize: 512})
	if err != nil {
		b.Fatal(err)
	}
	l, err := NewLoader(ds, jitterTransform{c: 3, s: 32, nanAt: -1}, LoaderOptions{BatchSize: 64, Views: 2, Shuffle: true})
	if err != nil {
		b.Fatal(err)
	}
	epoch := 0
	for b.Loop() {
		for _, err := range l.Epoch(context.Background(), epoch) {
			if err != nil {
				b.Fatal(err)
			}
		}
		epoch++
	}
	b.ReportMetric(float64(b.N*ds.Len())/b.Elapsed().Seconds(), "images/s")
}
