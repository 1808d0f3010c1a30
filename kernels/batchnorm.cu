// batchnorm.cu - batch normalisation over x [N,C,S] (S = H*W, or 1 for [N,C]),
// with the following ReLU optionally fused in.
//
// Semantics (unchanged from the one-block-per-channel kernels these replace):
//   forward train: per channel c, mean and biased variance of the M = N*S
//     values (two passes, float64), saveMean = mean, saveInvStd = invstd =
//     1/sqrt(var+eps), runMean/runVar updated like PyTorch (unbiased
//     variance for runVar), y = (x-mean)*scale + beta with mean = saveMean
//     and scale = float(gamma*(double)saveInvStd) (from the float invstd,
//     so that BatchNormApply recomputes y from the saved statistics bit for
//     bit); with relu, y = v < 0 ? 0 : v of that value
//     (relu_fwd's rule: NaN and -0 pass), so BatchNormReLUForwardTrain
//     equals bn + relu_fwd bit for bit without the extra read and write.
//   forward eval: y = (x-runMean)*scale + beta, scale = gamma/sqrt(runVar+eps).
//   apply (BatchNormApply): the training forward's y from saveMean and
//     saveInvStd (the same scale, then bn_apply), running statistics untouched.
//   backward: with g = dy (masked by the ReLU output y: g = y > 0 ? dy : 0,
//     relu_bwd's rule, when y is not null), dbeta = sum g, dgamma = invstd *
//     sum g*(x-mean) (float64), dx = k*(g - dbeta/M - (x-mean)*dgamma*invstd/M),
//     k = gamma*invstd (dx may alias dy).
//
// Launches (the host picks W, the chunking and the grids, batchnorm.go):
//   Statistics run on a 2-D grid: blockIdx.x = channel c, blockIdx.y = chunk
//   k of the channel's M values, visited as units of W = 4 floats (float4
//   loads; the host picks W = 4 when S % 4 == 0 and every pointer read as
//   float4 is 16-byte aligned, so a unit never crosses a row) or W = 1.
//   Chunk k covers units [k*chunk, min((k+1)*chunk, M/W)); thread t takes
//   units t, t+256, ... of it, four per trip (unrolled, independent loads),
//   then at most three singly (the tail). Each block reduces its sums in a
//   fixed tree (block_sum_f64) and writes one partial per (c, k); the
//   second stage adds a channel's partials in chunk order, k = 0, 1, ...
//   Nothing depends on timing and nothing uses atomics, so the results are
//   the same run to run and for every thread order.
//     bn_sum_partial   (C, chunks): psum[c*chunks+k] = sum of x.
//     bn_sq_partial    (C, chunks): mean from psum (thread 0, in order),
//                      psq[c*chunks+k] = sum of (x-mean)^2.
//     bn_train_finish  ceil(C/256): thread per channel: mean, var, invstd,
//                      saveMean, saveInvStd, runMean, runVar, scale[c].
//     bn_eval_scale    ceil(C/256): scale[c] from the running variance.
//     bn_apply_scale   ceil(C/256): scale[c] from gamma and saveInvStd.
//     bn_bwd_partial   (C, chunks): pg[2*(c*chunks+k)+{0,1}] = sum g,
//                      sum g*(x-mean).
//     bn_bwd_finish    ceil(C/256): dgamma, dbeta and coef[3c..3c+2] =
//                      k, dbeta/M, dgamma*invstd/M.
//   The elementwise passes are 1-D grid-stride loops over all N*C*S/W
//   units (channel (u / (S/W)) % C):
//     bn_apply         y = (x-mean[c])*scale[c] + shift[c], ReLU optional.
//     bn_bwd_apply     dx from coef.
// The elementwise float math uses non-contracted ops to match the CPU
// backend's rounding.
#include "common.cuh"

// bn_f4 is four floats loaded or stored as one 16-byte access (float4
// under nvcc; a plain struct in the emulator).
#ifdef SIMCLR_EMU
struct bn_f4 {
  float x, y, z, w;
};
#else
typedef float4 bn_f4;
#endif

// bn_load loads unit u (W floats) of x into v[0..W).
template <int W>
__device__ __forceinline__ void bn_load(const float* x, size_t u, float* v) {
  if (W == 4) {
    const bn_f4 q = reinterpret_cast<const bn_f4*>(x)[u];
    v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
  } else {
    v[0] = x[u];
  }
}

// bn_step moves (n, s) on by (dn, ds) units in a row of SU units.
__device__ __forceinline__ void bn_step(int& n, int& s, int dn, int ds, int SU) {
  s += ds;
  n += dn;
  if (s >= SU) {
    s -= SU;
    ++n;
  }
}

// bn_chunk_sums walks the block's chunk of channel c (units [lo, hi) of the
// channel, SU units per row of the N x C rows) and returns this thread's
// calls f(off) for each of this thread's units in unit order (off: the
// unit's offset in units from the tensor's start); f accumulates.
template <int W, typename F>
__device__ __forceinline__ void bn_chunk_sums(int c, int C, int SU, int lo, int hi, F f) {
  const int B = blockDim.x;
  int u = lo + threadIdx.x;
  if (u >= hi) return;
  int n = u / SU, s = u % SU;
  const int dn = B / SU, ds = B % SU;
  for (; u + 3 * B < hi; u += 4 * B) {
    size_t off[4];
    SIMCLR_UNROLL
    for (int j = 0; j < 4; ++j) {
      off[j] = ((size_t)n * C + c) * SU + s;
      bn_step(n, s, dn, ds, SU);
    }
    SIMCLR_UNROLL
    for (int j = 0; j < 4; ++j) f(off[j]);
  }
  for (; u < hi; u += B) {  // the tail: at most three units
    f(((size_t)n * C + c) * SU + s);
    bn_step(n, s, dn, ds, SU);
  }
}

template <int W>
__device__ __forceinline__ double bn_sum_chunk(const float* x, int c, int C, int SU, int lo, int hi) {
  double acc = 0.0;
  bn_chunk_sums<W>(c, C, SU, lo, hi, [&](size_t off) {
    float v[W];
    bn_load<W>(x, off, v);
    SIMCLR_UNROLL
    for (int j = 0; j < W; ++j) acc += (double)v[j];
  });
  return acc;
}

template <int W>
__device__ __forceinline__ double bn_sq_chunk(const float* x, double mean, int c, int C, int SU, int lo, int hi) {
  double acc = 0.0;
  bn_chunk_sums<W>(c, C, SU, lo, hi, [&](size_t off) {
    float v[W];
    bn_load<W>(x, off, v);
    SIMCLR_UNROLL
    for (int j = 0; j < W; ++j) {
      const double d = (double)v[j] - mean;
      acc += d * d;
    }
  });
  return acc;
}

// bn_grad is dy masked by the ReLU output y unless y is null.
__device__ __forceinline__ float bn_grad(float dy, const float* y, float yv) {
  return y == nullptr || yv > 0.0f ? dy : 0.0f;
}

template <int W>
__device__ __forceinline__ void bn_bwd_chunk(const float* dy, const float* y, const float* x, double mean, int c,
                                             int C, int SU, int lo, int hi, double& sdy, double& sdyx) {
  bn_chunk_sums<W>(c, C, SU, lo, hi, [&](size_t off) {
    float g[W], xv[W], yv[W];
    bn_load<W>(dy, off, g);
    bn_load<W>(x, off, xv);
    if (y != nullptr) bn_load<W>(y, off, yv);
    SIMCLR_UNROLL
    for (int j = 0; j < W; ++j) {
      const double d = (double)bn_grad(g[j], y, y != nullptr ? yv[j] : 0.0f);
      sdy += d;
      sdyx += d * ((double)xv[j] - mean);
    }
  });
}

// bn_range is chunk blockIdx.y's units [lo, hi) of a channel of U units.
__device__ __forceinline__ void bn_range(int U, int chunk, int& lo, int& hi) {
  lo = blockIdx.y * chunk;
  hi = imin(lo + chunk, U);
}

// bn_channel_sum adds channel c's chunks partials p[(c*chunks+k)*stride]
// in chunk order: the one second-stage order every kernel uses.
__device__ __forceinline__ double bn_channel_sum(const double* p, int c, int chunks, int stride) {
  double s = 0.0;
  for (int k = 0; k < chunks; ++k) s += p[((size_t)c * chunks + k) * stride];
  return s;
}

extern "C" __global__ void bn_sum_partial(const float* x, int N, int C, int S, int W, int chunk, double* psum) {
  const int c = blockIdx.x, SU = S / W, U = N * SU;
  int lo, hi;
  bn_range(U, chunk, lo, hi);
  double acc = W == 4 ? bn_sum_chunk<4>(x, c, C, SU, lo, hi) : bn_sum_chunk<1>(x, c, C, SU, lo, hi);
  acc = block_sum_f64(acc);
  if (threadIdx.x == 0) psum[(size_t)c * gridDim.y + blockIdx.y] = acc;
}

extern "C" __global__ void bn_sq_partial(const float* x, const double* psum, int N, int C, int S, int W, int chunk,
                                         double* psq) {
  SHARED_ARRAY(double, meanSh, 1);
  const int c = blockIdx.x, SU = S / W, U = N * SU;
  if (threadIdx.x == 0) meanSh[0] = bn_channel_sum(psum, c, gridDim.y, 1) / (double)(N * S);
  __syncthreads();
  const double mean = meanSh[0];
  int lo, hi;
  bn_range(U, chunk, lo, hi);
  double acc = W == 4 ? bn_sq_chunk<4>(x, mean, c, C, SU, lo, hi) : bn_sq_chunk<1>(x, mean, c, C, SU, lo, hi);
  acc = block_sum_f64(acc);
  if (threadIdx.x == 0) psq[(size_t)c * gridDim.y + blockIdx.y] = acc;
}

// bn_train_scale is the training-mode output's per-channel factor, gamma *
// invstd from the rounded (saved) invstd, one rounding to float; the CPU
// backend's bnScale.
__device__ __forceinline__ float bn_train_scale(float gamma, float invStd) {
  return (float)((double)gamma * (double)invStd);
}

extern "C" __global__ void bn_train_finish(const double* psum, const double* psq, int chunks, const float* gamma,
                                           float* saveMean, float* saveInvStd, float* runMean, float* runVar,
                                           float* scale, int C, int M, float momentum, float eps) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  const double mean = bn_channel_sum(psum, c, chunks, 1) / (double)M;
  const double var = bn_channel_sum(psq, c, chunks, 1) / (double)M;
  const double invStd = 1.0 / sqrt(var + (double)eps);
  const double mom = (double)momentum;
  const double unbias = (double)M / (double)(M - 1);
  const float inv32 = (float)invStd;
  saveMean[c] = (float)mean;
  saveInvStd[c] = inv32;
  runMean[c] = (float)((1.0 - mom) * (double)runMean[c] + mom * mean);
  runVar[c] = (float)((1.0 - mom) * (double)runVar[c] + mom * var * unbias);
  scale[c] = bn_train_scale(gamma[c], inv32);
}

// bn_apply_scale is BatchNormApply's per-channel factor from the saved
// statistics: scale[c] = bn_train_scale(gamma[c], saveInvStd[c]), the value
// bn_train_finish computed, so bn_apply recomputes y bit for bit.
extern "C" __global__ void bn_apply_scale(const float* gamma, const float* saveInvStd, float* scale, int C) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  scale[c] = bn_train_scale(gamma[c], saveInvStd[c]);
}

extern "C" __global__ void bn_eval_scale(const float* gamma, const float* runVar, float* scale, int C, float eps) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  scale[c] = (float)((double)gamma[c] / sqrt((double)runVar[c] + (double)eps));
}

// bn_norm1 is one output value: (x-mean)*scale + shift, ReLU optional.
__device__ __forceinline__ float bn_norm1(float x, float mean, float scale, float shift, int relu) {
  const float v = fadd_rn(fmul_rn(fsub_rn(x, mean), scale), shift);
  return relu && v < 0.0f ? 0.0f : v;
}

// bn_apply_loop is bn_apply for one unit width (the width test stays out
// of the loop).
template <int W>
__device__ __forceinline__ void bn_apply_loop(const float* x, const float* mean, const float* scale,
                                              const float* shift, float* y, int C, int SU, int total, int relu) {
  GRID_STRIDE(u, total) {
    const int c = (u / SU) % C;
    const float m = mean[c], k = scale[c], b = shift[c];
    if (W == 4) {
      const bn_f4 q = reinterpret_cast<const bn_f4*>(x)[u];
      bn_f4 r;
      r.x = bn_norm1(q.x, m, k, b, relu);
      r.y = bn_norm1(q.y, m, k, b, relu);
      r.z = bn_norm1(q.z, m, k, b, relu);
      r.w = bn_norm1(q.w, m, k, b, relu);
      reinterpret_cast<bn_f4*>(y)[u] = r;
    } else {
      y[u] = bn_norm1(x[u], m, k, b, relu);
    }
  }
}

extern "C" __global__ void bn_apply(const float* x, const float* mean, const float* scale, const float* shift,
                                    float* y, int N, int C, int S, int W, int relu) {
  const int SU = S / W, total = N * C * SU;
  if (W == 4) {
    bn_apply_loop<4>(x, mean, scale, shift, y, C, SU, total, relu);
  } else {
    bn_apply_loop<1>(x, mean, scale, shift, y, C, SU, total, relu);
  }
}

extern "C" __global__ void bn_bwd_partial(const float* dy, const float* y, const float* x, const float* saveMean,
                                          int N, int C, int S, int W, int chunk, double* pg) {
  const int c = blockIdx.x, SU = S / W, U = N * SU;
  const double mean = (double)saveMean[c];
  int lo, hi;
  bn_range(U, chunk, lo, hi);
  double sdy = 0.0, sdyx = 0.0;
  if (W == 4) {
    bn_bwd_chunk<4>(dy, y, x, mean, c, C, SU, lo, hi, sdy, sdyx);
  } else {
    bn_bwd_chunk<1>(dy, y, x, mean, c, C, SU, lo, hi, sdy, sdyx);
  }
  sdy = block_sum_f64(sdy);
  sdyx = block_sum_f64(sdyx);
  if (threadIdx.x == 0) {
    const size_t j = (size_t)c * gridDim.y + blockIdx.y;
    pg[2 * j + 0] = sdy;
    pg[2 * j + 1] = sdyx;
  }
}

extern "C" __global__ void bn_bwd_finish(const double* pg, int chunks, const float* gamma, const float* saveInvStd,
                                         float* dgamma, float* dbeta, float* coef, int C, int M) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  const double inv = (double)saveInvStd[c];
  const double sdy = bn_channel_sum(pg, c, chunks, 2);
  const double sdyx = bn_channel_sum(pg + 1, c, chunks, 2);
  const double dg = sdyx * inv;
  dgamma[c] = (float)dg;
  dbeta[c] = (float)sdy;
  coef[3 * c + 0] = (float)((double)gamma[c] * inv);
  coef[3 * c + 1] = (float)(sdy / (double)M);
  coef[3 * c + 2] = (float)(dg * inv / (double)M);
}

// bn_dx1 is one dx value from coef k, a, bcoef.
__device__ __forceinline__ float bn_dx1(float g, float x, float mean, float k, float a, float bcoef) {
  return fmul_rn(k, fsub_rn(fsub_rn(g, a), fmul_rn(fsub_rn(x, mean), bcoef)));
}

// bn_bwd_apply_loop is bn_bwd_apply for one unit width.
template <int W>
__device__ __forceinline__ void bn_bwd_apply_loop(const float* dy, const float* y, const float* x,
                                                  const float* saveMean, const float* coef, float* dx, int C, int SU,
                                                  int total) {
  GRID_STRIDE(u, total) {
    const int c = (u / SU) % C;
    const float m = saveMean[c], k = coef[3 * c], a = coef[3 * c + 1], bc = coef[3 * c + 2];
    if (W == 4) {
      const bn_f4 q = reinterpret_cast<const bn_f4*>(dy)[u];
      const bn_f4 xv = reinterpret_cast<const bn_f4*>(x)[u];
      bn_f4 yv = q;
      if (y != nullptr) yv = reinterpret_cast<const bn_f4*>(y)[u];
      bn_f4 r;
      r.x = bn_dx1(bn_grad(q.x, y, yv.x), xv.x, m, k, a, bc);
      r.y = bn_dx1(bn_grad(q.y, y, yv.y), xv.y, m, k, a, bc);
      r.z = bn_dx1(bn_grad(q.z, y, yv.z), xv.z, m, k, a, bc);
      r.w = bn_dx1(bn_grad(q.w, y, yv.w), xv.w, m, k, a, bc);
      reinterpret_cast<bn_f4*>(dx)[u] = r;
    } else {
      dx[u] = bn_dx1(bn_grad(dy[u], y, y != nullptr ? y[u] : 0.0f), x[u], m, k, a, bc);
    }
  }
}

extern "C" __global__ void bn_bwd_apply(const float* dy, const float* y, const float* x, const float* saveMean,
                                        const float* coef, float* dx, int N, int C, int S, int W) {
  const int SU = S / W, total = N * C * SU;
  if (W == 4) {
    bn_bwd_apply_loop<4>(dy, y, x, saveMean, coef, dx, C, SU, total);
  } else {
    bn_bwd_apply_loop<1>(dy, y, x, saveMean, coef, dx, C, SU, total);
  }
}
