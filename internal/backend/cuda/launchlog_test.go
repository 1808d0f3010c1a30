//go:build cudaemu

package cuda

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
	"unsafe"

	"simclr/internal/backend"
	"simclr/internal/bench"
	"simclr/internal/model"
	"simclr/internal/optim"
	"simclr/internal/tensor"
)

// countDriver is a driver that runs nothing: allocations are addresses
// that are never dereferenced, copies do nothing (a download reads float64
// -1 in every 8-byte word: a finite loss, and "no failing tensor" for
// LARSStep's status), and launches are only counted by the Backend's
// launchLog. It lets a full-size training step (ResNet-18, 512 pairs) walk
// the real launch code in milliseconds and without memory.
type countDriver struct {
	next   uintptr
	onDtoh func() // called for every download (a host round trip)
	hosts  [][]byte
}

// hostAlloc returns real (Go) memory: Upload writes its staging buffer.
func (d *countDriver) hostAlloc(bytes int64) (unsafe.Pointer, error) {
	b := make([]byte, bytes)
	d.hosts = append(d.hosts, b)
	return unsafe.Pointer(&b[0]), nil
}
func (d *countDriver) hostFree(unsafe.Pointer) error                  { return nil }
func (d *countDriver) htodAsync(uintptr, unsafe.Pointer, int64) error { return nil }
func (d *countDriver) newFence() (fence, error)                       { return 0, nil }
func (d *countDriver) recordFence(fence) error                        { return nil }
func (d *countDriver) waitFence(fence) error                          { return nil }

func (d *countDriver) name() string { return "launch counter" }
func (d *countDriver) alloc(bytes int64) (uintptr, error) {
	p := d.next + 1<<20
	d.next = p + uintptr((bytes+255)&^255)
	return p, nil
}
func (d *countDriver) free(uintptr) error                        { return nil }
func (d *countDriver) htod(uintptr, unsafe.Pointer, int64) error { return nil }
func (d *countDriver) dtod(uintptr, uintptr, int64) error        { return nil }
func (d *countDriver) hasKernel(string) bool                     { return true }
func (d *countDriver) launch(string, dim3, dim3, []uint64) error { return nil }
func (d *countDriver) launchShared(string, dim3, dim3, int, []uint64) error {
	return nil
}
func (d *countDriver) setMaxDynamicShared(string, int) error { return nil }
func (d *countDriver) newEvent() (event, error)              { return 0, nil }
func (d *countDriver) record(event) error                    { return nil }
func (d *countDriver) elapsed(event, event) (float64, error) { return 0, nil }
func (d *countDriver) sync() error                           { return nil }
func (d *countDriver) close() error                          { return nil }
func (d *countDriver) dtoh(dst unsafe.Pointer, _ uintptr, n int64) error {
	if d.onDtoh != nil {
		d.onDtoh()
	}
	b := unsafe.Slice((*byte)(dst), n)
	for i := 0; i+8 <= len(b); i += 8 {
		*(*uint64)(unsafe.Pointer(&b[i])) = math.Float64bits(-1)
	}
	return nil
}

// Launch is one recorded kernel launch (the JSON tools/gpu/sassmodel reads).
type Launch struct {
	Op     string  `json:"op"`
	Kernel string  `json:"kernel"`
	Grid   [3]int  `json:"grid"`
	Block  [3]int  `json:"block"`
	Shapes [][]int `json:"shapes"`
}

// recordStep runs two SimCLR steps of ResNet-18 (CIFAR
// stem, width 64, 2-layer head to 128, LARS as configs/cifar10.yaml) at
// pairs pairs on 32 px images through the counting driver and returns the
// second step's launches.
func recordStep(t *testing.T, pairs int, perTensor bool) []Launch {
	t.Helper()
	drv := &countDriver{}
	b := &Backend{drv: drv, pool: newMemPool(drv), owned: make(map[*Tensor]int64)}
	// SIMCLR_LAUNCH_PRECISION (fp32, tf32, bf16) and SIMCLR_CUDA_GEMM pick
	// the rung whose step is recorded (make sass-model records each).
	if v := os.Getenv("SIMCLR_LAUNCH_PRECISION"); v != "" {
		p, err := backend.ParsePrecision(v)
		if err != nil {
			t.Fatalf("SIMCLR_LAUNCH_PRECISION: %v", err)
		}
		if err := b.SetMatmulPrecision(p); err != nil {
			t.Fatal(err)
		}
	}
	rung, err := rungFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	b.rung.Store(int32(rung))
	var log []Launch
	on := false
	b.launchLog = func(op, kernel string, grid, block dim3, shapes []tensor.Shape) {
		if !on {
			return
		}
		l := Launch{Op: op, Kernel: kernel, Grid: [3]int{grid.x, grid.y, grid.z}, Block: [3]int{block.x, block.y, block.z}}
		for _, s := range shapes {
			l.Shapes = append(l.Shapes, append([]int{}, s...))
		}
		log = append(log, l)
	}
	drv.onDtoh = func() {
		if on {
			log = append(log, Launch{Op: "download", Kernel: "<dtoh>"})
		}
	}
	mc := model.Config{Arch: "resnet18", Stem: model.StemCIFAR, Width: 64, InChannels: 3, HeadLayers: 2, HeadOut: 128}
	const wd = 1e-6
	lars := func(ps []*model.Param) (optim.Optimizer, error) {
		l, err := optim.NewLARS(b, ps, optim.LARSOptions{Momentum: 0.9, WeightDecay: wd, TrustCoef: 0.001, ExcludeBiasBN: true})
		return &markedLARS{LARS: l, b: b, ps: ps, perTensor: perTensor, wd: wd, log: &log}, err
	}
	// Two steps; the second (from the launch after the first step's
	// lars_apply to its own) is the steady state, buffers allocated.
	// SIMCLR_LAUNCH_RECOMPUTE=1 records a step with train.recompute.
	recompute := os.Getenv("SIMCLR_LAUNCH_RECOMPUTE") == "1"
	on = true
	if _, err := bench.Run(b, mc, 32, 0.5, lars, bench.Options{Steps: 1, Warmup: 1, BatchPairs: pairs, Seed: 1, Recompute: recompute}); err != nil {
		t.Fatal(err)
	}
	var ends []int
	for i, l := range log {
		if l.Kernel == stepEnd {
			ends = append(ends, i)
		}
	}
	if len(ends) != 2 {
		t.Fatalf("%d optimizer steps recorded, want 2", len(ends))
	}
	log = log[ends[0]+1 : ends[1]]
	return log
}

const stepEnd = "<end of step>"

// markedLARS marks the end of each optimizer step in the launch log; with
// perTensor it steps as LARS did before Backend.LARSStep (per parameter:
// SumSquares of the gradient and the value, Dot when decayed, then
// MomentumStep), for the model's "before" table.
type markedLARS struct {
	*optim.LARS
	b         *Backend
	ps        []*model.Param
	perTensor bool
	wd        float32
	log       *[]Launch
}

// StepDeferred is the step bench.Run (like the training loop) calls.
func (m *markedLARS) StepDeferred(lr float32, d backend.DeferredCheck) error {
	defer func() { *m.log = append(*m.log, Launch{Kernel: stepEnd}) }()
	if !m.perTensor {
		return m.LARS.StepDeferred(lr, d)
	}
	qs, err := m.TrustRatios()
	if err != nil {
		return err
	}
	state := m.State()
	for i, p := range m.ps {
		wd := m.wd
		if p.NoDecay {
			wd = 0
		}
		if err := m.b.MomentumStep(p.Value, p.Grad, state[i].T, backend.MomentumOpts{LR: lr, Momentum: 0.9, WeightDecay: wd, TrustRatio: qs[i], FirstStep: m.Steps() == 0}); err != nil {
			return err
		}
	}
	return nil
}

// TestRecordStepLaunches records one ResNet-18 step at 512 pairs and
// checks what the optimizer launches: LARS is three multi-tensor launches
// and no per-parameter reduction. With SIMCLR_LAUNCH_LOG=file it writes
// the launches as JSON for tools/gpu/sassmodel (make sass-model), and with
// SIMCLR_LAUNCH_LOG_BEFORE=file those of the per-parameter LARS path.
func TestRecordStepLaunches(t *testing.T) {
	if path := os.Getenv("SIMCLR_LAUNCH_LOG_BEFORE"); path != "" {
		writeLog(t, path, recordStep(t, 512, true))
	}
	log := recordStep(t, 512, false)
	if path := os.Getenv("SIMCLR_LAUNCH_LOG"); path != "" {
		writeLog(t, path, log)
	}
	count := map[string]int{}
	for _, l := range log {
		count[l.Kernel]++
		if strings.HasPrefix(l.Kernel, "conv2d_fwd_") {
			count["conv2d_fwd"]++ // a precision or tensor-core variant
		}
	}
	if count["conv2d_fwd"] < 20 || count["ntxent_rows"] < 1 {
		t.Fatalf("recorded %d launches, %d conv2d_fwd, %d ntxent_rows: not one ResNet-18 SimCLR step", len(log), count["conv2d_fwd"], count["ntxent_rows"])
	}
	for _, k := range []string{"lars_norms_partial", "lars_trust", "lars_apply"} {
		if count[k] != 1 {
			t.Errorf("%s launched %d times in one step, want 1", k, count[k])
		}
	}
	for _, k := range []string{"sumsq_partial", "dot_partial", "momentum_step"} {
		if count[k] != 0 {
			t.Errorf("%s launched %d times in one step, want 0 (LARS is multi-tensor)", k, count[k])
		}
	}
	// The loss stays in a device slot, NT-Xent's NaN check and LARS's
	// status go into the deferred status record: bench.Run reads them
	// once after its steps, so a step that does not log reads nothing
	// (before: the loss, NT-Xent backward's check and LARS's status).
	if count["<dtoh>"] != 0 {
		t.Errorf("%d host reads in one step, want 0 (the loss and the checks are read once after the steps)", count["<dtoh>"])
	}
	t.Logf("%d launches and %d host reads in one step", len(log)-count["<dtoh>"], count["<dtoh>"])
}

func writeLog(t *testing.T, path string, log []Launch) {
	data, err := json.MarshalIndent(log, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
