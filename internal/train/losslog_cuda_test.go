//go:build cudaemu

package train

import (
	"testing"

	"simclr/internal/backend/cuda"
)

// TestLogEveryHostReadsCUDA counts the cuda backend's host reads (device
// to host copies, each a wait for the device) per step of a pretraining
// run on the emulator: 4 steps of one epoch, train.log_every=2, no
// checkpoint before the end, both NT-Xent paths. Steps 1 and 3 end no
// interval and make the same reads; step 2, which ends one, makes exactly
// one more, the loss read. So no loss is downloaded inside the steps
// between two reads; what every step still reads is the optimizer's
// gradient-norm check (and, on the materialised path, NT-Xent backward's
// NaN check). (Before train.log_every, each step also read its row
// losses: 3 and 2 reads a step.)
func TestLogEveryHostReadsCUDA(t *testing.T) {
	if testing.Short() {
		t.Skip("emulated training")
	}
	b, err := cuda.New("cuda")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	reads := b.CountHostReads()
	for _, fused := range []string{"off", "on"} {
		t.Run("fused="+fused, func(t *testing.T) {
			var at []int64 // the counter when each step's NT-Xent forward is queued
			spy := &lossSpy{Backend: b, markOnly: true, onStep: func(int) { at = append(at, reads.Load()) }}
			if _, err := runWith(t, spy, "data.synthetic_size=32", "train.batch_size=8", "model.width=2", "data.image_size=8",
				"train.epochs=1", "train.checkpoint_every=0", "loss.fused="+fused, "train.log_every=2"); err != nil {
				t.Fatal(err)
			}
			if len(at) != 4 {
				t.Fatalf("%d steps, want 4", len(at))
			}
			// Step k's reads: from its forward to step k+1's (the last
			// step's run into the final checkpoint and are left out).
			per := []int64{at[1] - at[0], at[2] - at[1], at[3] - at[2]}
			t.Logf("host reads per step (steps 1-3): %v", per)
			if per[0] < 1 || per[2] != per[0] || per[1] != per[0]+1 {
				t.Errorf("host reads per step %v, want [n n+1 n]: one loss read, at step 2", per)
			}
		})
	}
}
