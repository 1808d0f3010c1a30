// cuda_emu.h - a small CUDA emulation layer that lets g++ compile and run
// the project's kernels/*.cu source on the CPU (build tag cudaemu), and
// checks what compute-sanitizer would (docs/cuda.md, "The emulator as a
// sanitizer").
//
// Model:
//   * Blocks are spread over OS threads (std::thread workers pulling block
//     indices from an atomic counter); a worker runs one block at a time.
//   * Each CUDA thread of a block is a fiber (ucontext makecontext/
//     swapcontext, own stack). The worker's scheduler resumes every READY
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
#include <ucontext.h>

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
enum WarpOp : uint8_t { OP_NONE, OP_SYNCWARP, OP_EXCHANGE, OP_EXCHANGE_DONE };

inline const char* op_name(WarpOp op) {
  switch (op) {
    case OP_SYNCWARP:
      return "__syncwarp";
    case OP_EXCHANGE:
    case OP_EXCHANGE_DONE:
      return "a shuffle/vote";
    default:
      return "nothing";
  }
}

struct Fiber {
  ucontext_t ctx;
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

struct SharedRegion;

// Worker holds one OS thread's scheduler state for the block it runs.
struct Worker {
  ucontext_t sched;
  std::vector<Fiber> fibers;
  char* stacks = nullptr;
  size_t stackSize = 0;
  int current = 0;
  int nthreads = 0;
  std::vector<uint64_t> exchange;  // 32 slots per warp
  std::vector<uint8_t> published;  // lane wrote its exchange slot for the current operation
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
  setcontext(&w->sched);
  std::abort();  // setcontext does not return
}

// park switches from the running fiber back to the scheduler.
__attribute__((noinline)) inline void park(FiberState st, WarpOp op = OP_NONE, unsigned mask = 0) {
  Worker* w = tw;
  Fiber& f = w->fibers[w->current];
  f.state = st;
  f.op = op;
  f.mask = mask;
  w->inFiber = 0;
  swapcontext(&f.ctx, &w->sched);
}

inline void fiber_main() {
  Worker* w = tw;
  w->thunk(w->args);
  w->fibers[w->current].state = DONE;
  w->inFiber = 0;
  // returning resumes uc_link, the scheduler
}

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
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = w->stacks + (size_t)i * w->stackSize;
    f.ctx.uc_stack.ss_size = w->stackSize;
    f.ctx.uc_link = &w->sched;
    makecontext(&f.ctx, fiber_main, 0);
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
      swapcontext(&w->sched, &f.ctx);
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

inline void shared_read(SharedRegion& r, size_t i) {
  Shadow& s = r.shadow[i];
  const Access c = now_access();
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
// round_tf32 is cvt.rna.tf32.f32: 10 mantissa bits, to nearest, ties away
// from zero (add half an ulp of the kept part to the magnitude bits, then
// truncate); Inf stays, NaN stays NaN (quiet).
inline float round_tf32(float x) {
  const uint32_t b = f2u(x);
  if ((b & 0x7f800000u) == 0x7f800000u) return (b & 0x007fffffu) ? u2f((b | 0x00400000u) & 0xffffe000u) : x;
  return u2f((b + 0x1000u) & 0xffffe000u);
}
// f32_to_bf16 is cvt.rn.bf16.f32: 7 mantissa bits, to nearest, ties to even
// (add 0x7fff plus the lowest kept bit, then truncate); NaN stays NaN.
inline uint16_t f32_to_bf16(float x) {
  const uint32_t b = f2u(x);
  if ((b & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((b | 0x00400000u) >> 16);
  return (uint16_t)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}
inline float bf16_to_f32(uint16_t h) { return u2f((uint32_t)h << 16); }
}  // namespace emu

#endif  // SIMCLR_CUDA_EMU_H
