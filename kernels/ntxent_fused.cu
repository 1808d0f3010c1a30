// ntxent_fused.cu - NT-Xent straight from z, without the [M,M] similarity
// matrix (flash-attention style): a block owns a tile of NF_T rows and
// streams tiles of NF_T columns; each similarity tile is computed in
// registers from z chunks staged in shared memory and consumed at once.
//
// Shapes: z [M,D] (M = 2N), stats [M,2], rowLoss [M] (float64), dz [M,D].
// Similarities: s_ij = sum_k z_ik z_jk, fmaf in k order from 0.0f (the same
//   float32 value as similarity_fwd's gemm_tile, which also adds in k
//   order); logits l_ij = s_ij/tau in float64; the diagonal is excluded;
//   pos(i) = (i + M/2) mod M.
//   ntxent_fused_fwd: per row an online max mx and sum of exp(l - mx) over
//     the column tiles (rescaled when the max grows), lse_i = mx + log(sum);
//     rowLoss[i] = lse_i - l_i,pos(i) (NaN when a similarity of the row is
//     not finite); stats[i] = (float(lse_i), float(lse_i - float(lse_i))).
//   ntxent_fused_bwd: dz_i = sum_{j != i} G_ij z_j with
//     G_ij = float((exp(l_ij - lse_i) + exp(l_ij - lse_j) - 2[j == pos(i)])
//     / (tau*M)), lse from stats; each block recomputes its s tiles.
// Launch: block 256 threads. fwd: grid ceil(M/32). bwd: grid
//   (ceil(M/32), ceil(D/128)): block (x, y) writes rows 32x.. and columns
//   128y.. of dz.
// Thread maps: tile entry (r, c) with r = tid/8, c = tid%8 + 8q (q < 4);
//   fwd row statistics: warp w owns rows 4w..4w+3, lane = column, warp
//   shuffles reduce (fixed order); bwd accumulators: row tid/8, dz
//   columns tid%8 + 8q (q < 16), summed over the column tiles in order.
// Deterministic: no atomics; every sum has an order fixed by M and D.
// Shared memory (static): fwd 12.7 KiB, bwd 29.2 KiB.
#include "common.cuh"

#define NF_T 32
#define NF_K 32
#define NF_DC 128
#define NF_THREADS 256

// nf_tile computes the thread's 4 similarities s[r0 + tid/8][c0 + tid%8 + 8q]
// (0 outside [M) x [M)) with z chunks of NF_K staged in Zr and Zc.
template <class Tile>
__device__ __forceinline__ void nf_tile(Tile& Zr, Tile& Zc, const float* z, int M, int D, int r0, int c0,
                                        float acc[4]) {
  const int tr = threadIdx.x >> 3, tc = threadIdx.x & 7;
SIMCLR_UNROLL
  for (int q = 0; q < 4; ++q) acc[q] = 0.0f;
  for (int k0 = 0; k0 < D; k0 += NF_K) {
    for (int e = threadIdx.x; e < NF_T * NF_K; e += NF_THREADS) {
      const int kk = e % NF_K, rr = e / NF_K, k = k0 + kk;
      Zr[rr][kk] = (r0 + rr < M && k < D) ? z[(size_t)(r0 + rr) * D + k] : 0.0f;
      Zc[rr][kk] = (c0 + rr < M && k < D) ? z[(size_t)(c0 + rr) * D + k] : 0.0f;
    }
    __syncthreads();
    const int kn = imin(NF_K, D - k0);
    for (int kk = 0; kk < kn; ++kk) {
      const float a = Zr[tr][kk];
SIMCLR_UNROLL
      for (int q = 0; q < 4; ++q) acc[q] = fmaf(a, Zc[tc + 8 * q][kk], acc[q]);
    }
    __syncthreads();
  }
}

extern "C" __global__ void __launch_bounds__(NF_THREADS)
ntxent_fused_fwd(const float* z, int M, int D, float tau, double* rowLoss, float* stats) {
  SHARED_ARRAY2(float, Zr, NF_T, NF_K + 1);
  SHARED_ARRAY2(float, Zc, NF_T, NF_K + 1);
  SHARED_ARRAY2(float, St, NF_T, NF_T + 1);
  const int r0 = blockIdx.x * NF_T;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int tr = threadIdx.x >> 3, tc = threadIdx.x & 7;
  const double invTau = 1.0 / (double)tau;
  double mx[4], sum[4], posL[4], bad[4];
SIMCLR_UNROLL
  for (int q = 0; q < 4; ++q) {
    mx[q] = -INFINITY;
    sum[q] = 0.0;
    posL[q] = 0.0;
    bad[q] = 0.0;
  }
  for (int c0 = 0; c0 < M; c0 += NF_T) {
    float acc[4];
    nf_tile(Zr, Zc, z, M, D, r0, c0, acc);
SIMCLR_UNROLL
    for (int q = 0; q < 4; ++q) St[tr][tc + 8 * q] = acc[q];
    __syncthreads();
    for (int q = 0; q < 4; ++q) {
      const int rr = warp * 4 + q, i = r0 + rr, j = c0 + lane;
      const bool valid = i < M && j < M && j != i;
      const float v = St[rr][lane];
      const double l = (double)v * invTau;
      bad[q] += warp_sum_f64(valid && !isfinite(v) ? 1.0 : 0.0);
      posL[q] += warp_sum_f64(valid && j == (i + M / 2) % M ? l : 0.0);
      const double tmx = warp_max_f64(valid ? l : -INFINITY);
      if (tmx > mx[q]) {
        sum[q] *= exp(mx[q] - tmx);  // 0 while mx is -inf
        mx[q] = tmx;
      }
      sum[q] += warp_sum_f64(valid ? exp(l - mx[q]) : 0.0);
    }
    __syncthreads();  // St is rewritten by the next tile
  }
  if (lane != 0) return;
  for (int q = 0; q < 4; ++q) {
    const int i = r0 + warp * 4 + q;
    if (i >= M) continue;
    const double lse = mx[q] + log(sum[q]);
    rowLoss[i] = bad[q] > 0.0 ? NAN : lse - posL[q];
    const float head = (float)lse;
    stats[2 * i] = head;
    stats[2 * i + 1] = (float)(lse - (double)head);
  }
}

extern "C" __global__ void __launch_bounds__(NF_THREADS)
ntxent_fused_bwd(const float* z, const float* stats, int M, int D, float tau, float* dz) {
  SHARED_ARRAY2(float, Zr, NF_T, NF_K + 1);
  SHARED_ARRAY2(float, Zc, NF_T, NF_K + 1);
  SHARED_ARRAY2(float, G, NF_T, NF_T + 1);
  SHARED_ARRAY2(float, Zj, NF_T, NF_DC);
  SHARED_ARRAY(double, lseR, NF_T);
  SHARED_ARRAY(double, lseC, NF_T);
  const int r0 = blockIdx.x * NF_T, d0 = blockIdx.y * NF_DC;
  const int tr = threadIdx.x >> 3, tc = threadIdx.x & 7;
  const double invTau = 1.0 / (double)tau, scale = invTau / (double)M;
  if (threadIdx.x < NF_T) {
    const int i = r0 + threadIdx.x;
    lseR[threadIdx.x] = i < M ? (double)stats[2 * i] + (double)stats[2 * i + 1] : 0.0;
  }
  float out[16];
SIMCLR_UNROLL
  for (int q = 0; q < 16; ++q) out[q] = 0.0f;
  const int i = r0 + tr;
  const int pos = (i + M / 2) % M;
  for (int c0 = 0; c0 < M; c0 += NF_T) {
    // lseC was last read before the previous tile's closing barrier.
    if (threadIdx.x < NF_T) {
      const int j = c0 + threadIdx.x;
      lseC[threadIdx.x] = j < M ? (double)stats[2 * j] + (double)stats[2 * j + 1] : 0.0;
    }
    float acc[4];
    nf_tile(Zr, Zc, z, M, D, r0, c0, acc);  // its barriers publish lseR and lseC
SIMCLR_UNROLL
    for (int q = 0; q < 4; ++q) {
      const int cc = tc + 8 * q, j = c0 + cc;
      double g = 0.0;
      if (i < M && j < M && j != i) {
        const double l = (double)acc[q] * invTau;
        g = exp(l - lseR[tr]) + exp(l - lseC[cc]);
        if (j == pos) g -= 2.0;
      }
      G[tr][cc] = (float)(g * scale);
    }
    for (int e = threadIdx.x; e < NF_T * NF_DC; e += NF_THREADS) {
      const int jj = e / NF_DC, dd = e % NF_DC, j = c0 + jj, col = d0 + dd;
      Zj[jj][dd] = (j < M && col < D) ? z[(size_t)j * D + col] : 0.0f;
    }
    __syncthreads();
    for (int jj = 0; jj < NF_T; ++jj) {
      const float g = G[tr][jj];
SIMCLR_UNROLL
      for (int q = 0; q < 16; ++q) out[q] = fmaf(g, Zj[jj][tc + 8 * q], out[q]);
    }
    __syncthreads();
  }
  if (i >= M) return;
SIMCLR_UNROLL
  for (int q = 0; q < 16; ++q) {
    const int col = d0 + tc + 8 * q;
    if (col < D) dz[(size_t)i * D + col] = out[q];
  }
}
