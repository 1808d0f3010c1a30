// cuda_emu.h - a small CUDA emulation layer that lets g++ compile and run
// the project's kernels/*.cu source on the CPU (build tag cudaemu).
//
// Model:
//   * Blocks are spread over OS threads (std::thread workers pulling block
//     indices from an atomic counter); a worker runs one block at a time.
//   * Each CUDA thread of a block is a fiber (ucontext makecontext/
//     swapcontext, own stack). The worker's scheduler resumes every READY
//     fiber in turn; a fiber runs until it finishes or reaches a barrier.
//     __syncthreads() parks the fiber until every unfinished fiber of the
//     block is parked at the block barrier; __syncwarp() (and every warp
//     intrinsic) parks it until every unfinished lane of its warp is parked
//     at the warp barrier. Mixed or unreachable barriers are reported as a
//     deadlock (a divergent barrier in the kernel), not a hang.
//   * threadIdx/blockIdx/blockDim/gridDim are thread_local; the scheduler
//     sets threadIdx before resuming a fiber.
//   * __shared__ is `static thread_local`: one copy per worker thread, and a
//     worker runs one block at a time, so every block sees its own shared
//     storage. Dynamic (extern) shared memory is not supported.
//   * Warp shuffles/votes go through a per-warp exchange buffer: write own
//     slot, warp barrier, read the source slot, warp barrier.
//   * Atomics map to GCC __atomic builtins (CAS loops for float/double).
// Limits: no dynamic shared memory, no cooperative groups, no textures, no
// streams (launches are synchronous), out-of-bounds accesses crash the
// process instead of raising a CUDA error, and it is slow (a context switch
// per barrier per thread): use small shapes.
#ifndef SIMCLR_CUDA_EMU_H
#define SIMCLR_CUDA_EMU_H

#include <ucontext.h>

#include <algorithm>
#include <atomic>
#include <cmath>
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
#define __launch_bounds__(...)
#define __shared__ static thread_local

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

enum FiberState { READY, AT_BLOCK_BARRIER, AT_WARP_BARRIER, DONE };

struct Fiber {
  ucontext_t ctx;
  FiberState state;
  uint3 tid;
};

// Kernel thunk: unpacks 8-byte argument slots and calls the kernel.
typedef void (*Thunk)(const uint64_t* args);

// Worker holds one OS thread's scheduler state for the block it runs.
struct Worker {
  ucontext_t sched;
  std::vector<Fiber> fibers;
  char* stacks = nullptr;
  size_t stackSize = 0;
  int current = 0;
  std::vector<uint64_t> exchange;  // 32 slots per warp
  Thunk thunk = nullptr;
  const uint64_t* args = nullptr;
};

inline thread_local Worker* tw = nullptr;

inline int linear_tid() {
  return (int)(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z));
}

// park switches from the running fiber back to the scheduler.
__attribute__((noinline)) inline void park(FiberState st) {
  Worker* w = tw;
  Fiber& f = w->fibers[w->current];
  f.state = st;
  swapcontext(&f.ctx, &w->sched);
}

inline void fiber_main() {
  Worker* w = tw;
  w->thunk(w->args);
  w->fibers[w->current].state = DONE;
  // returning resumes uc_link, the scheduler
}

// run_block runs every thread of the current block to completion; it
// returns false when the threads deadlock on barriers.
inline bool run_block(Worker* w) {
  const int n = (int)(blockDim.x * blockDim.y * blockDim.z);
  const int nwarps = (n + 31) / 32;
  w->fibers.resize(n);
  w->exchange.assign((size_t)nwarps * 32, 0);
  for (int i = 0; i < n; ++i) {
    Fiber& f = w->fibers[i];
    f.state = READY;
    f.tid.x = i % blockDim.x;
    f.tid.y = (i / blockDim.x) % blockDim.y;
    f.tid.z = i / (blockDim.x * blockDim.y);
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = w->stacks + (size_t)i * w->stackSize;
    f.ctx.uc_stack.ss_size = w->stackSize;
    f.ctx.uc_link = &w->sched;
    makecontext(&f.ctx, fiber_main, 0);
  }
  for (;;) {
    for (int i = 0; i < n; ++i) {
      Fiber& f = w->fibers[i];
      if (f.state != READY) continue;
      w->current = i;
      threadIdx = f.tid;
      swapcontext(&w->sched, &f.ctx);
    }
    // Every fiber is now parked or done. Release warp barriers first.
    bool released = false, allDone = true, allAtBlock = true;
    for (int wp = 0; wp < nwarps; ++wp) {
      const int lo = wp * 32, hi = std::min(n, lo + 32);
      bool anyWaiting = false, allWaiting = true;
      for (int i = lo; i < hi; ++i) {
        const FiberState st = w->fibers[i].state;
        if (st == DONE) continue;
        if (st == AT_WARP_BARRIER)
          anyWaiting = true;
        else
          allWaiting = false;
      }
      if (anyWaiting && allWaiting) {
        for (int i = lo; i < hi; ++i)
          if (w->fibers[i].state == AT_WARP_BARRIER) w->fibers[i].state = READY;
        released = true;
      }
    }
    if (released) continue;
    for (int i = 0; i < n; ++i) {
      const FiberState st = w->fibers[i].state;
      if (st != DONE) allDone = false;
      if (st != DONE && st != AT_BLOCK_BARRIER) allAtBlock = false;
    }
    if (allDone) return true;
    if (!allAtBlock) return false;  // divergent barriers: nothing can run
    for (int i = 0; i < n; ++i)
      if (w->fibers[i].state == AT_BLOCK_BARRIER) w->fibers[i].state = READY;
  }
}

// exchange publishes v for the warp, waits for every lane, reads lane src's
// value and waits again so the buffer can be reused.
template <class T>
inline T exchange(T v, int src) {
  static_assert(sizeof(T) <= 8, "warp exchange holds 8-byte values");
  Worker* w = tw;
  const int t = linear_tid();
  const int base = t & ~31;
  uint64_t slot = 0;
  std::memcpy(&slot, &v, sizeof(T));
  w->exchange[t] = slot;
  park(AT_WARP_BARRIER);
  const int idx = base + src;
  T r;
  uint64_t got = idx < (int)w->exchange.size() ? w->exchange[idx] : slot;
  std::memcpy(&r, &got, sizeof(T));
  park(AT_WARP_BARRIER);
  return r;
}

}  // namespace emu

inline void __syncthreads() { emu::park(emu::AT_BLOCK_BARRIER); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  (void)mask;
  emu::park(emu::AT_WARP_BARRIER);
}
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

template <class T>
inline T __shfl_sync(unsigned mask, T v, int srcLane, int width = 32) {
  (void)mask;
  const int lane = emu::linear_tid() & 31;
  return emu::exchange(v, (lane & ~(width - 1)) + (srcLane & (width - 1)));
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T v, int laneMask, int width = 32) {
  (void)mask;
  const int lane = emu::linear_tid() & 31;
  int src = lane ^ laneMask;
  if ((src & ~(width - 1)) != (lane & ~(width - 1))) src = lane;
  return emu::exchange(v, src);
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  (void)mask;
  const int lane = emu::linear_tid() & 31;
  int src = lane + (int)delta;
  if ((src & ~(width - 1)) != (lane & ~(width - 1))) src = lane;
  return emu::exchange(v, src);
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  (void)mask;
  const int lane = emu::linear_tid() & 31;
  int src = lane - (int)delta;
  if (src < (lane & ~(width - 1))) src = lane;
  return emu::exchange(v, src);
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
  unsigned bits = 0;
  for (int l = 0; l < 32; ++l)
    if (__shfl_sync(mask, pred ? 1 : 0, l)) bits |= 1u << l;
  return bits;
}
inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == mask; }

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
// -ffp-contract=off so nothing is fused behind our back).
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
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

#endif  // SIMCLR_CUDA_EMU_H
