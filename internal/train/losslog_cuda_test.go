//go:build cudaemu

package train

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"simclr/internal/backend/cuda"
	"simclr/internal/optim"
)

// TestLogEveryHostReadsCUDA counts the cuda backend's host reads (device
// to host copies, each a wait for the device) per step of a pretraining
// run on the emulator: 4 steps of one epoch, train.log_every=2, no
// checkpoint before the end, both NT-Xent paths (with LARS and AdamW;
// SGD's deferred check is AdamW's, see cuda TestDeferredCheckOptim).
// Steps 1 and 3 end no interval and make no host read at all; step 2,
// which ends one, makes exactly one: the losses and the optimizer's status
// record in one download. (Before the deferred check, every step also
// read the optimizer's gradient-norm or LARS status, and the materialised
// path NT-Xent backward's NaN check: 1 and 2 reads a step; before
// train.log_every, also its row losses: 3 and 2.)
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
	for _, c := range []struct{ fused, opt string }{{"off", "lars"}, {"on", "adamw"}} {
		fused := c.fused
		t.Run("fused="+fused+"/"+c.opt, func(t *testing.T) {
			var at []int64 // the counter when each step's NT-Xent forward is queued
			spy := &lossSpy{Backend: b, markOnly: true, onStep: func(int) { at = append(at, reads.Load()) }}
			if _, err := runWith(t, spy, "data.synthetic_size=32", "train.batch_size=8", "model.width=2", "data.image_size=8",
				"train.epochs=1", "train.checkpoint_every=0", "loss.fused="+fused, "train.log_every=2", "optim.name="+c.opt); err != nil {
				t.Fatal(err)
			}
			if len(at) != 4 {
				t.Fatalf("%d steps, want 4", len(at))
			}
			// Step k's reads: from its forward to step k+1's (the last
			// step's run into the final checkpoint and are left out).
			per := []int64{at[1] - at[0], at[2] - at[1], at[3] - at[2]}
			t.Logf("host reads per step (steps 1-3): %v", per)
			if per[0] != 0 || per[1] != 1 || per[2] != 0 {
				t.Errorf("host reads per step %v, want [0 1 0]: none on the steps that do not log, one (losses and status) at step 2", per)
			}
		})
	}
}

// TestLogEveryStopsOnNaNGradientCUDA: on the emulated cuda backend a NaN
// gradient at step 2 (its loss finite), inside the interval of
// train.log_every=3, stops the run at the read of step 3 with the
// optimizer's error naming step 2 and the parameter, and no checkpoint or
// encoder is written.
func TestLogEveryStopsOnNaNGradientCUDA(t *testing.T) {
	if testing.Short() {
		t.Skip("emulated training")
	}
	b, err := cuda.New("cuda")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	spy := &gradSpy{Backend: b, nanAt: 2, index: 0}
	out, err := runWith(t, spy, "data.synthetic_size=24", "train.batch_size=8", "model.width=2", "data.image_size=8",
		"train.epochs=1", "train.checkpoint_every=0", "train.log_every=3", "optim.name=lars")
	if err == nil || !strings.Contains(err.Error(), "step 2 (epoch 1): optimizer: optim lars: gradient of parameter ") || !errors.Is(err, optim.ErrNonFinite) {
		t.Fatalf("err = %v, want the optimizer's stop naming step 2", err)
	}
	t.Log(err)
	if spy.steps != 3 {
		t.Fatalf("ran %d optimizer steps, want 3 (stopped at the read of step 3)", spy.steps)
	}
	for _, f := range []string{CheckpointFile, EncoderFile} {
		if _, serr := os.Stat(filepath.Join(out, f)); serr == nil {
			t.Fatalf("a diverged run wrote %s", f)
		}
	}
}
