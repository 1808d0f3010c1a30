//go:build cuda || cudaemu

package cuda

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"simclr/internal/backend"
	"simclr/internal/tensor"
)

// Tensor is the backend's tensor type; device tensors keep their device
// pointer in Dev and leave Host nil.
type Tensor = tensor.Tensor

// Backend is the CUDA implementation of backend.Backend. Create it with
// New. Ops queue work on one stream; Download, the losses and the
// reductions wait for it. It is safe for concurrent use as long as callers
// do not write the same tensors.
type Backend struct {
	drv   driver
	pool  *memPool
	index int
	timer kernelTimer // off unless EnableKernelTimes(true)

	// prec is the matmul operand format (a backend.Precision), set by
	// SetMatmulPrecision.
	prec atomic.Int32
	// rung is the GEMM rung (a gemmRung: auto, ffma, tc128, tc64, tcgeneral), set by
	// SetGEMMRung or SIMCLR_CUDA_GEMM; tcShared guards raising the
	// tensor-core kernels' dynamic shared memory limit once.
	rung     atomic.Int32
	tcShared sync.Once
	tcErr    error
	// splitChunk overrides splitKChunk (the conv filter gradient's pixels
	// per split-K slice) when > 0; only tests set it (export_test.go), so
	// that small shapes exercise several slices.
	splitChunk atomic.Int32

	// debugSync makes every launch wait for the kernel and check for a
	// fault (EnableDebugSync, SIMCLR_CUDA_SYNC=1, --debug-sync).
	debugSync atomic.Bool

	// lars is LARSStep's device table, kept between steps; sumsq is
	// SumSquaresMulti's, mom MomentumStepMulti's. tablesMu guards them and
	// is held for each of those calls: two optimizers may share a backend
	// from two goroutines (the ranks of an in-process data-parallel test).
	tablesMu         sync.Mutex
	lars, sumsq, mom larsTable
	adamw            larsTable // AdamWStepMulti's (adamw_multi's layout)

	// stage holds Upload's pinned staging buffers (upload.go).
	stage stager

	// launchLog, when set (tests only), sees every launch with its op and
	// operand shapes before it is queued (the static performance model
	// records one training step through it).
	launchLog func(op, kernel string, grid, block dim3, shapes []tensor.Shape)

	mu     sync.Mutex
	owned  map[*Tensor]int64   // live tensors created by New -> bytes
	views  map[*Tensor]*Tensor // live views (View) -> the tensor from New they view
	closed bool
}

var _ backend.Backend = (*Backend)(nil)

// parseDevice turns "cuda", "cuda:N" or "auto" into a device index.
func parseDevice(device string) (int, error) {
	switch device {
	case "cuda", "auto", "":
		return 0, nil
	}
	if rest, ok := strings.CutPrefix(device, "cuda:"); ok {
		n, err := strconv.Atoi(rest)
		if err == nil && n >= 0 {
			return n, nil
		}
	}
	return 0, fmt.Errorf("cuda: device %q not understood; use \"cuda\", \"cuda:N\" (N >= 0) or \"auto\"", device)
}

// SyncEnv is the environment variable that turns on EnableDebugSync for
// every backend New opens ("1"; "0" or unset: off).
const SyncEnv = "SIMCLR_CUDA_SYNC"

// syncFromEnv reads SyncEnv.
func syncFromEnv() (bool, error) {
	v, ok := os.LookupEnv(SyncEnv)
	if !ok || v == "" {
		return false, nil
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("cuda: %s=%q not understood; set it to 1 (sync and check after every launch) or 0", SyncEnv, v)
	}
	return on, nil
}

// New opens the device ("cuda", "cuda:N" or "auto" = cuda:0), loads the
// kernels and checks that every kernel the backend needs is present.
// SIMCLR_CUDA_SYNC=1 turns on EnableDebugSync.
func New(device string) (*Backend, error) {
	idx, err := parseDevice(device)
	if err != nil {
		return nil, err
	}
	debugSync, err := syncFromEnv()
	if err != nil {
		return nil, err
	}
	drv, err := openDriver(idx)
	if err != nil {
		return nil, err
	}
	for _, k := range kernelNames {
		if !drv.hasKernel(k) {
			drv.close()
			return nil, fmt.Errorf("cuda: kernel %s missing from the kernel image; rebuild it with kernels/build.sh", k)
		}
	}
	rung, err := rungFromEnv()
	if err != nil {
		drv.close()
		return nil, err
	}
	b := &Backend{drv: drv, pool: newMemPool(drv), index: idx, owned: make(map[*Tensor]int64)}
	b.debugSync.Store(debugSync)
	b.rung.Store(int32(rung))
	return b, nil
}

// EnableDebugSync turns on (or off) a sync and error check after every
// kernel launch. Kernel faults (an illegal address, a misaligned access)
// are asynchronous: without it they surface at a later sync or copy and
// are reported against whatever op happened to wait. With it each fault is
// reported against the op and kernel that caused it, at the cost of one
// host wait per launch. For debugging only: throughput drops.
func (b *Backend) EnableDebugSync(on bool) { b.debugSync.Store(on) }

// DebugSync reports whether EnableDebugSync is on.
func (b *Backend) DebugSync() bool { return b.debugSync.Load() }

// Name returns "cuda:N".
func (b *Backend) Name() string { return "cuda:" + strconv.Itoa(b.index) }

// DeviceName describes the device the backend runs on.
func (b *Backend) DeviceName() string { return b.drv.name() }

// Close waits for queued work (collecting the kernel times still pending),
// frees all device memory and releases the device; tensors handed out
// become invalid.
func (b *Backend) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	for t := range b.owned {
		t.Dev = 0
	}
	for v := range b.views {
		v.Dev = 0
	}
	b.owned = make(map[*Tensor]int64)
	b.views = nil
	b.mu.Unlock()
	return errors.Join(b.Sync(), b.releaseStaging(), b.pool.close(), b.drv.close())
}

// New allocates a zeroed device tensor.
func (b *Backend) New(shape ...int) (*Tensor, error) {
	n := 1
	for i, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("cuda new: dimension %d of shape %v is negative; every size must be >= 0", i, tensor.Shape(shape))
		}
		if d > 0 && n > maxElements/d {
			return nil, fmt.Errorf("cuda new: shape %v has more than %d elements (the kernels index with 32-bit ints); use a smaller batch or image size", tensor.Shape(shape), maxElements)
		}
		n *= d
	}
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return nil, errors.New("cuda new: backend is closed; create a new one with cuda.New")
	}
	bytes := int64(n) * 4
	ptr, err := b.pool.get(bytes)
	if err != nil {
		return nil, fmt.Errorf("cuda new %v: %w", tensor.Shape(shape), err)
	}
	t := &Tensor{Shape: tensor.Shape(shape).Clone(), Dev: ptr}
	if err := b.fill(t, 0); err != nil {
		b.pool.put(ptr)
		return nil, err
	}
	b.mu.Lock()
	b.owned[t] = bytes
	b.mu.Unlock()
	return t, nil
}

// Free returns t's storage to the pool and clears t.Dev, so any later use
// of t is an error. Free(nil) and tensors of other backends are ignored.
func (b *Backend) Free(t *Tensor) {
	if t == nil {
		return
	}
	b.mu.Lock()
	_, ok := b.owned[t]
	delete(b.owned, t)
	if _, view := b.views[t]; view {
		delete(b.views, t) // a view owns no storage
	} else if ok {
		for v, root := range b.views {
			if root == t {
				v.Dev = 0
				delete(b.views, v)
			}
		}
	}
	b.mu.Unlock()
	if !ok {
		return
	}
	b.pool.put(t.Dev)
	t.Dev = 0
}

// View returns a tensor of shape over the first elements of t's device
// storage (no copy, no launch). It is valid while t is: freeing t
// invalidates its views, and Free of a view does nothing.
func (b *Backend) View(t *Tensor, shape ...int) (*Tensor, error) {
	if err := b.checkDev(backend.OpView, "t", t); err != nil {
		return nil, err
	}
	if err := backend.CheckView(t.Shape, shape); err != nil {
		return nil, err
	}
	v := &Tensor{Shape: tensor.Shape(shape).Clone(), Dev: t.Dev}
	b.mu.Lock()
	defer b.mu.Unlock()
	root := t
	if r, ok := b.views[t]; ok {
		root = r
	}
	if b.views == nil {
		b.views = make(map[*Tensor]*Tensor)
	}
	b.views[v] = root
	return v, nil
}

// PeakBytes is the largest number of bytes the backend held at once in
// tensors and scratch buffers (rounded to the pool's size classes).
func (b *Backend) PeakBytes() int64 {
	_, _, peak := b.pool.stats()
	return peak
}

// Download waits for queued work and copies src into dst.
func (b *Backend) Download(dst []float32, src *Tensor) error {
	const op = backend.OpDownload
	if err := b.checkDev(op, "src", src); err != nil {
		return err
	}
	if err := backend.CheckDownload(len(dst), src.Shape); err != nil {
		return err
	}
	if len(dst) == 0 {
		return nil
	}
	if err := b.drv.dtoh(unsafe.Pointer(&dst[0]), src.Dev, int64(len(dst))*4); err != nil {
		return fmt.Errorf("%s %v: %w", op, src.Shape, err)
	}
	return nil
}

// Zero sets every element of t to 0.
func (b *Backend) Zero(t *Tensor) error {
	if err := b.checkDev(backend.OpZero, "t", t); err != nil {
		return err
	}
	return b.fill(t, 0)
}

func (b *Backend) fill(t *Tensor, v float32) error {
	n := t.Numel()
	if n == 0 {
		return nil
	}
	return b.launch(backend.OpZero, "fill_f32", elemGrid(n), block1D(), args{}.ptr(t).f(v).i(n), t.Shape)
}

// Copy copies src into dst; both must hold the same number of elements.
func (b *Backend) Copy(dst, src *Tensor) error {
	const op = backend.OpCopy
	if err := b.checkDev(op, "dst src", dst, src); err != nil {
		return err
	}
	if err := backend.CheckCopy(dst.Shape, src.Shape); err != nil {
		return err
	}
	if dst.Numel() == 0 || dst.Dev == src.Dev {
		return nil
	}
	if err := b.drv.dtod(dst.Dev, src.Dev, int64(dst.Numel())*4); err != nil {
		return fmt.Errorf("%s %v: %w", op, src.Shape, err)
	}
	return nil
}

// Sync waits until all queued work is done, then collects the times of the
// launches timed since the last collection (see EnableKernelTimes).
func (b *Backend) Sync() error {
	if err := b.drv.sync(); err != nil {
		return err
	}
	return b.collectKernelTimes()
}

// launch runs a kernel, timed when kernel timing is on, and wraps any error
// with the op, kernel, launch shape and the operands' shapes. With debug
// sync on it then waits for the kernel, so that an asynchronous fault is
// reported here, against this op, rather than at a later sync.
func (b *Backend) launch(op, kernel string, grid, block dim3, a args, shapes ...tensor.Shape) error {
	return b.launchShared(op, kernel, grid, block, 0, a, shapes...)
}

// launchShared is launch with sharedBytes of dynamic shared memory per
// block.
func (b *Backend) launchShared(op, kernel string, grid, block dim3, sharedBytes int, a args, shapes ...tensor.Shape) error {
	if b.launchLog != nil {
		b.launchLog(op, kernel, grid, block, shapes)
	}
	var err error
	if b.timer.on.Load() {
		err = b.launchTimed(kernel, grid, block, sharedBytes, a)
	} else {
		err = b.drv.launchShared(kernel, grid, block, sharedBytes, a)
	}
	if err != nil {
		return fmt.Errorf("%s: kernel %s grid %v block %v on shapes %v: %w", op, kernel, grid, block, shapes, err)
	}
	if b.debugSync.Load() {
		if err := b.drv.sync(); err != nil {
			return fmt.Errorf("%s: kernel %s grid %v block %v on shapes %v failed on the device (debug sync after the launch): %w",
				op, kernel, grid, block, shapes, err)
		}
	}
	return nil
}

// scratch is a temporary device buffer from the pool.
type scratch struct {
	b   *Backend
	ptr uintptr
}

// scratch returns a temporary buffer of at least bytes bytes. The request
// is rounded up to 8 bytes so that the buffer starts 8-byte aligned in the
// emulator as on a GPU (cuMemAlloc aligns starts to 256 bytes; the emulator
// places each allocation flush against its guard page, so an odd size
// misaligned the float64 partials at the start of batch norm's scratch).
func (b *Backend) scratch(bytes int64) (scratch, error) {
	p, err := b.pool.get((bytes + 7) &^ 7)
	return scratch{b, p}, err
}

func (s scratch) release() { s.b.pool.put(s.ptr) }

// downloadF64 copies n float64 values from device memory.
func (b *Backend) downloadF64(src uintptr, n int) ([]float64, error) {
	out := make([]float64, n)
	if n == 0 {
		return out, nil
	}
	if err := b.drv.dtoh(unsafe.Pointer(&out[0]), src, int64(n)*8); err != nil {
		return nil, err
	}
	return out, nil
}

// checkDev is the cuda backend's residency check: it rejects nil tensors,
// host tensors, freed tensors and tensors of another backend. names lists
// the operands ts in order, separated by spaces; a name ending in "?" marks
// an optional operand, which may be nil. Shapes are checked afterwards by
// the backend package's shape inference.
func (b *Backend) checkDev(op, names string, ts ...*Tensor) error {
	for _, t := range ts {
		name, rest, _ := strings.Cut(names, " ")
		names = rest
		name, optional := strings.CutSuffix(name, "?")
		if t == nil && optional {
			continue
		}
		if err := b.checkDevTensor(op, name, t); err != nil {
			return err
		}
	}
	return nil
}

func (b *Backend) checkDevTensor(op, name string, t *Tensor) error {
	if t == nil {
		return fmt.Errorf("%s: %s is nil; pass a tensor created by the backend's New", op, name)
	}
	if t.Dev == 0 {
		if t.Host != nil {
			return fmt.Errorf("%s: %s %v is a host tensor; the cuda backend needs device tensors (create it with New and Upload the values)", op, name, t.Shape)
		}
		return fmt.Errorf("%s: %s %v has no device storage (freed, or not created by the cuda backend?)", op, name, t.Shape)
	}
	b.mu.Lock()
	_, ok := b.owned[t]
	if root, view := b.views[t]; view {
		_, ok = b.owned[root]
	}
	b.mu.Unlock()
	if !ok {
		return fmt.Errorf("%s: %s %v was not created by this cuda backend (or was freed); use its New", op, name, t.Shape)
	}
	return nil
}

// SetMatmulPrecision sets the operand format of the matrix products: the
// three convolution passes and the linear forward and backward GEMMs round
// both operands to p and accumulate the exact products in fp32 (the
// similarity matrix, batch norm, the loss and the optimizers stay fp32).
// TF32 and BF16 are tensor-core formats: they need compute capability 8.0
// or newer (the emulator counts as 9.0).
func (b *Backend) SetMatmulPrecision(p backend.Precision) error {
	switch p {
	case backend.FP32:
	case backend.TF32, backend.BF16:
		if cd, ok := b.drv.(ccDriver); ok {
			if major, minor := cd.computeCapability(); major < 8 {
				return fmt.Errorf("cuda: matmul precision %s needs tensor cores of compute capability 8.0 or newer; cuda:%d %s has compute capability %d.%d, which runs fp32 only: use fp32",
					p, b.index, b.drv.name(), major, minor)
			}
		}
	default:
		return fmt.Errorf("cuda: matmul precision %s not understood; use fp32, tf32 or bf16", p)
	}
	b.prec.Store(int32(p))
	return nil
}

// MatmulPrecision returns the operand format of the matrix products.
func (b *Backend) MatmulPrecision() backend.Precision { return backend.Precision(b.prec.Load()) }

// gemmKernel returns the variant of a conv/linear GEMM kernel for the
// current precision: base for fp32, base_tf32 or base_bf16.
func (b *Backend) gemmKernel(base string) string {
	switch backend.Precision(b.prec.Load()) {
	case backend.TF32:
		return base + "_tf32"
	case backend.BF16:
		return base + "_bf16"
	}
	return base
}
