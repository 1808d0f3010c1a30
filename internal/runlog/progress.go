package runlog

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Progress shows training progress: a progress bar per epoch on a terminal,
// plain log lines otherwise, nothing when quiet.
type Progress struct {
	w        io.Writer
	quiet    bool
	terminal bool
	bar      *progressbar.ProgressBar
	epoch    int
	epochs   int
	total    int
	last     time.Time
	every    time.Duration
}

// NewProgress writes to w. A bar is drawn only when w is a terminal.
func NewProgress(w io.Writer, quiet bool) *Progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &Progress{w: w, quiet: quiet, terminal: tty, every: 10 * time.Second}
}

// StartEpoch begins epoch (1-based) of epochs with total steps.
func (p *Progress) StartEpoch(epoch, epochs, total int) {
	p.epoch, p.epochs, p.total = epoch, epochs, total
	p.last = time.Now()
	if p.quiet {
		return
	}
	if p.terminal {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", epoch, epochs)),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowDescriptionAtLineEnd(),
		)
		return
	}
	fmt.Fprintf(p.w, "epoch %d/%d: %d steps\n", epoch, epochs, total)
}

// Update reports step (1-based within the epoch) with the current figures.
func (p *Progress) Update(step int, loss, lr, pairsPerS float64) {
	if p.quiet {
		return
	}
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("epoch %d/%d loss %.4f lr %.4g %.1f pairs/s", p.epoch, p.epochs, loss, lr, pairsPerS))
		_ = p.bar.Set(step)
		return
	}
	if step == p.total || time.Since(p.last) >= p.every {
		p.last = time.Now()
		fmt.Fprintf(p.w, "epoch %d/%d step %d/%d loss %.4f lr %.4g %.1f pairs/s\n", p.epoch, p.epochs, step, p.total, loss, lr, pairsPerS)
	}
}

// FinishEpoch closes the epoch's bar or prints its summary line.
func (p *Progress) FinishEpoch(meanLoss, seconds float64) {
	if p.quiet {
		return
	}
	if p.bar != nil {
		_ = p.bar.Finish()
		fmt.Fprintln(p.w)
		p.bar = nil
	}
	fmt.Fprintf(p.w, "epoch %d/%d done: mean loss %.4f in %.1fs\n", p.epoch, p.epochs, meanLoss, seconds)
}
