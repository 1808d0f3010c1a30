// Package bench times SimCLR training steps on synthetic input.
//
// Run builds a model from a model.Config on a backend, generates one fixed,
// seeded random batch of both views ([2N,C,S,S]) and repeats the full
// training step on it: upload of the batch, SimCLR.Step (encoder and head
// forward of both views, NT-Xent, backward) and one optimizer update. Warm-up
// steps run first and are not timed. The result gives throughput in pairs
// per second, the mean time per step, each timed step's duration and the
// peak memory (the larger of the backend's own count and the sampled Go heap).
// On a backend that implements backend.KernelTimer (the CUDA backend),
// Options.KernelTimes adds the device time of every kernel over the timed
// steps, measured with events recorded around each launch.
//
// The figures measure compute only: no data loading or augmentation is
// involved, so they are an upper bound for `simclr pretrain` throughput.
package bench

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"time"

	"simclr/internal/backend"
	"simclr/internal/dist"
	"simclr/internal/model"
	"simclr/internal/optim"
	"simclr/internal/tensor"
)

// Options says how many steps to run and on how large a batch.
type Options struct {
	// Steps is the number of timed steps (>= 1).
	Steps int
	// Warmup is the number of untimed steps run first (>= 0); one is
	// enough to let the model allocate its buffers.
	Warmup int
	// BatchPairs is N, the number of images per batch; each gives two
	// views, so a step processes 2N images (N >= 2, as NT-Xent needs a
	// negative).
	BatchPairs int
	// LR is the learning rate passed to the optimizer's Step; 0 means
	// DefaultLR. It does not change the cost of a step.
	LR float32
	// Seed seeds the model initialisation and the synthetic batch.
	Seed int64
	// KernelTimes asks for the device time per kernel over the timed steps
	// (Result.KernelTimes); the backend must implement backend.KernelTimer
	// (the CUDA backend). Recording the events adds to the step times.
	KernelTimes bool
	// Comm, with more than one rank, makes this one rank of a data-parallel
	// step (run under mpirun): BatchPairs is the global batch, this rank
	// holds its dist.ShardRange, the projections are all-gathered, batch
	// norm is synchronised and the gradients are all-reduced, as in
	// `simclr pretrain`. The time spent in collectives is reported.
	Comm dist.Comm
	// LocalBN keeps batch-norm statistics per rank (model.sync_bn: false).
	LocalBN bool
	// Recompute rebuilds each residual block's activations in the
	// backward (train.recompute): less memory, one more forward.
	Recompute bool
	// CPUProfile, when not nil, receives a pprof CPU profile of the timed
	// steps only (model build and warm-up steps excluded).
	CPUProfile io.Writer
}

// DefaultLR is the learning rate used when Options.LR is 0: small enough
// that repeated steps on one fixed batch do not diverge.
const DefaultLR = 0.01

// MaxBatchPairs bounds Options.BatchPairs so that a typo cannot ask for an
// impossible allocation.
const MaxBatchPairs = 1 << 16

// Image sizes accepted by Run. Below MinImageSize the ResNet's feature maps
// shrink to one pixel before the last stage and the timing says nothing.
const (
	MinImageSize = 8
	MaxImageSize = 4096
)

// Result holds the figures of one benchmark run.
type Result struct {
	Backend string `json:"backend"`
	// Precision is the backend's matmul precision during the steps
	// (backend.Backend.MatmulPrecision).
	Precision  string `json:"precision"`
	Arch       string `json:"arch"`
	Stem       string `json:"stem"`
	Width      int    `json:"width"`
	ImageSize  int    `json:"image_size"`
	Channels   int    `json:"channels"`
	BatchPairs int    `json:"batch_pairs"`
	Warmup     int    `json:"warmup"`
	Steps      int    `json:"steps"`
	// Recompute says whether the activations were recomputed in the
	// backward (Options.Recompute).
	Recompute bool    `json:"recompute"`
	PairsPerS float64 `json:"pairs_per_s"`
	MsPerStep float64 `json:"ms_per_step"`
	// PeakBytes is max(backend PeakBytes, sampled Go heap peak).
	PeakBytes int64 `json:"peak_bytes"`
	// BackendPeakBytes and HeapPeakBytes are the two sources of PeakBytes.
	BackendPeakBytes int64 `json:"backend_peak_bytes"`
	HeapPeakBytes    int64 `json:"heap_peak_bytes"`
	// FinalLoss is the NT-Xent loss of the last step, as a sanity check.
	FinalLoss float32 `json:"final_loss"`
	// StepMs is the duration of every timed step in milliseconds.
	StepMs []float64 `json:"step_ms"`
	// CPUMsPerStep is the process's user + system CPU time over the timed
	// steps per step, in milliseconds (0 where the platform does not
	// report it). On a machine shared with other jobs it moves much less
	// than the wall time: it counts the work done, not the waiting for a
	// core (cache and memory contention still inflate it somewhat).
	CPUMsPerStep float64 `json:"cpu_ms_per_step"`
	// KernelTimes is the device time per kernel over the timed steps,
	// largest first, when Options.KernelTimes asked for it.
	KernelTimes []KernelRow `json:"kernel_times,omitempty"`
	// KernelMsPerStep is the summed kernel time per timed step (with
	// Options.KernelTimes), to set against MsPerStep.
	KernelMsPerStep float64 `json:"kernel_ms_per_step,omitempty"`
	// Ranks is the number of data-parallel processes (Options.Comm).
	Ranks int `json:"ranks"`
	// CommMsPerStep is rank 0's wall time in collectives per timed step
	// (all-gather of z, sync BN sums, gradient all-reduce), waiting for
	// slower ranks included; CommShare is its share of the step time.
	CommMsPerStep float64 `json:"comm_ms_per_step,omitempty"`
	CommShare     float64 `json:"comm_share,omitempty"`
	// CommBytesPerStep is what this rank contributes to the collectives per
	// step; CommCallsPerStep counts them.
	CommBytesPerStep int64 `json:"comm_bytes_per_step,omitempty"`
	CommCallsPerStep int   `json:"comm_calls_per_step,omitempty"`
}

// OptimizerFactory builds the optimizer over a model's parameters.
type OptimizerFactory = func(params []*model.Param) (optim.Optimizer, error)

// Run times Options.Steps SimCLR training steps of the model mc on
// imageSize x imageSize synthetic images with temperature tau on backend b.
// The optimizer factory is called once with the model's parameters. The model
// (weights, gradients, running statistics and buffers), the batch tensor and,
// when it has a Release method, the optimizer state are freed before Run
// returns. The backend's PeakBytes covers its whole life, so pass a fresh
// backend to measure the peak of this run alone.
func Run(b backend.Backend, mc model.Config, imageSize int, tau float32, optimizer OptimizerFactory, o Options) (*Result, error) {
	if err := checkArgs(b, mc, imageSize, tau, optimizer, o); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	lr := o.LR
	if lr == 0 {
		lr = DefaultLR
	}

	heap := startHeapSampler(5 * time.Millisecond)
	defer heap.stop()

	m, err := model.NewSimCLR(b, mc, o.Seed)
	if err != nil {
		return nil, fmt.Errorf("bench: build model: %w", err)
	}
	defer freeModel(b, m)
	m.Encoder.SetRecompute(o.Recompute)
	opt, err := optimizer(m.Params())
	if err != nil {
		return nil, fmt.Errorf("bench: build optimizer: %w", err)
	}
	if opt == nil {
		return nil, errors.New("bench: the optimizer factory returned a nil optimizer and no error")
	}
	if r, ok := opt.(interface{ Release() }); ok {
		defer r.Release()
	}

	var tc *dist.Timed
	counts, rank := []int{o.BatchPairs}, 0
	var grads []float32
	if o.Comm != nil && o.Comm.Size() > 1 {
		tc = &dist.Timed{Comm: o.Comm}
		rank = o.Comm.Rank()
		counts = dist.ShardCounts(o.BatchPairs, o.Comm.Size())
		if counts[0] < 1 {
			return nil, fmt.Errorf("bench: a global batch of %d pairs leaves some of the %d ranks without an image", o.BatchPairs, o.Comm.Size())
		}
		if !o.LocalBN {
			m.SetSyncBN(tc)
		}
	}
	rows := 2 * counts[rank]
	host := syntheticBatch(rows*mc.InChannels*imageSize*imageSize, o.Seed+int64(rank))
	x, err := b.New(rows, mc.InChannels, imageSize, imageSize)
	if err != nil {
		return nil, fmt.Errorf("bench: allocate the input batch [%d %d %d %d]: %w", rows, mc.InChannels, imageSize, imageSize, err)
	}
	defer b.Free(x)

	// The training loop's step (internal/train): each step leaves its loss
	// in its slot of losses and the optimizer's non-finite check in the
	// status record after them (optim StepDeferred), with no host read;
	// both are read back once, after the timed steps (checkRun). The Sync
	// after each step only times it.
	total0 := o.Warmup + o.Steps
	losses, err := b.New(total0 + backend.StatusWords)
	if err != nil {
		return nil, fmt.Errorf("bench: allocate the loss buffer of %d steps: %w", total0, err)
	}
	defer b.Free(losses)
	phases := make([]string, 0, total0)
	step := func(i int, phase string) error {
		n := len(phases) + 1 // the optimizer step, from 1 over warm-up and timed steps
		if err := b.Upload(x, host); err != nil {
			return fmt.Errorf("bench: %s step %d: upload: %w", phase, i+1, err)
		}
		slot := model.LossSlot{T: losses, I: n - 1}
		var err error
		if tc != nil {
			err = m.StepGatheredInto(x, tau, tc, counts, slot)
			if err == nil {
				err = model.AllReduceGrads(b, m.Params(), tc, 1, &grads)
			}
		} else {
			err = m.StepInto(x, tau, slot)
		}
		if err != nil {
			return fmt.Errorf("bench: %s step %d: %w", phase, i+1, err)
		}
		if err := opt.StepDeferred(lr, backend.DeferredCheck{Status: losses, At: total0, Step: n}); err != nil {
			return fmt.Errorf("bench: %s step %d: optimizer: %w", phase, i+1, err)
		}
		if err := b.Sync(); err != nil {
			return fmt.Errorf("bench: %s step %d: sync: %w", phase, i+1, err)
		}
		phases = append(phases, fmt.Sprintf("%s step %d", phase, i+1))
		return nil
	}

	for i := range o.Warmup {
		if err := step(i, "warm-up"); err != nil {
			return nil, err
		}
		heap.sample()
	}
	if tc != nil {
		tc.Reset()
	}
	timer := startKernelTimes(b, o.KernelTimes)
	defer timer.stop()
	stepMs := make([]float64, o.Steps)
	if o.CPUProfile != nil {
		if err := pprof.StartCPUProfile(o.CPUProfile); err != nil {
			return nil, fmt.Errorf("bench: start the CPU profile: %w", err)
		}
	}
	cpu0, haveCPU := processCPUTime()
	start := time.Now()
	for i := range o.Steps {
		t0 := time.Now()
		if err := step(i, "timed"); err != nil {
			if o.CPUProfile != nil {
				pprof.StopCPUProfile()
			}
			return nil, err
		}
		stepMs[i] = float64(time.Since(t0).Nanoseconds()) / 1e6
		heap.sample()
	}
	total := time.Since(start).Seconds()
	cpuMs := 0.0
	if cpu1, ok := processCPUTime(); ok && haveCPU {
		cpuMs = float64((cpu1 - cpu0).Nanoseconds()) / 1e6 / float64(o.Steps)
	}
	if o.CPUProfile != nil {
		pprof.StopCPUProfile()
	}
	kernelRows, err := timer.rows(o.Steps)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	loss, err := checkRun(b, losses, phases, opt)
	if err != nil {
		return nil, err
	}
	heapPeak := heap.stop()
	backendPeak := b.PeakBytes()

	res := &Result{
		Recompute:        o.Recompute,
		Backend:          b.Name(),
		Precision:        b.MatmulPrecision().String(),
		Arch:             mc.Arch,
		Stem:             mc.Stem,
		Width:            mc.Width,
		ImageSize:        imageSize,
		Channels:         mc.InChannels,
		BatchPairs:       o.BatchPairs,
		Warmup:           o.Warmup,
		Steps:            o.Steps,
		PairsPerS:        float64(o.BatchPairs*o.Steps) / total,
		MsPerStep:        1000 * total / float64(o.Steps),
		PeakBytes:        max(backendPeak, heapPeak),
		BackendPeakBytes: backendPeak,
		HeapPeakBytes:    heapPeak,
		FinalLoss:        loss,
		StepMs:           stepMs,
		CPUMsPerStep:     cpuMs,
		KernelTimes:      kernelRows,
		KernelMsPerStep:  kernelMsPerStep(kernelRows),
		Ranks:            1,
	}
	if tc != nil {
		res.Ranks = o.Comm.Size()
		res.CommMsPerStep = 1000 * tc.Seconds / float64(o.Steps)
		res.CommShare = tc.Seconds / total
		res.CommBytesPerStep = tc.Bytes / int64(o.Steps)
		res.CommCallsPerStep = tc.Calls / o.Steps
	}
	return res, nil
}

// checkRun reads back the losses of the steps (phases names each) and the
// optimizer's status record after them, in one host read, and returns the
// last step's loss; a non-finite loss or a failed check (whichever step
// comes first; the loss on a tie) is an error naming the step.
func checkRun(b backend.Backend, losses *tensor.Tensor, phases []string, opt optim.Optimizer) (float32, error) {
	n := len(phases)
	v := make([]float32, losses.Numel())
	if err := b.Download(v, losses); err != nil {
		return 0, fmt.Errorf("bench: read back the losses: %w", err)
	}
	f, err := backend.DecodeStatus(v[len(v)-backend.StatusWords:])
	if err != nil {
		return 0, fmt.Errorf("bench: read back the optimizer's check: %w", err)
	}
	for i, l := range v[:n] {
		if f != nil && f.Step <= i {
			break
		}
		if math.IsNaN(float64(l)) || math.IsInf(float64(l), 0) {
			return 0, fmt.Errorf("bench: %s: the loss is %v; check the input batch for NaN/Inf values, or lower the learning rate (--lr) if training diverged", phases[i], l)
		}
	}
	if f != nil {
		at := fmt.Sprintf("step %d", f.Step)
		if f.Step >= 1 && f.Step <= n {
			at = phases[f.Step-1]
		}
		return 0, fmt.Errorf("bench: %s: optimizer: %w", at, opt.FailureError(f))
	}
	if n == 0 {
		return 0, nil
	}
	return v[n-1], nil
}

// freeModel releases every tensor the model allocated on b.
func freeModel(b backend.Backend, m *model.SimCLR) {
	m.ReleaseBuffers()
	seen := make(map[*tensor.Tensor]bool)
	free := func(t *tensor.Tensor) {
		if t != nil && !seen[t] {
			seen[t] = true
			b.Free(t)
		}
	}
	for _, p := range m.Params() {
		free(p.Value)
		free(p.Grad)
	}
	for _, e := range m.StateDict() {
		free(e.F32)
	}
}

// checkArgs rejects every argument Run cannot use, naming the fix.
func checkArgs(b backend.Backend, mc model.Config, imageSize int, tau float32, optimizer OptimizerFactory, o Options) error {
	switch {
	case b == nil:
		return errors.New("backend is nil; pass cpu.New() or a device backend")
	case optimizer == nil:
		return errors.New("optimizer factory is nil; pass a function that calls optim.NewLARS, NewSGD or NewAdamW")
	case o.Steps < 1:
		return fmt.Errorf("steps %d must be at least 1", o.Steps)
	case o.Warmup < 0:
		return fmt.Errorf("warm-up steps %d must be >= 0", o.Warmup)
	case o.BatchPairs < 2 || o.BatchPairs > MaxBatchPairs:
		return fmt.Errorf("batch of %d pairs out of range; use 2..%d (NT-Xent needs at least one negative pair)", o.BatchPairs, MaxBatchPairs)
	case imageSize < MinImageSize || imageSize > MaxImageSize:
		return fmt.Errorf("image size %d out of range; use %d..%d pixels", imageSize, MinImageSize, MaxImageSize)
	case !(tau > 0) || math.IsInf(float64(tau), 0):
		return fmt.Errorf("temperature %v must be a finite number > 0 (SimCLR uses 0.1-0.5)", tau)
	case math.IsNaN(float64(o.LR)) || math.IsInf(float64(o.LR), 0) || o.LR < 0:
		return fmt.Errorf("learning rate %v must be finite and >= 0 (0 = %v)", o.LR, DefaultLR)
	}
	if _, ok := b.(backend.KernelTimer); o.KernelTimes && !ok {
		return fmt.Errorf("kernel times need a backend that times its kernels with device events (the CUDA backend); %s does not", b.Name())
	}
	if err := mc.Validate(); err != nil {
		return err
	}
	return nil
}

// syntheticBatch returns n values drawn from N(0,1), the range of
// normalised images, from a PCG seeded with seed.
func syntheticBatch(n int, seed int64) []float32 {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x62656e6368)) // stream "bench"
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// heapObjectsMetric is the Go runtime's count of bytes in heap objects (live
// and not yet swept), readable without stopping the world.
const heapObjectsMetric = "/memory/classes/heap/objects:bytes"

// heapSampler records the largest Go heap size seen by a background
// goroutine and by explicit sample calls.
type heapSampler struct {
	mu     sync.Mutex
	peak   int64
	s      []metrics.Sample
	done   chan struct{}
	wg     sync.WaitGroup
	closed bool
}

func startHeapSampler(every time.Duration) *heapSampler {
	h := &heapSampler{done: make(chan struct{})}
	h.s = []metrics.Sample{{Name: heapObjectsMetric}}
	h.sample()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-h.done:
				return
			case <-t.C:
				h.sample()
			}
		}
	}()
	return h
}

// sample reads the heap size once and keeps the maximum.
func (h *heapSampler) sample() {
	h.mu.Lock()
	defer h.mu.Unlock()
	metrics.Read(h.s)
	if h.s[0].Value.Kind() == metrics.KindUint64 {
		if v := int64(h.s[0].Value.Uint64()); v > h.peak {
			h.peak = v
		}
	}
}

// stop ends the background goroutine (once) and returns the peak.
func (h *heapSampler) stop() int64 {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
	h.mu.Unlock()
	h.wg.Wait()
	h.sample()
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.peak
}
