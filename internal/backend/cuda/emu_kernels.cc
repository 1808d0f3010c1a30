//go:build cudaemu

// emu_kernels.cc compiles the project's CUDA kernels (kernels/all.cu) with
// g++ on top of cuda_emu.h and exposes emu_launch, the emulator's
// equivalent of cuLaunchKernel: kernel arguments arrive as 8-byte slots
// (pointers and ints as 64-bit integers, float32 in the low 32 bits), the
// layout gorgonia.org/cu uses, so the Go launch code is the same for the
// cuda and cudaemu builds.

// Round every float op separately, as the GPU kernels' __fmul_rn/__fadd_rn
// and the Go CPU backend do (cgo does not accept -ffp-contract as a flag).
// SIMCLR_EMU_FP_CONTRACT (make test-cudaemu-fma: CGO_CXXFLAGS=
// -DSIMCLR_EMU_FP_CONTRACT -ffp-contract=fast) lets g++ fuse a*b+c into an
// FMA wherever nvcc may, to check the tolerances against device-like
// rounding; the _rn intrinsics stay unfused either way.
#ifndef SIMCLR_EMU_FP_CONTRACT
#pragma GCC optimize("fp-contract=off")
#endif

#include "cuda_emu.h"

#include <sys/mman.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <utility>

#include "../../../kernels/all.cu"
#include "emu_faults.h"
#include "emu_tc.h"
#include "emu.h"
#include "kernels_hash.h"

#if EMU_FAST_SWITCH
// emu_ctx_switch(void** save, void* next): push the callee-saved registers
// and the MXCSR/x87 control words on the running stack, store its stack
// pointer in *save, load next and pop the same frame from it (for a new
// fiber, the frame emu::fiber_init laid out). See EMU_FAST_SWITCH in
// cuda_emu.h.
__asm__(
    ".text\n"
    ".globl emu_ctx_switch\n"
    ".type emu_ctx_switch,@function\n"
    "emu_ctx_switch:\n"
    "  pushq %rbp\n"
    "  pushq %rbx\n"
    "  pushq %r12\n"
    "  pushq %r13\n"
    "  pushq %r14\n"
    "  pushq %r15\n"
    "  subq $16, %rsp\n"
    "  stmxcsr 8(%rsp)\n"
    "  fnstcw (%rsp)\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  fldcw (%rsp)\n"
    "  ldmxcsr 8(%rsp)\n"
    "  addq $16, %rsp\n"
    "  popq %r15\n"
    "  popq %r14\n"
    "  popq %r13\n"
    "  popq %r12\n"
    "  popq %rbx\n"
    "  popq %rbp\n"
    "  ret\n"
    ".size emu_ctx_switch,.-emu_ctx_switch\n");
#endif

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

template <class... A>
uintptr_t addr_of(void (*f)(A...)) {
  return reinterpret_cast<uintptr_t>(f);
}

struct Entry {
  const char* name;
  emu::Thunk thunk;
  int nargs;
  uintptr_t fn;  // the kernel's address: its __launch_bounds__ section tells its bound
};

// The registry is the one kernel list, kernels/kernel_names.h.
#define SIMCLR_KERNEL(name) {#name, &thunk_of<&name>, arity(&name), addr_of(&name)},
const Entry kKernels[] = {
#include "../../../kernels/kernel_names.h"
};
const int kNumKernels = (int)(sizeof(kKernels) / sizeof(kKernels[0]));

// The emulator's own broken kernels (emu_faults.h), a second registry that
// the backend never sees: ids from kFaultBase on, found by emu_fault_kernel_id.
const Entry kFaultKernels[] = {
#define EMU_FAULT_KERNELS_LIST
#include "emu_faults.h"
#include "emu_tc.h"
#undef EMU_FAULT_KERNELS_LIST
};
#undef SIMCLR_KERNEL
const int kNumFaultKernels = (int)(sizeof(kFaultKernels) / sizeof(kFaultKernels[0]));
const int kFaultBase = 1 << 20;

const Entry* entry(int id) {
  if (id >= 0 && id < kNumKernels) return &kKernels[id];
  if (id >= kFaultBase && id < kFaultBase + kNumFaultKernels) return &kFaultKernels[id - kFaultBase];
  return nullptr;
}

// Launch bounds: __launch_bounds__(N) (cuda_emu.h) puts a kernel into the
// section emu_lb_N; the linker defines __start_/__stop_ for each section
// that exists. N must be a multiple of 32 up to 1024.
struct BoundSection {
  int n;
  const char* start;
  const char* stop;
};
#define EMU_LB(n)                                                \
  extern "C" __attribute__((weak)) const char __start_emu_lb_##n[]; \
  extern "C" __attribute__((weak)) const char __stop_emu_lb_##n[];
#define EMU_LB_ALL(X)                                                                                                 \
  X(32) X(64) X(96) X(128) X(160) X(192) X(224) X(256) X(288) X(320) X(352) X(384) X(416) X(448) X(480) X(512) X(544) \
  X(576) X(608) X(640) X(672) X(704) X(736) X(768) X(800) X(832) X(864) X(896) X(928) X(960) X(992) X(1024)
EMU_LB_ALL(EMU_LB)
#undef EMU_LB
#define EMU_LB(n) {n, __start_emu_lb_##n, __stop_emu_lb_##n},
const BoundSection kBoundSections[] = {EMU_LB_ALL(EMU_LB)};
#undef EMU_LB

// launch_bound returns the kernel's __launch_bounds__ N, or 0 when it has none.
int launch_bound(const Entry& k) {
  for (const BoundSection& b : kBoundSections) {
    if (b.start == nullptr || b.stop == nullptr) continue;
    if (k.fn >= reinterpret_cast<uintptr_t>(b.start) && k.fn < reinterpret_cast<uintptr_t>(b.stop)) return b.n;
  }
  return 0;
}

// Per-kernel dynamic shared memory limit (cuFuncSetAttribute
// MAX_DYNAMIC_SHARED_SIZE_BYTES); the default is the 48 KB every kernel gets.
std::mutex attrMu;
std::map<int, size_t> maxDynShared;

size_t dyn_limit(int id) {
  std::lock_guard<std::mutex> lock(attrMu);
  auto it = maxDynShared.find(id);
  return it == maxDynShared.end() ? emu::kMaxStaticShared : it->second;
}

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

// parse_order reads CUDAEMU_ORDER: index (default), reverse or random:SEED.
bool parse_order(int* order, uint64_t* seed, char* err, int errLen) {
  const char* env = std::getenv("CUDAEMU_ORDER");
  *order = emu::ORDER_INDEX;
  *seed = 0;
  if (env == nullptr || *env == 0 || std::strcmp(env, "index") == 0) return true;
  if (std::strcmp(env, "reverse") == 0) {
    *order = emu::ORDER_REVERSE;
    return true;
  }
  if (std::strncmp(env, "random:", 7) == 0 && env[7] != 0) {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(env + 7, &end, 10);
    if (end != nullptr && *end == 0) {
      *order = emu::ORDER_RANDOM;
      *seed = v;
      return true;
    }
  }
  std::snprintf(err, errLen, "CUDAEMU_ORDER=%s: want index, reverse or random:SEED (SEED a decimal integer)", env);
  return false;
}

// ---- device memory ----
//
// Every allocation is its own mapping: data pages, then one PROT_NONE guard
// page. The live bytes sit flush against the guard page, so the first byte
// past the end faults. In front of them (page rounding, and the pool's
// size-class slack after emu_mem_place) the whole pages are PROT_NONE too,
// and the rest of the first live page holds a canary that every launch
// checks. Fresh bytes are poisoned with NaN words; a freed (unplaced)
// block is PROT_NONE until it is placed again.

const unsigned char kCanary = 0xCA;

struct Mapping {
  uintptr_t map;      // mapping start
  size_t dataLen;     // data pages; the guard page follows
  size_t cap;         // the block's size (what emu_mem_alloc was asked for)
  uintptr_t user;     // the live allocation: [user, map+dataLen)
  size_t n;           // its size
  bool live;          // placed (not freed back to the pool)
  uintptr_t end() const { return map + dataLen; }
  uintptr_t block() const { return end() - cap; }
};

std::mutex memMu;
std::map<uintptr_t, Mapping> mappings;  // by mapping start

size_t page_size() {
  static const size_t p = (size_t)sysconf(_SC_PAGESIZE);
  return p;
}

// find returns the mapping whose data or guard page holds addr, or null.
Mapping* find(uintptr_t addr) {
  auto it = mappings.upper_bound(addr);
  if (it == mappings.begin()) return nullptr;
  --it;
  Mapping& m = it->second;
  return addr < m.end() + page_size() ? &m : nullptr;
}

// front_of is the start of the page that holds m's first live byte: the
// pages in front of it are PROT_NONE, the bytes from it to the first live
// byte hold the canary.
uintptr_t front_of(const Mapping& m) {
  const size_t pg = page_size();
  return m.map + (m.user - m.map) / pg * pg;
}

// place_locked makes the last n bytes of m's block the live allocation: the
// whole pages in front of it become PROT_NONE (a write or read there faults
// and is reported with the thread), the rest of its first page holds the
// canary, and the live bytes are poisoned.
void place_locked(Mapping& m, size_t n) {
  m.user = m.end() - n;
  m.n = n;
  m.live = true;
  const uintptr_t front = front_of(m);
  if (front > m.map) mprotect(reinterpret_cast<void*>(m.map), front - m.map, PROT_NONE);
  if (m.end() > front) mprotect(reinterpret_cast<void*>(front), m.end() - front, PROT_READ | PROT_WRITE);
  std::memset(reinterpret_cast<void*>(front), kCanary, m.user - front);
  emu::poison_words(reinterpret_cast<unsigned char*>(m.user), n, emu::kGlobalPoison);
}

// canary_check reports the first live allocation whose front canary changed
// (a write before its start, within its first page; a write to the pages in
// front of that faults). It runs after every launch, so it reads at most a
// page per allocation.
bool canary_check(char* err, int errLen, const char* kernel) {
  std::lock_guard<std::mutex> lock(memMu);
  for (auto& kv : mappings) {
    const Mapping& m = kv.second;
    if (!m.live) continue;
    const unsigned char* p = reinterpret_cast<const unsigned char*>(m.map);
    const uintptr_t front = front_of(m);
    // Fast path: the whole canary equals a canary page (memcmp is
    // vectorised); only a changed one is searched byte by byte.
    static const std::vector<unsigned char> canaryPage(page_size(), kCanary);
    if (std::memcmp(p + (front - m.map), canaryPage.data(), m.user - front) == 0) continue;
    for (uintptr_t a = m.user; a > front; --a) {
      if (p[a - 1 - m.map] != kCanary) {
        std::snprintf(err, errLen,
                      "kernel %s wrote before the start of the %zu-byte allocation at %#lx (byte offset %ld); the "
                      "emulator cannot tell which thread (out-of-bounds writes past the end name it)",
                      kernel, m.n, (unsigned long)m.user, -(long)(m.user - (a - 1)));
        return false;
      }
    }
  }
  return true;
}

// ---- faults ----

struct sigaction prevSegv, prevBus;
std::once_flag handlerOnce;

void chain(int sig, siginfo_t* si, void* uc) {
  struct sigaction* prev = sig == SIGBUS ? &prevBus : &prevSegv;
  if (prev->sa_flags & SA_SIGINFO) {
    if (prev->sa_sigaction != nullptr) {
      prev->sa_sigaction(sig, si, uc);
      return;
    }
  } else if (prev->sa_handler == SIG_IGN) {
    return;
  } else if (prev->sa_handler != SIG_DFL && prev->sa_handler != nullptr) {
    prev->sa_handler(sig);
    return;
  }
  // No previous handler: restore the default and return, so the access
  // faults again and the process dies as it would have.
  signal(sig, SIG_DFL);
}

// on_fault turns a fault of an emulated CUDA thread into a launch error;
// every other fault (Go's nil checks included) goes to the previous handler.
void on_fault(int sig, siginfo_t* si, void* uc) {
  emu::Worker* w = emu::tw;
  if (w == nullptr || !w->inFiber) {
    chain(sig, si, uc);
    return;
  }
  w->faultAddr = reinterpret_cast<uintptr_t>(si->si_addr);
  w->faultWrite = -1;
#if defined(__x86_64__)
  w->faultWrite = (static_cast<ucontext_t*>(uc)->uc_mcontext.gregs[REG_ERR] & 2) ? 1 : 0;
#endif
  w->fibers[w->current].state = emu::FAULTED;
  w->inFiber = 0;
#if EMU_FAST_SWITCH
  // Leaving the handler by a jump: unblock the signal the kernel blocked for
  // it (setcontext restored the scheduler's mask instead), so the next
  // fault of this worker is caught too.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
#endif
  emu::to_scheduler(w);  // back to the scheduler, which stops the launch
}

void install_handler() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &prevSegv);
  sigaction(SIGBUS, &sa, &prevBus);
}

}  // namespace

namespace emu {

void describe_fault(uintptr_t addr, int write, char* buf, size_t len) {
  const char* kind = write == 1 ? "write" : write == 0 ? "read" : "access";
  std::lock_guard<std::mutex> lock(memMu);
  const Mapping* m = find(addr);
  if (m == nullptr) {
    std::snprintf(buf, len, "invalid global-memory %s at %#lx, which is in no device allocation", kind,
                  (unsigned long)addr);
  } else if (!m->live) {
    std::snprintf(buf, len, "global-memory %s at %#lx inside a freed %zu-byte block (use after free)", kind,
                  (unsigned long)addr, m->cap);
  } else if (addr < m->user) {
    std::snprintf(buf, len,
                  "out-of-bounds global-memory %s at %#lx: %lu bytes before the start of the %zu-byte allocation at "
                  "%#lx",
                  kind, (unsigned long)addr, (unsigned long)(m->user - addr), m->n, (unsigned long)m->user);
  } else if (addr >= m->end()) {
    std::snprintf(buf, len,
                  "out-of-bounds global-memory %s at %#lx: byte offset %lu of the %zu-byte allocation at %#lx "
                  "(%lu bytes past its end)",
                  kind, (unsigned long)addr, (unsigned long)(addr - m->user), m->n, (unsigned long)m->user,
                  (unsigned long)(addr - m->end()));
  } else {
    std::snprintf(buf, len, "global-memory %s fault at %#lx in the %zu-byte allocation at %#lx", kind,
                  (unsigned long)addr, m->n, (unsigned long)m->user);
  }
}

}  // namespace emu

extern "C" int emu_kernel_count(void) { return kNumKernels; }

extern "C" const char* emu_kernel_name(int id) {
  return id >= 0 && id < kNumKernels ? kKernels[id].name : nullptr;
}

extern "C" int emu_kernel_id(const char* name) {
  for (int i = 0; i < kNumKernels; ++i)
    if (std::strcmp(kKernels[i].name, name) == 0) return i;
  return -1;
}

extern "C" int emu_fault_kernel_id(const char* name) {
  for (int i = 0; i < kNumFaultKernels; ++i)
    if (std::strcmp(kFaultKernels[i].name, name) == 0) return kFaultBase + i;
  return -1;
}

extern "C" int emu_kernel_nargs(int id) {
  const Entry* k = entry(id);
  return k != nullptr ? k->nargs : -1;
}

extern "C" int emu_kernel_launch_bound(int id) {
  const Entry* k = entry(id);
  return k != nullptr ? launch_bound(*k) : -1;
}

extern "C" const char* emu_kernels_hash(void) { return SIMCLR_KERNELS_SHA256; }

extern "C" int emu_fp_contract(void) {
#ifdef SIMCLR_EMU_FP_CONTRACT
  return 1;
#else
  return 0;
#endif
}

extern "C" int emu_set_max_dynamic_shared(int id, int bytes, char* err, int errLen) {
  const Entry* k = entry(id);
  if (k == nullptr) {
    std::snprintf(err, errLen, "unknown kernel id %d", id);
    return 1;
  }
  if (bytes < 0 || (size_t)bytes > emu::kMaxDynamicShared) {
    std::snprintf(err, errLen,
                  "kernel %s: max dynamic shared memory %d bytes is outside [0, %zu] (227 KB, the sm_90 limit)",
                  k->name, bytes, emu::kMaxDynamicShared);
    return 1;
  }
  std::lock_guard<std::mutex> lock(attrMu);
  maxDynShared[id] = (size_t)bytes;
  return 0;
}

extern "C" uintptr_t emu_mem_alloc(size_t bytes) {
  const size_t pg = page_size();
  const size_t dataLen = (bytes + pg - 1) / pg * pg;
  void* p = mmap(nullptr, dataLen + pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return 0;
  const uintptr_t map = reinterpret_cast<uintptr_t>(p);
  if (mprotect(reinterpret_cast<void*>(map + dataLen), pg, PROT_NONE) != 0) {
    munmap(p, dataLen + pg);
    return 0;
  }
  Mapping m{map, dataLen, bytes, 0, 0, false};
  m.live = true;  // fresh mapping: already readable
  place_locked(m, bytes);
  std::lock_guard<std::mutex> lock(memMu);
  mappings[map] = m;
  return m.user;
}

extern "C" int emu_mem_free(uintptr_t block) {
  std::lock_guard<std::mutex> lock(memMu);
  Mapping* m = find(block);
  if (m == nullptr || m->block() != block) return -1;
  munmap(reinterpret_cast<void*>(m->map), m->dataLen + page_size());
  mappings.erase(m->map);
  return 0;
}

extern "C" uintptr_t emu_mem_place(uintptr_t block, size_t n) {
  std::lock_guard<std::mutex> lock(memMu);
  Mapping* m = find(block);
  if (m == nullptr || m->block() != block || n > m->cap) return 0;
  place_locked(*m, n);
  return m->user;
}

extern "C" int emu_mem_unplace(uintptr_t user) {
  std::lock_guard<std::mutex> lock(memMu);
  Mapping* m = find(user);
  if (m == nullptr || !m->live || m->user != user) return -1;
  m->live = false;
  if (m->dataLen > 0) mprotect(reinterpret_cast<void*>(m->map), m->dataLen, PROT_NONE);
  return 0;
}

extern "C" int emu_mem_check(uintptr_t p, size_t n, char* err, int errLen) {
  std::lock_guard<std::mutex> lock(memMu);
  const Mapping* m = find(p);
  if (m == nullptr || !m->live || p < m->user || p > m->end() || n > m->end() - p) {
    if (m != nullptr && m->live)
      std::snprintf(err, errLen, "range [%#lx, +%zu) is outside the %zu-byte allocation at %#lx", (unsigned long)p, n,
                    m->n, (unsigned long)m->user);
    else
      std::snprintf(err, errLen, "range [%#lx, +%zu) is in no live device allocation", (unsigned long)p, n);
    return 1;
  }
  return 0;
}

extern "C" int emu_launch(int id, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                          unsigned sharedBytes, const uint64_t* args, int nargs, char* err, int errLen) {
  const Entry* kp = entry(id);
  if (kp == nullptr) {
    std::snprintf(err, errLen, "unknown kernel id %d", id);
    return 1;
  }
  const Entry& k = *kp;
  if (nargs != k.nargs) {
    std::snprintf(err, errLen, "kernel %s takes %d arguments, got %d", k.name, k.nargs, nargs);
    return 1;
  }
  const unsigned long threads = (unsigned long)bx * by * bz;
  if (threads == 0 || threads > 1024 || bx > 1024 || by > 1024 || bz > 64 || gx == 0 || gy == 0 || gz == 0 ||
      gx > 2147483647u || gy > 65535 || gz > 65535) {
    std::snprintf(err, errLen,
                  "kernel %s: invalid launch grid (%u,%u,%u) block (%u,%u,%u): CUDA allows at most 1024 threads per "
                  "block (x,y <= 1024, z <= 64) and grid x <= 2^31-1, y,z <= 65535, none zero",
                  k.name, gx, gy, gz, bx, by, bz);
    return 1;
  }
  const int bound = launch_bound(k);
  if (bound > 0 && threads > (unsigned long)bound) {
    std::snprintf(err, errLen, "kernel %s: launch of %lu threads per block exceeds its __launch_bounds__(%d)", k.name,
                  threads, bound);
    return 1;
  }
  const size_t dynLimit = dyn_limit(id);
  if (sharedBytes > dynLimit) {
    std::snprintf(err, errLen,
                  "kernel %s: %u bytes of dynamic shared memory requested, above the kernel's limit of %zu; raise it "
                  "with setMaxDynamicShared (cuFuncSetAttribute MAX_DYNAMIC_SHARED_SIZE_BYTES, at most %zu)",
                  k.name, sharedBytes, dynLimit, emu::kMaxDynamicShared);
    return 1;
  }
  int order;
  uint64_t seed;
  if (!parse_order(&order, &seed, err, errLen)) return 1;
  std::call_once(handlerOnce, install_handler);
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
    w.kernel = k.name;
    w.order = order;
    w.seed = seed;
    w.dynBytes = sharedBytes;
    w.dyn.assign(sharedBytes, 0);
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
      const emu::BlockResult r = emu::run_block(&w);
      if (r == emu::BLOCK_OK) continue;
      std::lock_guard<std::mutex> lock(errMu);
      if (!failed.exchange(true)) {
        if (r == emu::BLOCK_FAULT)
          std::snprintf(err, errLen, "%s", w.err);
        else
          std::snprintf(err, errLen,
                        "kernel %s: block (%u,%u,%u) deadlocked: threads wait at different barriers "
                        "(divergent __syncthreads, or a warp operation whose mask names a lane that never "
                        "reaches it)",
                        k.name, blockIdx.x, blockIdx.y, blockIdx.z);
      }
      break;
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
  if (failed.load()) return 1;
  return canary_check(err, errLen, k.name) ? 0 : 1;
}
