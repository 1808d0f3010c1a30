package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"simclr/internal/backend"
	"simclr/internal/backend/cpu"
	"simclr/internal/dist"
	"simclr/internal/optim"
	"simclr/internal/runlog"
	"simclr/internal/tensor"
)

// lossSpy is a backend that, at every NT-Xent ...Into call (one per
// step), also runs the float32-returning op on the same input and records
// what it returns (the value the loop logged before train.log_every), and
// from step nanAt on (1-based; 0 = never) writes NaN into the slot
// instead, a divergence whose gradients stay finite (only the read-back
// can catch it). onStep, when set, runs at the start of each call.
type lossSpy struct {
	backend.Backend
	mu     sync.Mutex
	want   []float32
	nanAt  int
	onStep func(step int)
	// markOnly skips the float32-returning op (and its host read): only
	// onStep runs, with steps counted in marks.
	markOnly bool
	marks    int
}

func (s *lossSpy) record(loss float32, err error, losses *tensor.Tensor, slot int) error {
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.want = append(s.want, loss)
	step := len(s.want)
	s.mu.Unlock()
	if s.nanAt > 0 && step >= s.nanAt {
		v := make([]float32, losses.Numel())
		if err := s.Download(v, losses); err != nil {
			return err
		}
		v[slot] = float32(math.NaN())
		return s.Upload(losses, v)
	}
	return nil
}

func (s *lossSpy) step() {
	s.mu.Lock()
	s.marks++
	n := s.marks
	s.mu.Unlock()
	if s.onStep != nil {
		s.onStep(n)
	}
}

func (s *lossSpy) NTXentForwardInto(sim *tensor.Tensor, tau float32, losses *tensor.Tensor, slot int) error {
	s.step()
	if s.markOnly {
		return s.Backend.NTXentForwardInto(sim, tau, losses, slot)
	}
	loss, err := s.NTXentForward(sim, tau)
	if err := s.Backend.NTXentForwardInto(sim, tau, losses, slot); err != nil {
		return err
	}
	return s.record(loss, err, losses, slot)
}

func (s *lossSpy) NTXentForwardBackwardInto(sim *tensor.Tensor, tau float32, ds, losses *tensor.Tensor, slot int) error {
	s.step()
	if s.markOnly {
		return s.Backend.NTXentForwardBackwardInto(sim, tau, ds, losses, slot)
	}
	loss, err := s.NTXentForward(sim, tau)
	if err := s.Backend.NTXentForwardBackwardInto(sim, tau, ds, losses, slot); err != nil {
		return err
	}
	return s.record(loss, err, losses, slot)
}

func (s *lossSpy) NTXentFusedForwardInto(z, stats *tensor.Tensor, tau float32, losses *tensor.Tensor, slot int) error {
	s.step()
	if s.markOnly {
		return s.Backend.NTXentFusedForwardInto(z, stats, tau, losses, slot)
	}
	loss, err := s.NTXentFusedForward(z, stats, tau)
	if err := s.Backend.NTXentFusedForwardInto(z, stats, tau, losses, slot); err != nil {
		return err
	}
	return s.record(loss, err, losses, slot)
}

func runWith(t *testing.T, b backend.Backend, sets ...string) (string, error) {
	t.Helper()
	cfg := tinyConfig(t, sets...)
	out := filepath.Join(t.TempDir(), "run")
	job := &PretrainJob{Plan: pretrainPlan(t, cfg), Backend: b, Out: out}
	_, err := job.Run(context.Background())
	return out, err
}

func readRows(t *testing.T, dir string) []runlog.Row {
	t.Helper()
	rows, err := runlog.ReadMetrics(filepath.Join(dir, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// asWritten is v as metrics.csv stores it (9 significant digits).
func asWritten(v float64) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 9, 64), 64)
	return f
}

// TestLogEveryRows: with train.log_every=1 metrics.csv has one row per
// step holding exactly the loss the float32-returning NT-Xent op gives
// for that step (what the loop logged before the loss stayed on the
// device); with a longer interval one row per interval, at the steps that
// are multiples of it and at each epoch's last step, holding the mean of
// its steps' losses. 3 steps per epoch, 3 epochs, both loss paths.
func TestLogEveryRows(t *testing.T) {
	for _, tc := range []struct {
		every     int
		fused     string
		wantSteps []int
	}{
		{1, "off", []int{1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{1, "on", []int{1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{2, "on", []int{2, 3, 4, 6, 8, 9}},
		{4, "off", []int{3, 4, 6, 8, 9}},
		{50, "on", []int{3, 6, 9}},
	} {
		t.Run(fmt.Sprintf("log_every=%d fused=%s", tc.every, tc.fused), func(t *testing.T) {
			spy := &lossSpy{Backend: cpu.New()}
			out, err := runWith(t, spy, "train.epochs=3", fmt.Sprintf("train.log_every=%d", tc.every), "loss.fused="+tc.fused)
			if err != nil {
				t.Fatal(err)
			}
			if len(spy.want) != 9 {
				t.Fatalf("%d NT-Xent steps, want 9", len(spy.want))
			}
			rows := readRows(t, out)
			if len(rows) != len(tc.wantSteps) {
				t.Fatalf("%d rows, want %d (steps %v)", len(rows), len(tc.wantSteps), tc.wantSteps)
			}
			prev := 0
			for i, r := range rows {
				if r.Step != tc.wantSteps[i] || r.Epoch != (r.Step-1)/3+1 {
					t.Fatalf("row %d: epoch %d step %d, want step %d", i, r.Epoch, r.Step, tc.wantSteps[i])
				}
				var sum float64
				for _, l := range spy.want[prev:r.Step] {
					sum += float64(l)
				}
				want := sum / float64(r.Step-prev)
				if tc.every == 1 && want != float64(spy.want[i]) {
					t.Fatalf("a one-step interval's mean %v is not its loss %v", want, spy.want[i])
				}
				if r.Loss != asWritten(want) {
					t.Fatalf("row %d (steps %d-%d): loss %v, want the mean %v of %v", i, prev+1, r.Step, r.Loss, want, spy.want[prev:r.Step])
				}
				prev = r.Step
			}
		})
	}
}

// TestLogEveryStopsOnNaN: a loss that goes non-finite between two reads
// (gradients still finite) stops the run at the next read with the step
// where it first did, and the checkpoint of the epoch before stays as it
// was: 3 steps per epoch, a checkpoint each epoch, NaN from step 4 (epoch
// 2), log_every=5, so the read at step 5 sees it.
func TestLogEveryStopsOnNaN(t *testing.T) {
	spy := &lossSpy{Backend: cpu.New(), nanAt: 4}
	var ckpt []byte
	cfg := tinyConfig(t, "train.epochs=3", "train.log_every=5", "train.checkpoint_every=1")
	out := filepath.Join(t.TempDir(), "run")
	spy.onStep = func(step int) {
		if step == 4 { // the checkpoint of epoch 1, written after step 3
			var err error
			if ckpt, err = os.ReadFile(filepath.Join(out, CheckpointFile)); err != nil {
				t.Error(err)
			}
		}
	}
	job := &PretrainJob{Plan: pretrainPlan(t, cfg), Backend: spy, Out: out}
	_, err := job.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "step 4 (epoch 2): the loss is NaN; stopping") || !strings.Contains(err.Error(), "last good checkpoint") {
		t.Fatalf("err = %v, want the NaN stop naming step 4 of epoch 2", err)
	}
	if len(spy.want) != 5 {
		t.Fatalf("ran %d steps, want 5 (stopped at the read of step 5)", len(spy.want))
	}
	got, rerr := os.ReadFile(filepath.Join(out, CheckpointFile))
	if rerr != nil || len(ckpt) == 0 || string(got) != string(ckpt) {
		t.Fatalf("checkpoint changed after the divergence (read error %v)", rerr)
	}
	rows := readRows(t, out)
	if len(rows) != 1 || rows[0].Step != 3 {
		t.Fatalf("metrics rows %+v, want the one of epoch 1 (step 3)", rows)
	}
}

// TestPretrainStopsOnNaNLogEvery: the divergence of a learning rate of
// 1e30 stops the run at the same step, naming the learning rate, whatever
// the interval (with 4 the NaN loss of step 2 and the optimizer's failed
// check of the same step are read together at the epoch's end, and the
// loss, the cause, names it); nothing is saved.
func TestPretrainStopsOnNaNLogEvery(t *testing.T) {
	for _, every := range []int{1, 4} {
		t.Run(fmt.Sprint(every), func(t *testing.T) {
			out, err := runWith(t, cpu.New(), "optim.lr=1e30", "train.epochs=1", fmt.Sprintf("train.log_every=%d", every))
			// Step 1's update is finite but huge; step 2's loss is NaN.
			if err == nil || !strings.Contains(err.Error(), "step 2 (epoch 1): the loss is NaN") || !strings.Contains(err.Error(), "learning rate") {
				t.Fatalf("err = %v, want the NaN stop at step 2 naming the learning rate", err)
			}
			t.Logf("log_every=%d: %v", every, err)
			if _, statErr := os.Stat(filepath.Join(out, EncoderFile)); statErr == nil {
				t.Fatal("a diverged run must not write an encoder")
			}
		})
	}
}

// TestLogEveryDistributed: on 2 in-process ranks, with the all-gather and
// with loss.local_negatives (whose per-rank losses are averaged over the
// ranks at each read, one all-reduce per interval), the rows of
// train.log_every=3 are the interval means of the per-step rows of
// log_every=1, bit for bit, at the multiples of 3 and the epochs' ends.
func TestLogEveryDistributed(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end training")
	}
	for _, localNeg := range []bool{false, true} {
		t.Run(fmt.Sprintf("local_negatives=%v", localNeg), func(t *testing.T) {
			rows := map[int][]runlog.Row{}
			for _, every := range []int{1, 3} {
				cfg := equivConfig(t, fmt.Sprintf("train.log_every=%d", every))
				out := filepath.Join(t.TempDir(), "run")
				if err := inProcess(2, func(c dist.Comm) error { return runJob(t, c, cfg, out, false, 0, localNeg) }); err != nil {
					t.Fatal(err)
				}
				rows[every] = readRows(t, out)
			}
			per, got := rows[1], rows[3]
			if len(per) < 4 || len(got) >= len(per) {
				t.Fatalf("%d rows at log_every=1, %d at 3", len(per), len(got))
			}
			prev := 0
			for _, r := range got {
				var sum float64
				n := 0
				for _, p := range per {
					if p.Step > prev && p.Step <= r.Step {
						sum += float64(float32(p.Loss)) // the step's float32 loss, exactly
						n++
					}
				}
				if n == 0 || n > 3 || (r.Step%3 != 0 && r.Step%(len(per)/2) != 0) {
					t.Fatalf("row at step %d covers %d steps", r.Step, n)
				}
				if want := asWritten(sum / float64(n)); r.Loss != want {
					t.Fatalf("row at step %d: loss %v, want the mean %v of steps %d-%d", r.Step, r.Loss, want, prev+1, r.Step)
				}
				prev = r.Step
			}
		})
	}
}

// gradSpy is a backend that poisons one gradient before the optimizer's
// multi-tensor update of step nanAt (1-based; counting those updates):
// element 0 of grads[index] becomes NaN, a divergence the loss of that
// step does not show (only the optimizer's deferred check sees it).
type gradSpy struct {
	backend.Backend
	nanAt, index, steps int
	// onUpdate, when set, is called with the update count after each
	// update call (before the read-back of a logging step).
	onUpdate func(step int)
}

func (s *gradSpy) poison(grads []*tensor.Tensor) error {
	s.steps++
	if s.steps != s.nanAt {
		return nil
	}
	g := grads[s.index]
	v := make([]float32, g.Numel())
	if err := s.Download(v, g); err != nil {
		return err
	}
	v[0] = float32(math.NaN())
	return s.Upload(g, v)
}

func (s *gradSpy) done() {
	if s.onUpdate != nil {
		s.onUpdate(s.steps)
	}
}

func (s *gradSpy) LARSStep(params, grads, bufs []*tensor.Tensor, adapt []bool, o backend.LARSOpts) error {
	if err := s.poison(grads); err != nil {
		return err
	}
	defer s.done()
	return s.Backend.LARSStep(params, grads, bufs, adapt, o)
}

func (s *gradSpy) MomentumStepMulti(params, grads, bufs []*tensor.Tensor, decay []bool, o backend.MomentumOpts) error {
	if err := s.poison(grads); err != nil {
		return err
	}
	defer s.done()
	return s.Backend.MomentumStepMulti(params, grads, bufs, decay, o)
}

func (s *gradSpy) AdamWStepMulti(params, grads, ms, vs []*tensor.Tensor, decay []bool, o backend.AdamWOpts) error {
	if err := s.poison(grads); err != nil {
		return err
	}
	defer s.done()
	return s.Backend.AdamWStepMulti(params, grads, ms, vs, decay, o)
}

// TestStopBeforeAnyCheckpoint: a NaN loss at step 1, before the first
// checkpoint, says that none was written instead of promising a kept one,
// and leaves no checkpoint file.
func TestStopBeforeAnyCheckpoint(t *testing.T) {
	spy := &lossSpy{Backend: cpu.New(), nanAt: 1}
	cfg := tinyConfig(t, "train.epochs=2", "train.log_every=1", "train.checkpoint_every=1")
	out := filepath.Join(t.TempDir(), "run")
	job := &PretrainJob{Plan: pretrainPlan(t, cfg), Backend: spy, Out: out}
	_, err := job.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "step 1 (epoch 1): the loss is NaN") ||
		!strings.Contains(err.Error(), "No checkpoint was written before the stop (train.checkpoint_every=1)") || strings.Contains(err.Error(), "last good checkpoint") {
		t.Fatalf("err = %v, want the NaN stop at step 1 saying no checkpoint was written", err)
	}
	if _, serr := os.Stat(filepath.Join(out, CheckpointFile)); !os.IsNotExist(serr) {
		t.Fatalf("a checkpoint exists after a stop at step 1 (stat: %v)", serr)
	}
}

// TestLogEveryStopsOnNaNGradient: a NaN gradient at step 4 (epoch 2),
// inside the interval of train.log_every=5 (its loss finite), stops the
// run at the read of step 5 with the optimizer's error naming step 4, its
// epoch and the parameter (wrapping optim.ErrNonFinite), for every
// optimizer; the checkpoint of epoch 1 stays as it was and no later one
// is written.
func TestLogEveryStopsOnNaNGradient(t *testing.T) {
	for _, opt := range []string{"lars", "sgd", "adamw"} {
		t.Run(opt, func(t *testing.T) {
			spy := &gradSpy{Backend: cpu.New(), nanAt: 4, index: 1}
			cfg := tinyConfig(t, "train.epochs=3", "train.log_every=5", "train.checkpoint_every=1", "optim.name="+opt)
			out := filepath.Join(t.TempDir(), "run")
			var ckpt []byte
			spy.onUpdate = func(step int) {
				if step == 4 { // the checkpoint of epoch 1, written after step 3
					var err error
					if ckpt, err = os.ReadFile(filepath.Join(out, CheckpointFile)); err != nil {
						t.Error(err)
					}
				}
			}
			job := &PretrainJob{Plan: pretrainPlan(t, cfg), Backend: spy, Out: out}
			_, err := job.Run(context.Background())
			if err == nil || !strings.Contains(err.Error(), "step 4 (epoch 2): optimizer: optim "+opt+": gradient of parameter ") ||
				!strings.Contains(err.Error(), "NaN or Inf norm") || !strings.Contains(err.Error(), "last good checkpoint") || !errors.Is(err, optim.ErrNonFinite) {
				t.Fatalf("err = %v, want the optimizer's stop naming step 4 of epoch 2 and a parameter", err)
			}
			t.Logf("%s: %v", opt, err)
			if spy.steps != 5 {
				t.Fatalf("ran %d optimizer steps, want 5 (stopped at the read of step 5)", spy.steps)
			}
			got, rerr := os.ReadFile(filepath.Join(out, CheckpointFile))
			if rerr != nil || len(ckpt) == 0 || string(got) != string(ckpt) {
				t.Fatalf("checkpoint changed after the divergence (read error %v)", rerr)
			}
		})
	}
}
