// cuda_emu.h - a small CUDA emulation layer that lets g++ compile and run
// the project's kernels/*.cu source on the CPU (build tag cudaemu), and
// checks what compute-sanitizer would (docs/cuda.md, "The emulator as a
// sanitizer").
//
// Model:
//   * Blocks are spread over OS threads (std::thread workers pulling block
//     indices from an atomic counter); a worker runs one block at a time.
//   * Each CUDA thread of a block is a fiber with its own stack (on x86-64
//     a hand-written switch of the callee-saved registers, emu_ctx_switch in
//     emu_kernels.cc; elsewhere, and under ASan, ucontext makecontext/
//     swapcontext, which make a sigprocmask system call per switch and so
//     cost about 5x more). The worker's scheduler resumes every READY
//     fiber in turn, in the order CUDAEMU_ORDER names (index, reverse or a
//     seeded random permutation drawn afresh for every round); a fiber runs
//     until it finishes or reaches a barrier. __syncthreads() parks the
//     fiber until every unfinished fiber of the block is parked at the block
//     barrier; __syncwarp(mask) and the warp intrinsics park it until every
//     unfinished lane of mask is parked at the same warp operation with the
//     same mask. Unreachable barriers are reported as a deadlock, lanes of
//     one mask waiting at different warp operations as a divergent warp
//     collective.
//   * threadIdx/blockIdx/blockDim/gridDim are thread_local; the scheduler
//     sets threadIdx before resuming a fiber.
//   * Shared memory is declared with SHARED_ARRAY / SHARED_ARRAY2 /
//     DYNAMIC_SHARED (plain __shared__ arrays under nvcc, see
//     kernels/common.cuh). Here each is a tracked array: poisoned when a
//     block first touches it, and every element remembers its last writer
//     and its readers since then, with the barrier interval of each access.
//     Two accesses of different threads, at least one a write, with no
//     __syncthreads (or, within a warp, __syncwarp) between them are a race;
//     reading an element no thread of the block wrote is an uninitialised
//     read. A bare __shared__ does not compile in the emulator.
//   * Warp shuffles/votes go through a per-warp exchange buffer: write own
//     slot, warp barrier, read the source slot, warp barrier. A source lane
//     outside the mask or exited reads as poison; a lane calling with a mask
//     that lacks its own bit is an error.
//   * Device memory (emu_kernels.cc) is exact-size, placed flush against a
//     PROT_NONE guard page and poisoned; a fault on a guard page from a
//     fiber aborts the launch with kernel/block/thread/offset.
//   * Atomics map to GCC __atomic builtins (CAS loops for float/double).
// Any check that fails calls emu::fail: the message is kept, the block is
// abandoned and the launch returns an error.
// Limits: no cooperative groups, textures or streams (launches are
// synchronous), and it is slow (a context switch per barrier per thread):
// use small shapes.
#ifndef SIMCLR_CUDA_EMU_H
#define SIMCLR_CUDA_EMU_H

#include <signal.h>
#include <stddef.h>
#include <ucontext.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>  // the fiber API (EMU_ASAN_FIBERS)
#include <sanitizer/common_interface_defs.h>
#endif

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#define SIMCLR_EMU 1

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define EMU_STR2(x) #x
#define EMU_STR(x) EMU_STR2(x)
// __launch_bounds__(N) puts the kernel into the linker section emu_lb_N;
// the registry finds a kernel's bound from the section its address lies in
// (__start_emu_lb_N/__stop_emu_lb_N, for N a multiple of 32 up to 1024).
#define __launch_bounds__(n, ...) __attribute__((section("emu_lb_" EMU_STR(n)), noinline, used))
// Shared memory must go through the tracked macros below.
#define __shared__ _Pragma("GCC error \"use SHARED_ARRAY/SHARED_ARRAY2/DYNAMIC_SHARED (kernels/common.cuh), not a bare __shared__\"")

struct uint3 {
  unsigned x, y, z;
};

struct dim3 {
  unsigned x, y, z;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

inline thread_local uint3 threadIdx;
inline thread_local uint3 blockIdx;
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;

using std::isfinite;
using std::isinf;
using std::isnan;

namespace emu {

enum FiberState : uint8_t { READY, AT_BLOCK_BARRIER, AT_WARP_BARRIER, DONE, FAULTED };
// The warp operation a lane waits in.
enum WarpOp : uint8_t {
  OP_NONE,
  OP_SYNCWARP,
  OP_EXCHANGE,
  OP_EXCHANGE_DONE,
  OP_MMA,  // mma.sync (tensor-core primitives below)
  OP_MMA_DONE,
  OP_LDSM,  // ldmatrix.sync
  OP_LDSM_DONE
};

inline const char* op_name(WarpOp op) {
  switch (op) {
    case OP_SYNCWARP:
      return "__syncwarp";
    case OP_EXCHANGE:
    case OP_EXCHANGE_DONE:
      return "a shuffle/vote";
    case OP_MMA:
    case OP_MMA_DONE:
      return "mma.sync";
    case OP_LDSM:
    case OP_LDSM_DONE:
      return "ldmatrix.sync";
    default:
      return "nothing";
  }
}

// EMU_FAST_SWITCH: fibers switch with emu_ctx_switch (emu_kernels.cc), which
// saves and restores only what the SysV x86-64 ABI makes callee-saved (rbx,
// rbp, r12-r15, rsp, the MXCSR and x87 control words). glibc's swapcontext
// also saves the signal mask with a system call, which made it 80% of the
// emulator's time. Under ASan every switch is announced with the
// sanitizer's fiber API (EMU_ASAN_FIBERS), so that ASan knows which stack
// runs. Other architectures, or -DSIMCLR_EMU_UCONTEXT, use ucontext.
#if defined(__x86_64__) && !defined(SIMCLR_EMU_UCONTEXT)
#define EMU_FAST_SWITCH 1
#else
#define EMU_FAST_SWITCH 0
#endif
#if EMU_FAST_SWITCH && defined(__SANITIZE_ADDRESS__)
#define EMU_ASAN_FIBERS 1
#else
#define EMU_ASAN_FIBERS 0
#endif

#if EMU_FAST_SWITCH
// emu_ctx_switch saves the running context's stack pointer in *save and
// resumes the context whose stack pointer is next.
extern "C" void emu_ctx_switch(void** save, void* next);
#endif

struct Fiber {
#if EMU_FAST_SWITCH
  void* sp = nullptr;
  void* fake = nullptr;  // ASan's fake stack of the fiber while it is switched out
#else
  ucontext_t ctx;
#endif
  FiberState state;
  WarpOp op;
  unsigned mask;
  uint3 tid;
};

// Kernel thunk: unpacks 8-byte argument slots and calls the kernel.
typedef void (*Thunk)(const uint64_t* args);

// Poison: every 32-bit word is a float NaN and every 64-bit word a double
// NaN (high 12 bits set); the low bits tell where it came from.
const uint32_t kGlobalPoison = 0xFFFA5A5Au;  // fresh device memory
const uint32_t kSharedPoison = 0xFFF5A4EDu;  // shared memory at block start
const uint32_t kWarpPoison = 0xFFFB0B0Bu;    // shuffle from a lane outside the mask or exited
const size_t kMaxStaticShared = 48 * 1024;
const size_t kMaxDynamicShared = 227 * 1024;  // sm_90 opt-in limit

// Access is one shared-memory access: linear thread id (-1: none), the
// block-barrier interval and the warp's __syncwarp interval it happened in.
struct Access {
  int32_t tid;
  uint32_t bepoch;
  uint32_t wepoch;
};

// Shadow is one shared element's history since the last write.
struct Shadow {
  Access w, r1, r2;
};

enum Order { ORDER_INDEX, ORDER_REVERSE, ORDER_RANDOM };

// PendingCopy is one cp.async in flight: the source bytes (read, and
// bounds-checked, when it was issued) and its destination in a shared
// array, written when a cp.async.wait_group of the issuing thread covers
// its group. Until then the destination elements read as in flight.
struct PendingCopy {
  const char* name;
  unsigned char* data;
  Shadow* shadow;
  size_t elemSize, rowLen;
  size_t elem0, nelem;
  uint32_t group;  // the issuing thread's commit count when it was issued
  unsigned char bytes[16];
};

// Bytes per lane of a warp collective's slot (mma fragments, ldmatrix
// addresses).
const size_t kWarpSlot = 64;

struct SharedRegion;

// Worker holds one OS thread's scheduler state for the block it runs.
struct Worker {
#if EMU_FAST_SWITCH
  void* sched = nullptr;  // the scheduler's saved stack pointer
  void* discard = nullptr;  // where a context that is abandoned saves its own
  // ASan (EMU_ASAN_FIBERS): the scheduler's fake stack while a fiber runs,
  // and the scheduler thread's stack, learnt when a fiber first starts.
  void* schedFake = nullptr;
  const void* schedBottom = nullptr;
  size_t schedSize = 0;
#else
  ucontext_t sched;
#endif
  std::vector<Fiber> fibers;
  char* stacks = nullptr;
  size_t stackSize = 0;
  int current = 0;
  int nthreads = 0;
  std::vector<uint64_t> exchange;  // 32 slots per warp
  std::vector<uint8_t> published;  // lane wrote its exchange slot for the current operation
  std::vector<unsigned char> wslots;                // kWarpSlot bytes per thread (warp_all)
  std::vector<std::vector<PendingCopy>> pending;  // per thread: its cp.async copies in flight
  std::vector<uint32_t> committed;                // per thread: cp.async.commit_group count
  Thunk thunk = nullptr;
  const uint64_t* args = nullptr;
  const char* kernel = "";
  uint64_t blockSerial = 0;      // unique per block run: shared arrays re-poison when it changes
  uint32_t bepoch = 0;           // __syncthreads releases so far in this block
  std::vector<uint32_t> wepoch;  // __syncwarp releases per warp
  int order = ORDER_INDEX;
  uint64_t seed = 0, rng = 0;
  std::vector<int> perm;
  size_t staticShared = 0;  // bytes of static shared arrays this block touched
  // Dynamic shared memory (extern __shared__): sharedBytes of the launch.
  size_t dynBytes = 0;
  std::vector<unsigned char> dyn;
  std::vector<Shadow> dynShadow;
  size_t dynElem = 0;
  uint64_t dynSerial = 0;
  // Faults: set by the signal handler or fail().
  volatile sig_atomic_t inFiber = 0;
  uintptr_t faultAddr = 0;
  int faultWrite = -1;  // 1 write, 0 read, -1 unknown
  bool failed = false;
  char err[1024] = {0};
};

inline thread_local Worker* tw = nullptr;
inline std::atomic<uint64_t> g_blockSerial{0};

inline int linear_tid() {
  return (int)(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z));
}

inline uint3 tid3(int t) {
  uint3 r;
  r.x = (unsigned)t % blockDim.x;
  r.y = ((unsigned)t / blockDim.x) % blockDim.y;
  r.z = (unsigned)t / (blockDim.x * blockDim.y);
  return r;
}

// vfail_at formats the first failure of the block: kernel, block, the
// thread t (or none when t < 0) and the message.
inline void vfail_at(Worker* w, int t, const char* fmt, va_list ap) {
  if (w->failed) return;
  w->failed = true;
  int k;
  if (t >= 0) {
    const uint3 id = tid3(t);
    k = std::snprintf(w->err, sizeof w->err, "kernel %s: block (%u,%u,%u) thread (%u,%u,%u): ", w->kernel, blockIdx.x,
                      blockIdx.y, blockIdx.z, id.x, id.y, id.z);
  } else {
    k = std::snprintf(w->err, sizeof w->err, "kernel %s: block (%u,%u,%u): ", w->kernel, blockIdx.x, blockIdx.y,
                      blockIdx.z);
  }
  if (k < 0) k = 0;
  if ((size_t)k < sizeof w->err) std::vsnprintf(w->err + k, sizeof w->err - k, fmt, ap);
}

// sched_fail records a failure found by the scheduler (outside any fiber).
__attribute__((format(printf, 2, 3))) inline void sched_fail(Worker* w, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail_at(w, -1, fmt, ap);
  va_end(ap);
}

// to_scheduler abandons the running fiber (or the signal handler running on
// its behalf) and resumes the worker's scheduler.
[[noreturn]] inline void to_scheduler(Worker* w) {
#if EMU_FAST_SWITCH
#if EMU_ASAN_FIBERS
  __sanitizer_start_switch_fiber(nullptr, w->schedBottom, w->schedSize);  // this stack is done
#endif
  emu_ctx_switch(&w->discard, w->sched);
#else
  setcontext(&w->sched);
#endif
  std::abort();  // neither returns
}

// fail records a failure of the running CUDA thread and abandons its block:
// control goes back to the scheduler, which stops the launch.
__attribute__((format(printf, 1, 2), noreturn)) inline void fail(const char* fmt, ...) {
  Worker* w = tw;
  va_list ap;
  va_start(ap, fmt);
  vfail_at(w, w->current, fmt, ap);
  va_end(ap);
  w->fibers[w->current].state = FAULTED;
  w->inFiber = 0;
  to_scheduler(w);
}

// park switches from the running fiber back to the scheduler.
__attribute__((noinline)) inline void park(FiberState st, WarpOp op = OP_NONE, unsigned mask = 0) {
  Worker* w = tw;
  Fiber& f = w->fibers[w->current];
  f.state = st;
  f.op = op;
  f.mask = mask;
  w->inFiber = 0;
#if EMU_FAST_SWITCH
#if EMU_ASAN_FIBERS
  __sanitizer_start_switch_fiber(&f.fake, w->schedBottom, w->schedSize);
#endif
  emu_ctx_switch(&f.sp, w->sched);
#if EMU_ASAN_FIBERS
  __sanitizer_finish_switch_fiber(f.fake, &w->schedBottom, &w->schedSize);
#endif
#else
  swapcontext(&f.ctx, &w->sched);
#endif
}

inline void fiber_main() {
  Worker* w = tw;
  w->thunk(w->args);
  w->fibers[w->current].state = DONE;
  w->inFiber = 0;
  // returning resumes uc_link, the scheduler (fiber_entry with the fast
  // switch)
}

#if EMU_FAST_SWITCH
// fiber_entry is where a new fiber's first switch returns to: it runs the
// kernel thread and then resumes the scheduler for good.
[[noreturn]] inline void fiber_entry() {
#if EMU_ASAN_FIBERS
  Worker* w = tw;
  __sanitizer_finish_switch_fiber(nullptr, &w->schedBottom, &w->schedSize);
#endif
  fiber_main();
  to_scheduler(tw);
}

// fiber_init lays out a fresh stack so that emu_ctx_switch to the returned
// stack pointer "returns" into fiber_entry with the ABI's alignment
// (rsp = 8 mod 16 at entry) and the scheduler's floating-point control
// words. The frame matches emu_ctx_switch: control words (16 bytes), r15,
// r14, r13, r12, rbx, rbp, return address.
inline void* fiber_init(char* stack, size_t size) {
  uintptr_t top = (reinterpret_cast<uintptr_t>(stack) + size) & ~uintptr_t(15);
  uint64_t* p = reinterpret_cast<uint64_t*>(top);
  *--p = 0;  // fiber_entry's (never used) return address
  *--p = reinterpret_cast<uint64_t>(&fiber_entry);
  for (int i = 0; i < 6; ++i) *--p = 0;  // rbp, rbx, r12-r15
  uint32_t mxcsr;
  uint16_t fcw;
  __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
  __asm__ volatile("fnstcw %0" : "=m"(fcw));
  *--p = mxcsr;  // at +8 of the frame (upper half of the word: unused)
  *--p = fcw;    // at +0
  return p;
}
#endif

inline uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// describe_fault formats a guard-page fault at addr (emu_kernels.cc knows
// the allocations).
void describe_fault(uintptr_t addr, int write, char* buf, size_t len);

enum BlockResult { BLOCK_OK, BLOCK_DEADLOCK, BLOCK_FAULT };

// release_warps releases every warp operation whose mask's lanes are all
// waiting in it (or exited). It returns false after a failure.
inline bool release_warps(Worker* w, int n, bool* released) {
  const int nwarps = (n + 31) / 32;
  for (int wp = 0; wp < nwarps; ++wp) {
    const int lo = wp * 32, hi = std::min(n, lo + 32);
    for (int i = lo; i < hi; ++i) {
      Fiber& f = w->fibers[i];
      if (f.state != AT_WARP_BARRIER) continue;
      bool ready = true;
      for (int l = 0; l < 32; ++l) {
        if (!(f.mask >> l & 1u)) continue;
        const int j = lo + l;
        if (j >= hi) continue;  // no such thread: counts as exited
        const Fiber& g = w->fibers[j];
        if (g.state == DONE) continue;
        if (g.state == AT_WARP_BARRIER) {
          if (g.mask != f.mask || g.op != f.op) {
            const uint3 a = tid3(i), b = tid3(j);
            sched_fail(w,
                       "divergent warp collective: thread (%u,%u,%u) waits in %s with mask 0x%08x while thread "
                       "(%u,%u,%u) waits in %s with mask 0x%08x",
                       a.x, a.y, a.z, op_name(f.op), f.mask, b.x, b.y, b.z, op_name(g.op), g.mask);
            return false;
          }
          continue;
        }
        ready = false;  // at a block barrier: this group waits
        break;
      }
      if (!ready) continue;
      const unsigned mask = f.mask;
      const WarpOp op = f.op;
      for (int l = 0; l < 32; ++l) {
        const int j = lo + l;
        if (j < hi && (mask >> l & 1u) && w->fibers[j].state == AT_WARP_BARRIER) w->fibers[j].state = READY;
      }
      if (op == OP_SYNCWARP) w->wepoch[wp]++;
      *released = true;
    }
  }
  return true;
}

// run_block runs every thread of the current block to completion.
inline BlockResult run_block(Worker* w) {
  const int n = (int)(blockDim.x * blockDim.y * blockDim.z);
  const int nwarps = (n + 31) / 32;
  w->nthreads = n;
  w->fibers.resize(n);
  w->exchange.assign((size_t)nwarps * 32, 0);
  w->published.assign((size_t)nwarps * 32, 0);
  w->wslots.assign((size_t)nwarps * 32 * kWarpSlot, 0);
  w->pending.resize(n);
  for (auto& q : w->pending) q.clear();
  w->committed.assign(n, 0);
  w->wepoch.assign(nwarps, 0);
  w->bepoch = 0;
  w->blockSerial = g_blockSerial.fetch_add(1) + 1;
  w->staticShared = 0;
  w->perm.resize(n);
  const uint64_t blk = blockIdx.x + (uint64_t)gridDim.x * (blockIdx.y + (uint64_t)gridDim.y * blockIdx.z);
  w->rng = w->seed ^ (blk * 0xD1B54A32D192ED03ull);
  for (int i = 0; i < n; ++i) w->perm[i] = w->order == ORDER_REVERSE ? n - 1 - i : i;
  for (int i = 0; i < n; ++i) {
    Fiber& f = w->fibers[i];
    f.state = READY;
    f.op = OP_NONE;
    f.mask = 0;
    f.tid = tid3(i);
#if EMU_FAST_SWITCH
#if EMU_ASAN_FIBERS
    // Frames a failed block abandoned leave their redzones poisoned.
    ASAN_UNPOISON_MEMORY_REGION(w->stacks + (size_t)i * w->stackSize, w->stackSize);
    f.fake = nullptr;
#endif
    f.sp = fiber_init(w->stacks + (size_t)i * w->stackSize, w->stackSize);
#else
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = w->stacks + (size_t)i * w->stackSize;
    f.ctx.uc_stack.ss_size = w->stackSize;
    f.ctx.uc_link = &w->sched;
    makecontext(&f.ctx, fiber_main, 0);
#endif
  }
  for (;;) {
    if (w->order == ORDER_RANDOM) {
      for (int i = n - 1; i > 0; --i) std::swap(w->perm[i], w->perm[splitmix(w->rng) % (uint64_t)(i + 1)]);
    }
    for (int k = 0; k < n; ++k) {
      const int i = w->perm[k];
      Fiber& f = w->fibers[i];
      if (f.state != READY) continue;
      w->current = i;
      threadIdx = f.tid;
      w->inFiber = 1;
#if EMU_FAST_SWITCH
#if EMU_ASAN_FIBERS
      __sanitizer_start_switch_fiber(&w->schedFake, w->stacks + (size_t)i * w->stackSize, w->stackSize);
#endif
      emu_ctx_switch(&w->sched, f.sp);
#if EMU_ASAN_FIBERS
      __sanitizer_finish_switch_fiber(w->schedFake, nullptr, nullptr);
#endif
#else
      swapcontext(&w->sched, &f.ctx);
#endif
      w->inFiber = 0;
      if (f.state == FAULTED) {
        if (!w->failed) {  // from the signal handler
          char what[512];
          describe_fault(w->faultAddr, w->faultWrite, what, sizeof what);
          w->current = i;
          const uint3 id = f.tid;
          std::snprintf(w->err, sizeof w->err, "kernel %s: block (%u,%u,%u) thread (%u,%u,%u): %s", w->kernel,
                        blockIdx.x, blockIdx.y, blockIdx.z, id.x, id.y, id.z, what);
          w->failed = true;
        }
        return BLOCK_FAULT;
      }
    }
    bool released = false;
    if (!release_warps(w, n, &released)) return BLOCK_FAULT;
    if (released) continue;
    bool allDone = true, allAtBlock = true;
    for (int i = 0; i < n; ++i) {
      const FiberState st = w->fibers[i].state;
      if (st != DONE) allDone = false;
      if (st != DONE && st != AT_BLOCK_BARRIER) allAtBlock = false;
    }
    if (allDone) return BLOCK_OK;
    if (!allAtBlock) return BLOCK_DEADLOCK;
    for (int i = 0; i < n; ++i)
      if (w->fibers[i].state == AT_BLOCK_BARRIER) w->fibers[i].state = READY;
    w->bepoch++;
  }
}

// ---- warp operations ----

inline void check_mask(unsigned mask, const char* op) {
  const int lane = linear_tid() & 31;
  if (!(mask >> lane & 1u)) fail("%s with mask 0x%08x, which does not include the caller's own lane %d", op, mask, lane);
}

// exchange_raw publishes slot for the warp, waits for the mask's lanes,
// reads lane src's slot (poison when src is outside mask or exited) and
// waits again so the buffer can be reused.
inline uint64_t exchange_raw(uint64_t slot, int src, unsigned mask) {
  Worker* w = tw;
  const int t = linear_tid();
  const int base = t & ~31;
  w->exchange[t] = slot;
  w->published[t] = 1;
  park(AT_WARP_BARRIER, OP_EXCHANGE, mask);
  const int idx = base + src;
  uint64_t got = (uint64_t)kWarpPoison << 32 | kWarpPoison;
  if (src >= 0 && src < 32 && (mask >> src & 1u) && idx < w->nthreads && w->published[idx]) got = w->exchange[idx];
  park(AT_WARP_BARRIER, OP_EXCHANGE_DONE, mask);
  w->published[t] = 0;
  return got;
}

template <class T>
inline T exchange(T v, int src, unsigned mask, const char* op) {
  static_assert(sizeof(T) <= 8, "warp exchange holds 8-byte values");
  check_mask(mask, op);
  uint64_t slot = 0;
  std::memcpy(&slot, &v, sizeof(T));
  const uint64_t got = exchange_raw(slot, src, mask);
  T r;
  std::memcpy(&r, &got, sizeof(T));
  return r;
}

// vote returns the bits of the lanes of mask whose pred is non-zero, and
// in *alive the lanes of mask that took part (not exited).
inline unsigned vote(unsigned mask, int pred, const char* op, unsigned* alive) {
  Worker* w = tw;
  check_mask(mask, op);
  const int t = linear_tid();
  const int base = t & ~31;
  w->exchange[t] = pred ? 1 : 0;
  w->published[t] = 1;
  park(AT_WARP_BARRIER, OP_EXCHANGE, mask);
  unsigned bits = 0, live = 0;
  for (int l = 0; l < 32; ++l) {
    const int j = base + l;
    if (!(mask >> l & 1u) || j >= w->nthreads || !w->published[j]) continue;
    live |= 1u << l;
    if (w->exchange[j]) bits |= 1u << l;
  }
  park(AT_WARP_BARRIER, OP_EXCHANGE_DONE, mask);
  w->published[t] = 0;
  *alive = live;
  return bits;
}

// ---- shared memory ----

// SharedRegion is one shared array (static or dynamic) with its shadow.
struct SharedRegion {
  const char* name;
  unsigned char* data;
  Shadow* shadow;
  size_t count;     // elements
  size_t elemSize;  // bytes per element
  size_t rowLen;    // > 0: a 2-D array with rows of rowLen elements
  bool isStatic;
  uint64_t serial;  // the block that last poisoned it
};

inline void poison_words(unsigned char* p, size_t bytes, uint32_t word) {
  size_t i = 0;
  for (; i + 4 <= bytes; i += 4) std::memcpy(p + i, &word, 4);
  for (; i < bytes; ++i) p[i] = (unsigned char)(word >> (8 * (i & 3)));
}

// touch poisons r and clears its history the first time the current block
// uses it, and counts a static array against the 48 KB limit.
inline void touch(SharedRegion& r) {
  Worker* w = tw;
  if (r.serial == w->blockSerial) return;
  r.serial = w->blockSerial;
  poison_words(r.data, r.count * r.elemSize, kSharedPoison);
  const Access none{-1, 0, 0};
  for (size_t i = 0; i < r.count; ++i) r.shadow[i] = Shadow{none, none, none};
  if (r.isStatic) {
    w->staticShared += r.count * r.elemSize;
    if (w->staticShared > kMaxStaticShared)
      fail("static shared memory of the block reaches %zu bytes with %s, above the 48 KB limit; use DYNAMIC_SHARED and "
           "raise the kernel's dynamic shared limit",
           w->staticShared, r.name);
  }
}

inline void element_name(const SharedRegion& r, size_t i, char* buf, size_t len) {
  if (r.rowLen > 0)
    std::snprintf(buf, len, "%s[%zu][%zu]", r.name, i / r.rowLen, i % r.rowLen);
  else
    std::snprintf(buf, len, "%s[%zu]", r.name, i);
}

inline Access now_access() {
  Worker* w = tw;
  const int t = linear_tid();
  return Access{t, w->bepoch, w->wepoch[t >> 5]};
}

// ordered reports whether access a happens before the current access c:
// the same thread, a __syncthreads between them, or the same warp with a
// __syncwarp between them.
inline bool ordered(const Access& a, const Access& c) {
  if (a.tid < 0 || a.tid == c.tid || a.bepoch < c.bepoch) return true;
  return (a.tid >> 5) == (c.tid >> 5) && a.wepoch < c.wepoch;
}

[[noreturn]] inline void race(const SharedRegion& r, size_t i, const Access& prev, const char* prevKind,
                              const char* curKind) {
  char el[96];
  element_name(r, i, el, sizeof el);
  const uint3 p = tid3(prev.tid);
  fail("shared-memory race on %s: this thread %s it and thread (%u,%u,%u) %s it with no __syncthreads()/__syncwarp() "
       "in between",
       el, curKind, p.x, p.y, p.z, prevKind);
}

// A shadow writer id of -2 - t marks an element that a cp.async of thread
// t will write once a wait_group covers it.
inline bool in_flight(const Access& a) { return a.tid <= -2; }

[[noreturn]] inline void in_flight_fail(const SharedRegion& r, size_t i, const char* what) {
  char el[96];
  element_name(r, i, el, sizeof el);
  const uint3 p = tid3(-2 - r.shadow[i].w.tid);
  fail("shared-memory %s %s while the cp.async of thread (%u,%u,%u) into it is still in flight: no "
       "cp.async.wait_group of that thread has covered its group yet (and a __syncthreads after it, for other threads)",
       what, el, p.x, p.y, p.z);
}

inline void shared_read(SharedRegion& r, size_t i) {
  Shadow& s = r.shadow[i];
  const Access c = now_access();
  if (in_flight(s.w)) in_flight_fail(r, i, "read of");
  if (s.w.tid < 0) {
    char el[96];
    element_name(r, i, el, sizeof el);
    fail("uninitialised shared-memory read of %s: no thread of this block has written it", el);
  }
  if (!ordered(s.w, c)) race(r, i, s.w, "wrote", "reads");
  if (s.r1.tid < 0 || s.r1.tid == c.tid || ordered(s.r1, c)) {
    s.r1 = c;
  } else {
    s.r2 = c;
  }
}

inline void shared_write(SharedRegion& r, size_t i) {
  Shadow& s = r.shadow[i];
  const Access c = now_access();
  if (in_flight(s.w)) in_flight_fail(r, i, "write of");
  if (!ordered(s.w, c)) race(r, i, s.w, "wrote", "writes");
  if (!ordered(s.r1, c)) race(r, i, s.r1, "read", "writes");
  if (!ordered(s.r2, c)) race(r, i, s.r2, "read", "writes");
  s.w = c;
  s.r1 = s.r2 = Access{-1, 0, 0};
}

// Elem is a reference to one tracked shared element.
template <class T>
struct Elem {
  SharedRegion* r;
  size_t i;
  T* p() const { return reinterpret_cast<T*>(r->data) + i; }
  operator T() const {
    shared_read(*r, i);
    return *p();
  }
  Elem& operator=(T v) {
    shared_write(*r, i);
    *p() = v;
    return *this;
  }
  Elem& operator=(const Elem& o) { return *this = static_cast<T>(o); }
  Elem& operator+=(T v) { return *this = static_cast<T>(*this) + v; }
  Elem& operator-=(T v) { return *this = static_cast<T>(*this) - v; }
  Elem& operator*=(T v) { return *this = static_cast<T>(*this) * v; }
};

inline void index_check(const SharedRegion& r, long i, long n, const char* dim) {
  if (i < 0 || i >= n) fail("shared array %s: %s index %ld out of bounds [0,%ld)", r.name, dim, i, n);
}

template <class T, int N>
struct SharedArray {
  alignas(16) T data[N];
  std::vector<Shadow> shadow;
  SharedRegion reg;
  explicit SharedArray(const char* name) : shadow(N) {
    reg = SharedRegion{name, reinterpret_cast<unsigned char*>(data), shadow.data(), (size_t)N, sizeof(T), 0, true, 0};
  }
  SharedArray(const SharedArray&) = delete;
  SharedArray& operator=(const SharedArray&) = delete;
  Elem<T> operator[](long i) {
    touch(reg);
    index_check(reg, i, N, "");
    return Elem<T>{&reg, (size_t)i};
  }
};

template <class T, int N, int M>
struct SharedArray2 {
  alignas(16) T data[N * M];
  std::vector<Shadow> shadow;
  SharedRegion reg;
  struct Row {
    SharedRegion* r;
    long i;
    Elem<T> operator[](long j) const {
      index_check(*r, j, M, "column");
      return Elem<T>{r, (size_t)(i * M + j)};
    }
  };
  explicit SharedArray2(const char* name) : shadow((size_t)N * M) {
    reg = SharedRegion{name, reinterpret_cast<unsigned char*>(data), shadow.data(), (size_t)N * M, sizeof(T), M, true, 0};
  }
  SharedArray2(const SharedArray2&) = delete;
  SharedArray2& operator=(const SharedArray2&) = delete;
  Row operator[](long i) {
    touch(reg);
    index_check(reg, i, N, "row");
    return Row{&reg, i};
  }
};

// DynShared is the kernel's view of its dynamic shared memory (the launch's
// sharedBytes) as an array of T.
template <class T>
struct DynShared {
  SharedRegion reg;
  explicit DynShared(const char* name) {
    Worker* w = tw;
    if (w->dynElem != 0 && w->dynElem != sizeof(T))
      fail("dynamic shared memory %s viewed with %zu-byte elements after %zu-byte ones; use one element type", name,
           sizeof(T), w->dynElem);
    w->dynElem = sizeof(T);
    const size_t count = w->dynBytes / sizeof(T);
    if (w->dynShadow.size() < count) w->dynShadow.resize(count);
    reg = SharedRegion{name, w->dyn.data(), w->dynShadow.data(), count, sizeof(T), 0, false, 0};
    if (w->dynSerial != w->blockSerial) {
      touch(reg);
      w->dynSerial = w->blockSerial;
    }
    reg.serial = w->blockSerial;
  }
  Elem<T> operator[](long i) {
    index_check(reg, i, (long)reg.count, "dynamic shared");
    return Elem<T>{&reg, (size_t)i};
  }
};

// region returns the tracked array behind a kernel's shared array (the
// tensor-core primitives take the array and an element offset).
template <class T, int N>
inline SharedRegion& region(SharedArray<T, N>& a) {
  touch(a.reg);
  return a.reg;
}
template <class T, int N, int M>
inline SharedRegion& region(SharedArray2<T, N, M>& a) {
  touch(a.reg);
  return a.reg;
}
template <class T>
inline SharedRegion& region(DynShared<T>& a) {
  return a.reg;
}

}  // namespace emu

#define SHARED_ARRAY(T, name, n) static thread_local emu::SharedArray<T, (n)> name(#name)
#define SHARED_ARRAY2(T, name, n, m) static thread_local emu::SharedArray2<T, (n), (m)> name(#name)
#define DYNAMIC_SHARED(T, name) emu::DynShared<T> name(#name)

inline void __syncthreads() { emu::park(emu::AT_BLOCK_BARRIER); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  emu::check_mask(mask, "__syncwarp");
  emu::park(emu::AT_WARP_BARRIER, emu::OP_SYNCWARP, mask);
}
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

template <class T>
inline T __shfl_sync(unsigned mask, T v, int srcLane, int width = 32) {
  const int lane = emu::linear_tid() & 31;
  return emu::exchange(v, (lane & ~(width - 1)) + (srcLane & (width - 1)), mask, "__shfl_sync");
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T v, int laneMask, int width = 32) {
  const int lane = emu::linear_tid() & 31;
  int src = lane ^ laneMask;
  if ((src & ~(width - 1)) != (lane & ~(width - 1))) src = lane;
  return emu::exchange(v, src, mask, "__shfl_xor_sync");
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  const int lane = emu::linear_tid() & 31;
  int src = lane + (int)delta;
  if ((src & ~(width - 1)) != (lane & ~(width - 1))) src = lane;
  return emu::exchange(v, src, mask, "__shfl_down_sync");
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  const int lane = emu::linear_tid() & 31;
  int src = lane - (int)delta;
  if (src < (lane & ~(width - 1))) src = lane;
  return emu::exchange(v, src, mask, "__shfl_up_sync");
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
  unsigned alive;
  return emu::vote(mask, pred, "__ballot_sync", &alive);
}
inline int __any_sync(unsigned mask, int pred) {
  unsigned alive;
  return emu::vote(mask, pred, "__any_sync", &alive) != 0;
}
inline int __all_sync(unsigned mask, int pred) {
  unsigned alive;
  return emu::vote(mask, pred, "__all_sync", &alive) == alive;
}

// Atomics.
inline int atomicAdd(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicAdd(unsigned* p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
  return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}
template <class F, class U>
inline F emu_atomic_float_add(F* p, F v) {
  U* up = reinterpret_cast<U*>(p);
  U old = __atomic_load_n(up, __ATOMIC_SEQ_CST);
  for (;;) {
    F f;
    std::memcpy(&f, &old, sizeof(F));
    F nf = f + v;
    U nu;
    std::memcpy(&nu, &nf, sizeof(F));
    if (__atomic_compare_exchange_n(up, &old, nu, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) return f;
  }
}
inline float atomicAdd(float* p, float v) { return emu_atomic_float_add<float, uint32_t>(p, v); }
inline double atomicAdd(double* p, double v) { return emu_atomic_float_add<double, uint64_t>(p, v); }
template <class Pick>
inline int emu_atomic_pick(int* p, int v, Pick pick) {
  int old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
  while (!__atomic_compare_exchange_n(p, &old, pick(old, v), false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
  }
  return old;
}
inline int atomicMax(int* p, int v) {
  return emu_atomic_pick(p, v, [](int a, int b) { return a > b ? a : b; });
}
inline int atomicMin(int* p, int v) {
  return emu_atomic_pick(p, v, [](int a, int b) { return a < b ? a : b; });
}
inline int atomicExch(int* p, int v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
inline int atomicCAS(int* p, int cmp, int v) {
  __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return cmp;
}

// Math intrinsics (IEEE float ops; the emulator is compiled with
// fp-contract=off unless SIMCLR_EMU_FP_CONTRACT is set, so nothing is fused
// behind our back).
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __fdividef(float a, float b) { return a / b; }
// emu_round keeps a rounded result opaque to the optimiser, so that even a
// -ffp-contract=fast build never fuses __fmul_rn into a following add (the
// device never contracts the _rn intrinsics).
inline float emu_round(float x) {
#if defined(__x86_64__)
  __asm__("" : "+x"(x));
#else
  __asm__("" : "+m"(x));
#endif
  return x;
}
inline float __fmul_rn(float a, float b) { return emu_round(a * b); }
inline float __fadd_rn(float a, float b) { return emu_round(a + b); }
inline float __fsub_rn(float a, float b) { return emu_round(a - b); }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return sqrtf(a); }
inline float __frcp_rn(float a) { return 1.0f / a; }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline int __float_as_int(float f) {
  int i;
  std::memcpy(&i, &f, 4);
  return i;
}
inline float __int_as_float(int i) {
  float f;
  std::memcpy(&f, &i, 4);
  return f;
}
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// ---- reduced-precision conversions (kernels/mma.cuh) ----
// Bit-exact models of the PTX conversions, the same arithmetic as
// backend.RoundTF32 / backend.RoundBF16 on the Go side.
namespace emu {
inline uint32_t f2u(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float u2f(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
// cvt_rna_tf32 is cvt.rna.tf32.f32: 10 mantissa bits, to nearest, ties away
// from zero (add half an ulp of the kept part to the magnitude bits, then
// truncate); Inf stays, NaN stays NaN (quiet).
inline float cvt_rna_tf32(float x) {
  const uint32_t b = f2u(x);
  if ((b & 0x7f800000u) == 0x7f800000u) return (b & 0x007fffffu) ? u2f((b | 0x00400000u) & 0xffffe000u) : x;
  return u2f((b + 0x1000u) & 0xffffe000u);
}
// cvt_rn_bf16 is cvt.rn.bf16.f32: 7 mantissa bits, to nearest, ties to even
// (add 0x7fff plus the lowest kept bit, then truncate); NaN stays NaN.
inline uint16_t cvt_rn_bf16(float x) {
  const uint32_t b = f2u(x);
  if ((b & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((b | 0x00400000u) >> 16);
  return (uint16_t)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}
inline float bf16_bits_to_f32(uint16_t h) { return u2f((uint32_t)h << 16); }
}  // namespace emu

// ---- tensor-core primitives (kernels/mma.cuh) ----
//
// mma.sync and ldmatrix.sync are .aligned warp collectives: every lane of
// the warp must execute the same instruction. Here each lane publishes its
// operands (fragments or row addresses) in its warp slot and waits for the
// whole warp (a lane that has exited, or that waits in another warp
// operation, is reported); then each lane computes its own result from
// every lane's slot, following the fragment layouts of the PTX ISA
// ("Matrix fragments for mma.m16n8k16 / mma.m16n8k8", "ldmatrix").
// groupID = lane >> 2, threadID_in_group = lane & 3 below.
// cp.async is asynchronous: the source is read (and bounds-checked) when
// the copy is issued, the destination elements are marked in flight
// (poisoned; any access is reported) and written when a
// cp.async.wait_group of the issuing thread covers the copy's group.
namespace emu {

// warp_all publishes bytes of mine, waits for all 32 lanes of the warp and
// copies every lane's slot into all (32 slots of bytes each).
inline void warp_all(const void* mine, size_t bytes, void* all, WarpOp op, const char* what) {
  Worker* w = tw;
  const int t = linear_tid(), base = t & ~31;
  if (base + 32 > w->nthreads)
    fail("%s needs a full warp, but the block has %d threads (not a multiple of 32)", what, w->nthreads);
  std::memcpy(&w->wslots[(size_t)t * kWarpSlot], mine, bytes);
  w->published[t] = 1;
  park(AT_WARP_BARRIER, op, 0xffffffffu);
  for (int l = 0; l < 32; ++l) {
    if (!w->published[base + l])
      fail("%s is a .aligned warp collective, but lane %d of this warp has exited; every lane must execute it", what, l);
    std::memcpy(static_cast<unsigned char*>(all) + (size_t)l * bytes, &w->wslots[(size_t)(base + l) * kWarpSlot], bytes);
  }
  park(AT_WARP_BARRIER, (WarpOp)(op + 1), 0xffffffffu);
  w->published[t] = 0;
}

inline float bf16_lo(uint32_t v) { return bf16_bits_to_f32((uint16_t)(v & 0xffffu)); }
inline float bf16_hi(uint32_t v) { return bf16_bits_to_f32((uint16_t)(v >> 16)); }

struct MmaFrag {
  uint32_t kind;  // 1: m16n8k16 bf16, 2: m16n8k8 tf32
  uint32_t a[4], b[2];
  float c[4];
};

inline void mma_check_kinds(const MmaFrag* all, uint32_t kind, const char* what) {
  for (int l = 0; l < 32; ++l)
    if (all[l].kind != kind) fail("%s: lane %d of the warp executes a different mma shape at the same time", what, l);
}

// mma_finish computes the caller's four accumulator elements
// D[row][col] = C[row][col] + sum_k A[row][k] * B[k][col] with rows
// {g, g, g+8, g+8} and columns {2t, 2t+1, 2t, 2t+1} (the C/D fragment of
// both shapes), adding the k products in order in fp32. The products of
// bf16 or tf32 operands are exact in fp32, so only the accumulation order
// can differ from the hardware's (unspecified) one.
template <int KD>
inline void mma_finish(float d[4], const float (&A)[16][KD], const float (&B)[KD][8], const float (&C)[16][8]) {
  const int lane = linear_tid() & 31, g = lane >> 2, t = lane & 3;
  for (int i = 0; i < 4; ++i) {
    const int row = g + 8 * (i >> 1), col = 2 * t + (i & 1);
    float acc = C[row][col];
    for (int k = 0; k < KD; ++k) acc = emu_round(acc + emu_round(A[row][k] * B[k][col]));
    d[i] = acc;
  }
}

// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32: A 16x16 (a0..a3,
// two bf16 each, the lower column in the low half), B 16x8, C/D 16x8 f32.
//   a0: (g, 2t..2t+1)   a1: (g+8, 2t..2t+1)   a2: (g, 2t+8..2t+9)   a3: (g+8, 2t+8..2t+9)
//   b0: (2t..2t+1, g)   b1: (2t+8..2t+9, g)
//   c0,c1: (g, 2t..2t+1)   c2,c3: (g+8, 2t..2t+1)
inline void mma_m16n8k16_bf16(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) {
  const char* what = "mma.sync.m16n8k16.bf16";
  MmaFrag mine{1, {a[0], a[1], a[2], a[3]}, {b[0], b[1]}, {c[0], c[1], c[2], c[3]}};
  MmaFrag all[32];
  warp_all(&mine, sizeof mine, all, OP_MMA, what);
  mma_check_kinds(all, 1, what);
  float A[16][16], B[16][8], C[16][8];
  for (int l = 0; l < 32; ++l) {
    const int g = l >> 2, t = l & 3;
    const MmaFrag& f = all[l];
    for (int i = 0; i < 4; ++i) {
      const int row = g + 8 * (i & 1), col = 2 * t + 8 * (i >> 1);
      A[row][col] = bf16_lo(f.a[i]);
      A[row][col + 1] = bf16_hi(f.a[i]);
    }
    for (int i = 0; i < 2; ++i) {
      B[2 * t + 8 * i][g] = bf16_lo(f.b[i]);
      B[2 * t + 8 * i + 1][g] = bf16_hi(f.b[i]);
    }
    for (int i = 0; i < 4; ++i) C[g + 8 * (i >> 1)][2 * t + (i & 1)] = f.c[i];
  }
  mma_finish<16>(d, A, B, C);
}

// mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32: A 16x8 (a0..a3, one
// tf32 each), B 8x8, C/D as above. The hardware reads the upper 19 bits of
// each operand register (the low 13 bits are ignored), so does this.
//   a0: (g, t)   a1: (g+8, t)   a2: (g, t+4)   a3: (g+8, t+4)
//   b0: (t, g)   b1: (t+4, g)
inline void mma_m16n8k8_tf32(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) {
  const char* what = "mma.sync.m16n8k8.tf32";
  MmaFrag mine{2, {a[0], a[1], a[2], a[3]}, {b[0], b[1]}, {c[0], c[1], c[2], c[3]}};
  MmaFrag all[32];
  warp_all(&mine, sizeof mine, all, OP_MMA, what);
  mma_check_kinds(all, 2, what);
  float A[16][8], B[8][8], C[16][8];
  for (int l = 0; l < 32; ++l) {
    const int g = l >> 2, t = l & 3;
    const MmaFrag& f = all[l];
    for (int i = 0; i < 4; ++i) A[g + 8 * (i & 1)][t + 4 * (i >> 1)] = u2f(f.a[i] & 0xffffe000u);
    for (int i = 0; i < 2; ++i) B[t + 4 * i][g] = u2f(f.b[i] & 0xffffe000u);
    for (int i = 0; i < 4; ++i) C[g + 8 * (i >> 1)][2 * t + (i & 1)] = f.c[i];
  }
  mma_finish<8>(d, A, B, C);
}

struct LdsmAddr {
  uint32_t kind;  // num * 2 + trans
  SharedRegion* reg;
  long off;
};

// ldsm_row checks that lane src's row address (16 bytes at element off of
// reg) is in bounds and 16-byte aligned.
inline void ldsm_row(const LdsmAddr& a, int src, const char* what) {
  const SharedRegion& r = *a.reg;
  const long n = (long)(16 / r.elemSize);
  if (a.off < 0 || a.off + n > (long)r.count)
    fail("%s: lane %d's row address, element %ld of %s, puts the 16-byte row outside the array's %zu elements", what, src,
         a.off, r.name, r.count);
  if (((uintptr_t)r.data + (uintptr_t)a.off * r.elemSize) % 16 != 0)
    fail("%s: lane %d's row address, element %ld of %s, is not 16-byte aligned", what, src, a.off, r.name);
}

// ldsm_get reads element i of lane src's region as a tracked read of the
// caller.
inline uint32_t ldsm_get(const LdsmAddr& a, long i) {
  SharedRegion& r = *a.reg;
  shared_read(r, (size_t)i);
  uint32_t v = 0;
  std::memcpy(&v, r.data + (size_t)i * r.elemSize, r.elemSize);
  return v;
}

// ldmatrix.sync.aligned.m8n8.x{1,2,4}[.trans].shared.b16: lanes 8i..8i+7
// give the addresses of rows 0..7 of matrix i (16 bytes each); lane l
// receives in r[i] the 32-bit fragment of matrix i at row l/4, columns
// 2(l%4) and 2(l%4)+1 (the lower column in the low half). With .trans it
// receives the transposed matrix's fragment: column l/4 of rows 2(l%4) and
// 2(l%4)+1. The array's elements must be 2 bytes (or 4 without .trans).
inline void ldmatrix(uint32_t* r, int num, bool trans, SharedRegion& reg, long off) {
  const char* what = trans ? "ldmatrix.sync.trans" : "ldmatrix.sync";
  if (reg.elemSize != 2 && (trans || reg.elemSize != 4))
    fail("%s on %s, whose elements are %zu bytes; use a 16-bit element array (bf16 bits)", what, reg.name, reg.elemSize);
  LdsmAddr mine{(uint32_t)(num * 2 + (trans ? 1 : 0)), &reg, off};
  LdsmAddr all[32];
  warp_all(&mine, sizeof mine, all, OP_LDSM, what);
  for (int l = 0; l < 32; ++l)
    if (all[l].kind != mine.kind) fail("%s: lane %d of the warp executes a different ldmatrix shape at the same time", what, l);
  const int lane = linear_tid() & 31, q = lane >> 2, t = lane & 3;
  for (int i = 0; i < num; ++i) {
    if (!trans) {
      const LdsmAddr& a = all[8 * i + q];
      ldsm_row(a, 8 * i + q, what);
      if (a.reg->elemSize == 4) {
        r[i] = ldsm_get(a, a.off + t);
      } else {
        r[i] = ldsm_get(a, a.off + 2 * t) | ldsm_get(a, a.off + 2 * t + 1) << 16;
      }
    } else {
      const LdsmAddr& lo = all[8 * i + 2 * t];
      const LdsmAddr& hi = all[8 * i + 2 * t + 1];
      ldsm_row(lo, 8 * i + 2 * t, what);
      ldsm_row(hi, 8 * i + 2 * t + 1, what);
      r[i] = ldsm_get(lo, lo.off + q) | ldsm_get(hi, hi.off + q) << 16;
    }
  }
}

// cp_async issues cp.async.{ca,cg}.shared.global [dst], [src], bytes,
// srcBytes: bytes (4, 8 or 16; cg only 16) from src into reg at element
// off, of which srcBytes are read and the rest are zero-filled.
inline void cp_async(SharedRegion& reg, long off, const void* src, int bytes, int srcBytes, bool cg) {
  const char* what = cg ? "cp.async.cg" : "cp.async.ca";
  Worker* w = tw;
  const int t = linear_tid();
  if (bytes != 4 && bytes != 8 && bytes != 16) fail("%s copies 4, 8 or 16 bytes, not %d", what, bytes);
  if (cg && bytes != 16) fail("%s copies 16 bytes only, not %d", what, bytes);
  if (srcBytes < 0 || srcBytes > bytes) fail("%s: source size %d outside [0, %d]", what, srcBytes, bytes);
  if ((size_t)bytes % reg.elemSize != 0) fail("%s of %d bytes into %s, whose elements are %zu bytes", what, bytes, reg.name, reg.elemSize);
  const long n = bytes / (long)reg.elemSize;
  if (off < 0 || off + n > (long)reg.count)
    fail("%s: destination elements [%ld, %ld) outside %s's %zu elements", what, off, off + n, reg.name, reg.count);
  if (((uintptr_t)reg.data + (uintptr_t)off * reg.elemSize) % (uintptr_t)bytes != 0)
    fail("%s: destination element %ld of %s is not %d-byte aligned", what, off, reg.name, bytes);
  if (srcBytes > 0 && (uintptr_t)src % (uintptr_t)bytes != 0)
    fail("%s: source address %p is not %d-byte aligned", what, src, bytes);
  PendingCopy pc{reg.name, reg.data, reg.shadow, reg.elemSize, reg.rowLen, (size_t)off, (size_t)n, w->committed[t], {0}};
  if (srcBytes > 0) std::memcpy(pc.bytes, src, (size_t)srcBytes);  // a guard page faults here
  for (long e = 0; e < n; ++e) {
    shared_write(reg, (size_t)(off + e));  // races with earlier accesses
    reg.shadow[off + e].w.tid = -2 - t;
  }
  poison_words(reg.data + (size_t)off * reg.elemSize, (size_t)bytes, kSharedPoison);
  w->pending[t].push_back(pc);
}

inline void cp_async_commit() {
  Worker* w = tw;
  w->committed[linear_tid()]++;
}

// cp_async_wait completes every copy of the caller's committed groups but
// the newest n (cp.async.wait_group n): the data lands and the elements
// count as written by the caller now.
inline void cp_async_wait(int n) {
  Worker* w = tw;
  const int t = linear_tid();
  auto& q = w->pending[t];
  const uint32_t done = w->committed[t] >= (uint32_t)n ? w->committed[t] - (uint32_t)n : 0;
  size_t keep = 0;
  for (size_t k = 0; k < q.size(); ++k) {
    PendingCopy& pc = q[k];
    if (pc.group >= done) {
      q[keep++] = pc;
      continue;
    }
    std::memcpy(pc.data + pc.elem0 * pc.elemSize, pc.bytes, pc.nelem * pc.elemSize);
    const Access c = now_access();
    for (size_t e = 0; e < pc.nelem; ++e) pc.shadow[pc.elem0 + e] = Shadow{c, Access{-1, 0, 0}, Access{-1, 0, 0}};
  }
  q.resize(keep);
}

}  // namespace emu

#endif  // SIMCLR_CUDA_EMU_H
