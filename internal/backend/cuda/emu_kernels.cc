//go:build cudaemu

// emu_kernels.cc compiles the project's CUDA kernels (kernels/all.cu) with
// g++ on top of cuda_emu.h and exposes emu_launch, the emulator's
// equivalent of cuLaunchKernel: kernel arguments arrive as 8-byte slots
// (pointers and ints as 64-bit integers, float32 in the low 32 bits), the
// layout gorgonia.org/cu uses, so the Go launch code is the same for the
// cuda and cudaemu builds.

// Round every float op separately, as the GPU kernels' __fmul_rn/__fadd_rn
// and the Go CPU backend do (cgo does not accept -ffp-contract as a flag).
#pragma GCC optimize("fp-contract=off")

#include "cuda_emu.h"

#include <mutex>
#include <utility>

#include "../../../kernels/all.cu"
#include "emu.h"
#include "kernels_hash.h"

namespace {

template <class T>
struct Slot;
template <class T>
struct Slot<T*> {
  static T* get(uint64_t v) { return reinterpret_cast<T*>(static_cast<uintptr_t>(v)); }
};
template <>
struct Slot<int> {
  static int get(uint64_t v) { return (int)(int64_t)v; }
};
template <>
struct Slot<float> {
  static float get(uint64_t v) {
    uint32_t u = (uint32_t)v;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
};

template <class... A, size_t... I>
void call_slots(void (*f)(A...), const uint64_t* s, std::index_sequence<I...>) {
  f(Slot<A>::get(s[I])...);
}

template <class... A>
constexpr int arity(void (*)(A...)) {
  return (int)sizeof...(A);
}

template <class... A>
void invoke(void (*f)(A...), const uint64_t* s) {
  call_slots(f, s, std::index_sequence_for<A...>{});
}

template <auto F>
void thunk_of(const uint64_t* s) {
  invoke(F, s);
}

struct Entry {
  const char* name;
  emu::Thunk thunk;
  int nargs;
};

// The registry is the one kernel list, kernels/kernel_names.h.
#define SIMCLR_KERNEL(name) {#name, &thunk_of<&name>, arity(&name)},
const Entry kKernels[] = {
#include "../../../kernels/kernel_names.h"
};
#undef SIMCLR_KERNEL
const int kNumKernels = (int)(sizeof(kKernels) / sizeof(kKernels[0]));

// Stack per emulated CUDA thread; kernels keep small register tiles only.
const size_t kStackSize = 64 * 1024;

int worker_count(long blocks) {
  long n = (long)std::thread::hardware_concurrency();
  if (const char* env = std::getenv("SIMCLR_EMU_THREADS")) {
    long v = std::atol(env);
    if (v > 0) n = v;
  }
  if (n < 1) n = 1;
  return (int)std::min(n, blocks);
}

}  // namespace

extern "C" int emu_kernel_count(void) { return kNumKernels; }

extern "C" const char* emu_kernel_name(int id) {
  return id >= 0 && id < kNumKernels ? kKernels[id].name : nullptr;
}

extern "C" int emu_kernel_id(const char* name) {
  for (int i = 0; i < kNumKernels; ++i)
    if (std::strcmp(kKernels[i].name, name) == 0) return i;
  return -1;
}

extern "C" int emu_kernel_nargs(int id) { return id >= 0 && id < kNumKernels ? kKernels[id].nargs : -1; }

extern "C" const char* emu_kernels_hash(void) { return SIMCLR_KERNELS_SHA256; }

extern "C" int emu_launch(int id, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                          unsigned sharedBytes, const uint64_t* args, int nargs, char* err, int errLen) {
  if (id < 0 || id >= kNumKernels) {
    std::snprintf(err, errLen, "unknown kernel id %d", id);
    return 1;
  }
  const Entry& k = kKernels[id];
  if (nargs != k.nargs) {
    std::snprintf(err, errLen, "kernel %s takes %d arguments, got %d", k.name, k.nargs, nargs);
    return 1;
  }
  if (sharedBytes != 0) {
    std::snprintf(err, errLen, "kernel %s: the emulator does not support dynamic shared memory (%u bytes)", k.name,
                  sharedBytes);
    return 1;
  }
  const unsigned long threads = (unsigned long)bx * by * bz;
  if (threads == 0 || threads > 1024 || gx == 0 || gy == 0 || gz == 0) {
    std::snprintf(err, errLen, "kernel %s: invalid launch grid (%u,%u,%u) block (%u,%u,%u)", k.name, gx, gy, gz, bx,
                  by, bz);
    return 1;
  }
  const long blocks = (long)gx * gy * gz;
  const int nw = worker_count(blocks);
  std::atomic<long> next(0);
  std::atomic<bool> failed(false);
  std::mutex errMu;
  auto work = [&]() {
    emu::Worker w;
    w.stackSize = kStackSize;
    w.stacks = static_cast<char*>(std::malloc(threads * kStackSize));
    if (w.stacks == nullptr) {
      std::lock_guard<std::mutex> lock(errMu);
      if (!failed.exchange(true))
        std::snprintf(err, errLen, "kernel %s: out of host memory for %lu fiber stacks", k.name, threads);
      return;
    }
    w.thunk = k.thunk;
    w.args = args;
    emu::tw = &w;
    gridDim = dim3(gx, gy, gz);
    blockDim = dim3(bx, by, bz);
    for (;;) {
      if (failed.load()) break;
      const long b = next.fetch_add(1);
      if (b >= blocks) break;
      blockIdx.x = (unsigned)(b % gx);
      blockIdx.y = (unsigned)((b / gx) % gy);
      blockIdx.z = (unsigned)(b / ((long)gx * gy));
      if (!emu::run_block(&w)) {
        std::lock_guard<std::mutex> lock(errMu);
        if (!failed.exchange(true))
          std::snprintf(err, errLen,
                        "kernel %s: block (%u,%u,%u) deadlocked: threads wait at different barriers "
                        "(divergent __syncthreads or warp intrinsic)",
                        k.name, blockIdx.x, blockIdx.y, blockIdx.z);
        break;
      }
    }
    emu::tw = nullptr;
    std::free(w.stacks);
  };
  if (nw <= 1) {
    work();
  } else {
    std::vector<std::thread> pool;
    pool.reserve(nw);
    for (int i = 0; i < nw; ++i) pool.emplace_back(work);
    for (auto& t : pool) t.join();
  }
  return failed.load() ? 1 : 0;
}
