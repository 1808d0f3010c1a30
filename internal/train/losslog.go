package train

import (
	"fmt"
	"math"
	"os"
	"time"

	"simclr/internal/backend"
	"simclr/internal/model"
	"simclr/internal/tensor"
)

// lossLog keeps the per-step losses of one logging interval
// (train.log_every steps) on the device and reads them back at once: each
// step writes its loss into its slot of buf (model.SimCLR.StepInto, no
// host wait), and read downloads the slots written so far, one host read
// per interval. The same buffer ends with the optimizer's sticky status
// record (backend.DeferredCheck, written by optim StepDeferred: the first
// step whose gradients or trust ratios were not finite), so that one read
// also brings back the non-finite check of every step since the run
// started: no step waits for the device between two reads.
type lossLog struct {
	b     backend.Backend
	buf   *tensor.Tensor // [every + backend.StatusWords]
	host  []float32
	every int
	steps []loggedStep // the steps whose losses buf holds, in order
	start time.Time    // when the first of them started
	// reduce, when set, turns this rank's losses into the job's (the mean
	// over the ranks with loss.local_negatives); a collective, called only
	// at the reads every rank makes.
	reduce func([]float64) error
}

// loggedStep is what the host knows of a step whose loss is on the device.
type loggedStep struct {
	step, epoch int // 1-based optimizer step, 0-based epoch
	batch       int // 1-based batch index within the epoch
	lr          float64
}

// lossRead is one interval read back.
type lossRead struct {
	steps  []loggedStep
	losses []float64
	start  time.Time
	// failure is the optimizer's status record: the first step whose
	// check failed, or nil.
	failure *backend.StepFailure
}

func newLossLog(b backend.Backend, every int) (*lossLog, error) {
	if every < 1 {
		return nil, fmt.Errorf("train.log_every %d: want >= 1", every)
	}
	buf, err := b.New(every + backend.StatusWords)
	if err != nil {
		return nil, fmt.Errorf("allocate the loss buffer of train.log_every=%d steps: %w", every, err)
	}
	// New's tensor is zeroed: a slot a failed step never wrote reads as
	// finite (below), and the status record starts clear.
	return &lossLog{b: b, buf: buf, host: make([]float32, every+backend.StatusWords), every: every}, nil
}

func (l *lossLog) close() { l.b.Free(l.buf) }

// slot is where the next step writes its loss.
func (l *lossLog) slot() model.LossSlot { return model.LossSlot{T: l.buf, I: len(l.steps)} }

// begin notes when a step starts (the interval's start for its first).
func (l *lossLog) begin(t time.Time) {
	if len(l.steps) == 0 {
		l.start = t
	}
}

// check is where the optimizer step of step (1-based) records a failed
// check: the status record after the loss slots.
func (l *lossLog) check(step int) backend.DeferredCheck {
	return backend.DeferredCheck{Status: l.buf, At: l.every, Step: step}
}

// wrote records the step whose loss slot() received.
func (l *lossLog) wrote(s loggedStep) { l.steps = append(l.steps, s) }

// due says whether the interval ends at step (1-based): rows land on the
// multiples of train.log_every, whatever epoch or resume point.
func (l *lossLog) due(step int) bool { return step%l.every == 0 || len(l.steps) == l.every }

// download reads the losses of steps (the first len(steps) slots) and
// the status record: the one host read.
func (l *lossLog) download(steps []loggedStep) ([]float64, *backend.StepFailure, error) {
	n := len(steps)
	if err := l.b.Download(l.host, l.buf); err != nil {
		return nil, nil, fmt.Errorf("read back the losses of steps %d-%d: %w", steps[0].step, steps[n-1].step, err)
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = float64(l.host[i])
	}
	f, err := backend.DecodeStatus(l.host[l.every:])
	if err != nil {
		return nil, nil, fmt.Errorf("read back the optimizer's check of steps up to %d: %w", steps[n-1].step, err)
	}
	return v, f, nil
}

// read downloads the interval (reduced over the ranks when distributed)
// and starts the next one; nil when no step is pending.
func (l *lossLog) read() (*lossRead, error) {
	if len(l.steps) == 0 {
		return nil, nil
	}
	v, f, err := l.download(l.steps)
	if err != nil {
		return nil, err
	}
	if l.reduce != nil {
		if err := l.reduce(v); err != nil {
			return nil, fmt.Errorf("all-reduce the losses: %w", err)
		}
	}
	r := &lossRead{steps: l.steps, losses: v, start: l.start, failure: f}
	l.steps = nil
	return r, nil
}

// firstNonFinite returns the index of the first NaN or infinite loss, or -1.
func firstNonFinite(v []float64) int {
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return i
		}
	}
	return -1
}

// failed is the error of a step that failed (err) while losses were
// pending, the failed step's own (inflight) included: when one of them
// (this rank's, read without a collective, as the other ranks may not be
// here) is not finite, or the optimizer's status record holds a failure,
// the run stopped because training diverged, and the error says at which
// step (diverged); otherwise it is err. A slot the failed step never wrote
// holds a value an earlier read found finite (or the initial zero), so it
// cannot be mistaken for a divergence.
func (r *pretrainRun) failed(err error, inflight *loggedStep) error {
	l := r.losses
	steps := l.steps
	if inflight != nil && len(steps) < l.every {
		steps = append(steps[:len(steps):len(steps)], *inflight)
	}
	if len(steps) == 0 {
		return err
	}
	v, f, derr := l.download(steps)
	if derr != nil {
		return err
	}
	if derr := r.diverged(steps, v, f); derr != nil {
		return derr
	}
	return err
}

// diverged is the stop error of an interval read back (steps, their
// losses v, the optimizer's status record f), nil when it is all finite.
// Whichever comes first names the step: the first non-finite loss, or the
// first step whose gradients or trust ratios the optimizer found non-finite
// (that step and every later one changed no weight). A loss and a check
// of the same step give the loss's error, the cause.
func (r *pretrainRun) diverged(steps []loggedStep, v []float64, f *backend.StepFailure) error {
	i := firstNonFinite(v)
	if f != nil && (i < 0 || f.Step < steps[i].step) {
		return r.optimizerDiverged(steps, f)
	}
	if i >= 0 {
		return r.divergedError(steps[i], v[i])
	}
	return nil
}

// optimizerDiverged is the stop message for the optimizer's failed check
// f: the step (and its epoch when the interval holds it), the optimizer's
// error naming the parameter.
func (r *pretrainRun) optimizerDiverged(steps []loggedStep, f *backend.StepFailure) error {
	at := fmt.Sprintf("step %d", f.Step)
	for _, s := range steps {
		if s.step == f.Step {
			at = fmt.Sprintf("step %d (epoch %d)", s.step, s.epoch+1)
		}
	}
	return fmt.Errorf("%s: optimizer: %w; stopping, no weight was updated from this step on. %s",
		at, r.opt.FailureError(f), r.keptCheckpoint())
}

// keptCheckpoint says what a stopped run leaves on disk: the last good
// checkpoint, or that none was written yet.
func (r *pretrainRun) keptCheckpoint() string {
	if _, err := os.Stat(r.ckptPath); err == nil {
		return fmt.Sprintf("The last good checkpoint in %s is kept", r.job.Out)
	}
	return fmt.Sprintf("No checkpoint was written before the stop (train.checkpoint_every=%d), so %s holds nothing to resume", r.cfg.Train.CheckpointEvery, r.job.Out)
}

// divergedError is the stop message for a non-finite loss at step s.
func (r *pretrainRun) divergedError(s loggedStep, loss float64) error {
	cfg := r.cfg
	return fmt.Errorf("step %d (epoch %d): the loss is %v; stopping. Likely causes: a learning rate too high for this batch size (optim.lr=%g, scaled %g) or a temperature too low (loss.temperature=%g). %s",
		s.step, s.epoch+1, float32(loss), cfg.Optim.LR, r.baseLR, cfg.Loss.Temperature, r.keptCheckpoint())
}

// readLosses reads the pending interval and stops on a non-finite loss or
// a failed optimizer check.
func (r *pretrainRun) readLosses() (*lossRead, error) {
	rd, err := r.losses.read()
	if err != nil || rd == nil {
		return nil, err
	}
	if err := r.diverged(rd.steps, rd.losses, rd.failure); err != nil {
		return nil, err
	}
	return rd, nil
}
