package train

import (
	"fmt"
	"math"
	"time"

	"simclr/internal/backend"
	"simclr/internal/model"
	"simclr/internal/tensor"
)

// lossLog keeps the per-step losses of one logging interval
// (train.log_every steps) on the device and reads them back at once: each
// step writes its loss into its slot of buf (model.SimCLR.StepInto, no
// host wait), and read downloads the slots written so far, one host read
// per interval.
type lossLog struct {
	b     backend.Backend
	buf   *tensor.Tensor // [every]
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
}

func newLossLog(b backend.Backend, every int) (*lossLog, error) {
	if every < 1 {
		return nil, fmt.Errorf("train.log_every %d: want >= 1", every)
	}
	buf, err := b.New(every)
	if err != nil {
		return nil, fmt.Errorf("allocate the loss buffer of train.log_every=%d steps: %w", every, err)
	}
	// Zeros: a slot a failed step never wrote reads as finite (below).
	host := make([]float32, every)
	if err := b.Upload(buf, host); err != nil {
		b.Free(buf)
		return nil, fmt.Errorf("clear the loss buffer: %w", err)
	}
	return &lossLog{b: b, buf: buf, host: host, every: every}, nil
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

// wrote records the step whose loss slot() received.
func (l *lossLog) wrote(s loggedStep) { l.steps = append(l.steps, s) }

// due says whether the interval ends at step (1-based): rows land on the
// multiples of train.log_every, whatever epoch or resume point.
func (l *lossLog) due(step int) bool { return step%l.every == 0 || len(l.steps) == l.every }

// download reads the losses of steps (the first len(steps) slots): the
// one host read.
func (l *lossLog) download(steps []loggedStep) ([]float64, error) {
	n := len(steps)
	if err := l.b.Download(l.host, l.buf); err != nil {
		return nil, fmt.Errorf("read back the losses of steps %d-%d: %w", steps[0].step, steps[n-1].step, err)
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = float64(l.host[i])
	}
	return v, nil
}

// read downloads the interval (reduced over the ranks when distributed)
// and starts the next one; nil when no step is pending.
func (l *lossLog) read() (*lossRead, error) {
	if len(l.steps) == 0 {
		return nil, nil
	}
	v, err := l.download(l.steps)
	if err != nil {
		return nil, err
	}
	if l.reduce != nil {
		if err := l.reduce(v); err != nil {
			return nil, fmt.Errorf("all-reduce the losses: %w", err)
		}
	}
	r := &lossRead{steps: l.steps, losses: v, start: l.start}
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
// here) is not finite, the run stopped because the loss diverged, and the
// error says at which step; otherwise it is err. A slot the failed step
// never wrote holds a value an earlier read found finite (or the initial
// zero), so it cannot be mistaken for a divergence.
func (r *pretrainRun) failed(err error, inflight *loggedStep) error {
	l := r.losses
	steps := l.steps
	if inflight != nil && len(steps) < l.every {
		steps = append(steps[:len(steps):len(steps)], *inflight)
	}
	if len(steps) == 0 {
		return err
	}
	v, derr := l.download(steps)
	if derr != nil {
		return err
	}
	if i := firstNonFinite(v); i >= 0 {
		return r.divergedError(steps[i], v[i])
	}
	return err
}

// divergedError is the stop message for a non-finite loss at step s.
func (r *pretrainRun) divergedError(s loggedStep, loss float64) error {
	cfg := r.cfg
	return fmt.Errorf("step %d (epoch %d): the loss is %v; stopping. Likely causes: a learning rate too high for this batch size (optim.lr=%g, scaled %g) or a temperature too low (loss.temperature=%g). The last good checkpoint in %s is kept",
		s.step, s.epoch+1, float32(loss), cfg.Optim.LR, r.baseLR, cfg.Loss.Temperature, r.job.Out)
}

// readLosses reads the pending interval and stops on a non-finite loss.
func (r *pretrainRun) readLosses() (*lossRead, error) {
	rd, err := r.losses.read()
	if err != nil || rd == nil {
		return nil, err
	}
	if i := firstNonFinite(rd.losses); i >= 0 {
		return nil, r.divergedError(rd.steps[i], rd.losses[i])
	}
	return rd, nil
}
