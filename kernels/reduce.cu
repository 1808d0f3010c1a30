// reduce.cu - sum of squares and dot product, accumulated in float64.
//
// Computes, for block b, partial[b] = sum over i in [b*chunk, min((b+1)*chunk, n))
// of x[i]*x[i] (sumsq_partial) or a[i]*b[i] (dot_partial). The host adds the
// partials in block order, so the result depends only on n (the host fixes
// the grid from n), never on scheduling.
// Launch: grid = ceil(n/chunk) blocks (at most 1024), block 256 threads.
// Each thread strides through its block's chunk; the block reduces with
// warp shuffles + shared memory (block_sum_f64).
#include "common.cuh"

extern "C" __global__ void sumsq_partial(const float* x, int n, int chunk, double* partial) {
  const int lo = blockIdx.x * chunk;
  const int hi = imin(lo + chunk, n);
  double s = 0.0;
  for (int i = lo + threadIdx.x; i < hi; i += blockDim.x) {
    double v = (double)x[i];
    s += v * v;
  }
  s = block_sum_f64(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

extern "C" __global__ void dot_partial(const float* a, const float* b, int n, int chunk, double* partial) {
  const int lo = blockIdx.x * chunk;
  const int hi = imin(lo + chunk, n);
  double s = 0.0;
  for (int i = lo + threadIdx.x; i < hi; i += blockDim.x) s += (double)a[i] * (double)b[i];
  s = block_sum_f64(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}
