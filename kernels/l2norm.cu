// l2norm.cu - row-wise L2 normalisation of x [N,D] (F.normalize, eps 1e-12).
//
//   l2norm_fwd: norms[r] = ||x[r]|| (float64 sum of squares),
//               y[r] = x[r] / float(max(norm, 1e-12)).
//   l2norm_bwd: dx[r] = (dy[r] - y[r]*float(y[r].dy[r])) * float(1/norm)
//               where norm > 1e-12, else dx[r] = dy[r] * 1e12 (the clamp has
//               no gradient).
// Launch: one warp per row, block 256 (8 rows per block), grid ceil(N/8);
// lanes stride the row and reduce with __shfl_xor_sync in a fixed order.
#include "common.cuh"

#define L2_EPS 1e-12

extern "C" __global__ void l2norm_fwd(const float* x, float* y, float* norms, int N, int D) {
  const int row = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  const int r = imin(row, N - 1);  // every lane takes part in the shuffles
  const float* src = x + (size_t)r * D;
  double sq = 0.0;
  for (int j = lane; j < D; j += 32) sq += (double)src[j] * (double)src[j];
  sq = warp_sum_f64(sq);
  if (row >= N) return;
  const double norm = sqrt(sq);
  if (lane == 0) norms[r] = (float)norm;
  const float den = (float)(norm > L2_EPS ? norm : L2_EPS);
  float* dst = y + (size_t)r * D;
  for (int j = lane; j < D; j += 32) dst[j] = src[j] / den;
}

extern "C" __global__ void l2norm_bwd(const float* y, const float* norms, const float* dy, float* dx, int N,
                                      int D) {
  const int row = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  const int r = imin(row, N - 1);
  const float* yv = y + (size_t)r * D;
  const float* g = dy + (size_t)r * D;
  double dot = 0.0;
  for (int j = lane; j < D; j += 32) dot += (double)yv[j] * (double)g[j];
  dot = warp_sum_f64(dot);
  if (row >= N) return;
  const double norm = (double)norms[r];
  float* out = dx + (size_t)r * D;
  if (!(norm > L2_EPS)) {
    const float inv = (float)(1.0 / L2_EPS);
    for (int j = lane; j < D; j += 32) out[j] = fmul_rn(g[j], inv);
    return;
  }
  const float dot32 = (float)dot;
  const float inv = (float)(1.0 / norm);
  for (int j = lane; j < D; j += 32) out[j] = fmul_rn(fsub_rn(g[j], fmul_rn(yv[j], dot32)), inv);
}
