package train

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"simclr/internal/backend/cpu"
	"simclr/internal/dist"
)

// TestOverlapBitIdentical: the gradient all-reduce in buckets overlapping
// the backward pass (each bucket on its own goroutine, sync BN's
// all-reduces chained behind them) trains 2 and 3 in-process ranks to the
// same losses and final weights, bit for bit, as one all-reduce after the
// backward, with and without sync BN (which interleaves its collectives
// with the buckets).
func TestOverlapBitIdentical(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end training")
	}
	root := t.TempDir()
	for _, syncBN := range []string{"true", "false"} {
		cfg := equivConfig(t, "model.sync_bn="+syncBN)
		for _, n := range []int{2, 3} {
			dirs := map[bool]string{}
			for _, overlap := range []bool{false, true} {
				out := filepath.Join(root, fmt.Sprintf("bn%s-ranks%d-overlap%v", syncBN, n, overlap))
				dirs[overlap] = out
				err := inProcess(n, func(c dist.Comm) error {
					b := cpu.New()
					defer b.Close()
					job := &PretrainJob{Plan: pretrainPlan(t, cfg), Backend: b, Out: out,
						Dist: &Distributed{Comm: c, SyncBN: cfg.Model.SyncBN, Overlap: overlap}}
					_, err := job.Run(context.Background())
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			d := compareRuns(t, dirs[false], dirs[true])
			t.Logf("sync BN %s, %d ranks, overlapped vs not: %v", syncBN, n, d)
			if d.steps < 5 || d.lossRel != 0 || d.bitSame != d.tensors {
				t.Errorf("sync BN %s, %d ranks: overlapping the all-reduce changed the run: %v", syncBN, n, d)
			}
		}
	}
}

// TestGradBucketsCoverage: a step whose buckets miss parameters is an
// error, not a silent partial sum.
func TestGradBucketsCoverage(t *testing.T) {
	g := &gradBuckets{b: cpu.New(), comm: dist.Single{}}
	if err := g.wait(); err != nil {
		t.Fatal(err)
	}
	if err := g.check(3); err == nil {
		t.Error("0 parameters reduced of 3 passed the check")
	}
}
