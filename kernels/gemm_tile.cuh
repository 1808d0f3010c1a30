// gemm_tile.cuh - the tiled SGEMM core every matrix-shaped kernel uses
// (convolutions as implicit GEMM, linear, similarity).
//
// Computes C[m,n] = sum_{k in [kBegin,kEnd)} A(m,k) * B(k,n) for one 64x64
// tile of C, where A and B are functors that fetch an operand element from
// global memory (a plain row-major matrix, an im2col gather, ds + ds^T ...)
// and Store writes (or post-processes) each result.
//
// Launch: block 256 threads (16x16 logical), grid.x = ceil(N/64),
// grid.y = ceil(M/64), grid.z = split-K slices (1 unless the op splits K).
// Tiling: BM = BN = 64, BK = 16. Per K-step the loader stages a 64x16 A
// tile and a 16x64 B tile in shared memory (padded rows against bank
// conflicts), then every thread accumulates a 4x4 register micro-tile of C
// (rows ty+16i, columns tx+16j). The loader (gt_load_a / gt_load_b) and the
// math (gt_mma_fma) are separate functions so a tensor-core rung (mma.sync
// on TF32/BF16 fragments loaded from the same shared tiles) can replace
// gt_mma_fma without touching the operand functors.
//
// Precision: the template parameter P (mma.cuh: PrecFP32, PrecTF32,
// PrecBF16) rounds every operand element as the loader stages it, so the
// math sums exact fp32 products of rounded operands in fp32, what a
// tensor-core mma.sync computes; PrecFP32 (the default) is a no-op.
#ifndef SIMCLR_GEMM_TILE_CUH
#define SIMCLR_GEMM_TILE_CUH

#include "common.cuh"
#include "mma.cuh"

#define GT_BM 64
#define GT_BN 64
#define GT_BK 16
#define GT_THREADS 256
#define GT_PAD 4

// gt_load_a stages A[m0:m0+BM, k0:k0+BK] as As[k][m]; zero outside [M) x [K).
// Consecutive threads read consecutive k (row-major A is coalesced).
// TileA is float[GT_BK][GT_BM + GT_PAD] (SHARED_ARRAY2 in gemm_tile).
// Each element is rounded by P::round.
template <class P, class A, class TileA>
__device__ __forceinline__ void gt_load_a(TileA& As, const A& a, int m0, int k0, int M, int K) {
  for (int e = threadIdx.x; e < GT_BM * GT_BK; e += GT_THREADS) {
    const int kk = e % GT_BK, mm = e / GT_BK;
    const int m = m0 + mm, k = k0 + kk;
    As[kk][mm] = (m < M && k < K) ? P::round(a(m, k)) : 0.0f;
  }
}

// gt_load_b stages B[k0:k0+BK, n0:n0+BN] as Bs[k][n]; zero outside [K) x [N).
// Consecutive threads read consecutive n (im2col columns are coalesced).
template <class P, class B, class TileB>
__device__ __forceinline__ void gt_load_b(TileB& Bs, const B& b, int k0, int n0, int K, int N) {
  for (int e = threadIdx.x; e < GT_BN * GT_BK; e += GT_THREADS) {
    const int nn = e % GT_BN, kk = e / GT_BN;
    const int k = k0 + kk, n = n0 + nn;
    Bs[kk][nn] = (k < K && n < N) ? P::round(b(k, n)) : 0.0f;
  }
}

// gt_mma_fma: the CUDA-core math rung, a 4x4 outer-product accumulation per
// k of the staged tiles.
template <class TileA, class TileB>
__device__ __forceinline__ void gt_mma_fma(TileA& As, TileB& Bs, float acc[4][4], int ty, int tx) {
SIMCLR_UNROLL
  for (int kk = 0; kk < GT_BK; ++kk) {
    float a[4], b[4];
SIMCLR_UNROLL
    for (int i = 0; i < 4; ++i) a[i] = As[kk][ty + 16 * i];
SIMCLR_UNROLL
    for (int j = 0; j < 4; ++j) b[j] = Bs[kk][tx + 16 * j];
SIMCLR_UNROLL
    for (int i = 0; i < 4; ++i)
SIMCLR_UNROLL
      for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
  }
}

// gemm_tile computes the block's 64x64 tile of C over k in [kBegin, kEnd)
// and hands each in-range element to store(m, n, value), with the operands
// rounded by P.
template <class P = PrecFP32, class A, class B, class S>
__device__ __forceinline__ void gemm_tile(int M, int N, int kBegin, int kEnd, const A& a, const B& b, const S& store) {
  SHARED_ARRAY2(float, As, GT_BK, GT_BM + GT_PAD);
  SHARED_ARRAY2(float, Bs, GT_BK, GT_BN + GT_PAD);
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int m0 = blockIdx.y * GT_BM, n0 = blockIdx.x * GT_BN;
  float acc[4][4];
SIMCLR_UNROLL
  for (int i = 0; i < 4; ++i)
SIMCLR_UNROLL
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
  for (int k0 = kBegin; k0 < kEnd; k0 += GT_BK) {
    gt_load_a<P>(As, a, m0, k0, M, kEnd);
    gt_load_b<P>(Bs, b, k0, n0, kEnd, N);
    __syncthreads();
    gt_mma_fma(As, Bs, acc, ty, tx);
    __syncthreads();
  }
SIMCLR_UNROLL
  for (int i = 0; i < 4; ++i) {
    const int m = m0 + ty + 16 * i;
    if (m >= M) continue;
SIMCLR_UNROLL
    for (int j = 0; j < 4; ++j) {
      const int n = n0 + tx + 16 * j;
      if (n < N) store(m, n, acc[i][j]);
    }
  }
}

// Operand functors shared by several files.

// RowMajor reads p[row*ld + col].
struct RowMajor {
  const float* p;
  int ld;
  __device__ __forceinline__ float operator()(int r, int c) const { return p[(size_t)r * ld + c]; }
};

// Transposed reads p[col*ld + row] (the transpose of a row-major matrix).
struct Transposed {
  const float* p;
  int ld;
  __device__ __forceinline__ float operator()(int r, int c) const { return p[(size_t)c * ld + r]; }
};

// StoreRowMajor writes p[row*ld + col] = v.
struct StoreRowMajor {
  float* p;
  int ld;
  __device__ __forceinline__ void operator()(int r, int c, float v) const { p[(size_t)r * ld + c] = v; }
};

#endif  // SIMCLR_GEMM_TILE_CUH
