// common.cuh - helpers shared by every kernel file: index helpers, warp and
// block reductions (float64, deterministic tree order), and the no-FMA
// float arithmetic the optimiser and batch-norm kernels use to match the Go
// CPU backend bit for bit.
//
// Reductions: a warp reduces with __shfl_xor_sync (every lane gets the
// total), lane 0 of each warp parks its value in shared memory, and warp 0
// reduces those. The order depends only on blockDim, never on timing, so the
// values are deterministic (no atomics anywhere in this project's kernels).
// block_* helpers need blockDim.x to be a multiple of 32 (at most 1024) and
// blockDim.y == blockDim.z == 1; every thread of the block must call them.
#ifndef SIMCLR_COMMON_CUH
#define SIMCLR_COMMON_CUH

#define SIMCLR_FULL_MASK 0xffffffffu

// Shared memory is declared only through these macros: under nvcc they are
// plain __shared__ arrays; the CPU emulator (internal/backend/cuda/cuda_emu.h,
// which defines its own versions) makes them tracked arrays that report
// races, uninitialised reads and out-of-range indices. DYNAMIC_SHARED views
// the launch's dynamic shared memory (extern __shared__) as T[].
// SIMCLR_UNROLL is nvcc's #pragma unroll, and nothing for g++ (which would
// warn about an unknown pragma).
#ifdef SIMCLR_EMU
#define SIMCLR_UNROLL
#else
#define SIMCLR_UNROLL _Pragma("unroll")
#endif

#ifndef SIMCLR_EMU
#define SHARED_ARRAY(T, name, n) __shared__ T name[n]
#define SHARED_ARRAY2(T, name, n, m) __shared__ T name[n][m]
#define DYNAMIC_SHARED(T, name) extern __shared__ T name[]
#endif

// GRID_STRIDE loops i over [0, n) with a 1-D grid of any size. The host
// keeps n below 2^31 - 2^26 so i + stride cannot overflow.
#define GRID_STRIDE(i, n)                                      \
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
       i += blockDim.x * gridDim.x)

__device__ __forceinline__ int imin(int a, int b) { return a < b ? a : b; }
__device__ __forceinline__ int imax(int a, int b) { return a > b ? a : b; }

// Rounded float ops that nvcc never contracts into an FMA.
__device__ __forceinline__ float fmul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ float fadd_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ float fsub_rn(float a, float b) { return __fadd_rn(a, -b); }

__device__ __forceinline__ double warp_sum_f64(double v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(SIMCLR_FULL_MASK, v, off);
  return v;
}

__device__ __forceinline__ double warp_max_f64(double v) {
  for (int off = 16; off > 0; off >>= 1) {
    double o = __shfl_xor_sync(SIMCLR_FULL_MASK, v, off);
    v = o > v ? o : v;
  }
  return v;
}

// block_sum_f64 returns the sum of v over the block to every thread.
__device__ __noinline__ double block_sum_f64(double v) {
  SHARED_ARRAY(double, part, 32);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int nwarps = (blockDim.x + 31) >> 5;
  v = warp_sum_f64(v);
  __syncthreads();  // an earlier call may still be reading part[0]
  if (lane == 0) part[warp] = v;
  __syncthreads();
  if (warp == 0) {
    double t = lane < nwarps ? part[lane] : 0.0;
    t = warp_sum_f64(t);
    if (lane == 0) part[0] = t;
  }
  __syncthreads();
  return part[0];
}

// block_max_f64 returns the maximum of v over the block to every thread
// (-inf when every v is -inf; NaNs are ignored unless every value is NaN).
__device__ __noinline__ double block_max_f64(double v) {
  SHARED_ARRAY(double, part, 32);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int nwarps = (blockDim.x + 31) >> 5;
  v = warp_max_f64(v);
  __syncthreads();
  if (lane == 0) part[warp] = v;
  __syncthreads();
  if (warp == 0) {
    double t = lane < nwarps ? part[lane] : -INFINITY;
    t = warp_max_f64(t);
    if (lane == 0) part[0] = t;
  }
  __syncthreads();
  return part[0];
}

#endif  // SIMCLR_COMMON_CUH
