package train

import (
	"fmt"
	"io"
	"strings"

	"simclr/internal/backend"
	"simclr/internal/config"
)

// Precision is the number format of the matrix products (convolutions and
// linear layers) of a job, train.precision resolved when the plan is
// built: an explicit format, or auto, which becomes a format once the
// backend is known (bf16 on a CUDA device, fp32 on the CPU). Every job
// applies it to its backend first thing in Run (Apply).
type Precision struct {
	Setting string // train.precision: auto, fp32, tf32 or bf16
	Origin  string // where the setting came from ("built-in default", "--precision", ...)
	Device  string // the device key the job opens
}

// newPrecision resolves train.precision of cfg; a name that is not a
// format is an error naming the accepted ones.
func newPrecision(cfg *config.Config) (Precision, error) {
	p := Precision{Setting: cfg.Train.Precision, Origin: cfg.Origin("train.precision"), Device: cfg.Device}
	if p.Setting == "" {
		p.Setting = config.PrecisionAuto
	}
	if _, _, err := cfg.MatmulPrecision(false); err != nil {
		return p, err
	}
	return p, nil
}

// NewPrecision is the Precision of cfg, for jobs without a plan (bench).
func NewPrecision(cfg *config.Config) (Precision, error) { return newPrecision(cfg) }

// isGPU says whether b runs on a GPU (any backend but the CPU's).
func isGPU(b backend.Backend) bool { return b.Name() != "cpu" }

// Apply sets b's matmul precision and returns the format set. An explicit
// format the backend or its device cannot run is an error naming the
// setting, where it came from and what to do; auto on a GPU that cannot
// run bf16 falls back to fp32 and says so on log.
func (p Precision) Apply(b backend.Backend, log io.Writer) (backend.Precision, error) {
	want := backend.FP32
	auto := p.Setting == config.PrecisionAuto
	if auto {
		if isGPU(b) {
			want = backend.BF16
		}
	} else {
		var err error
		if want, err = backend.ParsePrecision(p.Setting); err != nil {
			return backend.FP32, fmt.Errorf("train.precision (from %s): %w", p.Origin, err)
		}
	}
	err := b.SetMatmulPrecision(want)
	if err != nil && auto && want != backend.FP32 {
		if log != nil {
			fmt.Fprintf(log, "train.precision auto: %s cannot multiply in %s (%v); using fp32\n", b.Name(), want, err)
		}
		want, err = backend.FP32, b.SetMatmulPrecision(backend.FP32)
	}
	if err != nil {
		return backend.FP32, fmt.Errorf("train.precision %s (from %s) cannot run on %s: %w; choose another with --precision (%s)",
			p.Setting, p.Origin, b.Name(), err, strings.Join(config.Precisions, ", "))
	}
	return want, nil
}

// Describe is the dry-run line: the format, or for auto the format each
// device gets, with where the setting came from.
func (p Precision) Describe() string {
	if p.Setting != config.PrecisionAuto {
		return fmt.Sprintf("%s (train.precision from %s)", p.Setting, p.Origin)
	}
	var which string
	switch {
	case p.Device == "cpu":
		which = "fp32 on device cpu"
	case strings.HasPrefix(p.Device, "cuda"):
		which = "bf16 on device " + p.Device
	default:
		which = "bf16 if device " + p.Device + " opens a CUDA device that runs it, else fp32"
	}
	return fmt.Sprintf("%s (train.precision auto from %s: bf16 on a CUDA device, fp32 on the CPU)", which, p.Origin)
}

// describePrecision writes the dry-run's matmul precision line.
func describePrecision(w io.Writer, p Precision) {
	fmt.Fprintf(w, "matmul precision: %s\n", p.Describe())
}
