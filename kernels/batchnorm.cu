// batchnorm.cu - batch normalisation over x [N,C,S] (S = H*W, or 1 for [N,C]),
// with the following ReLU optionally fused in.
//
//   bn_fwd_train(x, gamma, beta, y, saveMean, saveInvStd, runMean, runVar,
//                N, C, S, momentum, eps, relu):
//     per channel c, mean and biased variance of the M = N*S values (two
//     passes, float64), saves mean and invstd = 1/sqrt(var+eps), updates
//     runMean/runVar like PyTorch (unbiased variance for runVar) and writes
//     y = (x-mean)*scale + beta with scale = float(gamma*invstd). relu != 0
//     writes y = v < 0 ? 0 : v of that value instead (relu_fwd's rule: NaN
//     and -0 pass), so BatchNormReLUForwardTrain equals bn + relu_fwd bit for
//     bit without the extra read and write of y.
//   bn_fwd_eval: y = (x-runMean)*scale + beta with scale = gamma/sqrt(runVar+eps).
//   bn_bwd(dy, y, x, gamma, saveMean, saveInvStd, dx, dgamma, dbeta, N, C, S):
//     with g = dy, dbeta = sum g, dgamma = invstd * sum g*(x-mean) (float64),
//     dx = k*(g - dbeta/M - (x-mean)*dgamma*invstd/M), k = gamma*invstd
//     (dx may alias dy). y may be null; when it is not (the output of
//     bn_fwd_train with relu), g = y > 0 ? dy : 0 (relu_bwd's rule, NaN y
//     gives 0) in both passes, so BatchNormReLUBackward equals relu_bwd + bn
//     bit for bit without writing the masked gradient.
// Launch: bn_fwd_train and bn_bwd use one block of 256 threads per channel
// (grid = C): each thread strides over the channel's M values, the block
// reduces with warp shuffles + shared memory in a fixed tree order, so the
// statistics are deterministic (no atomics). bn_fwd_eval is a 1-D
// grid-stride loop over all N*C*S values.
// The elementwise float math uses non-contracted ops to match the CPU
// backend's rounding.
#include "common.cuh"

// The per-channel loops visit i = threadIdx.x, +blockDim.x, ... < M = N*S
// as (n, s) = (i / S, i % S), stepping (n, s) by (blockDim.x / S,
// blockDim.x % S) with one carry instead of dividing per element (an
// integer division is ~20 instructions). Same elements in the same order
// per thread, so the sums are unchanged.
__device__ __forceinline__ void bn_next(int& n, int& s, int dn, int ds, int S) {
  s += ds;
  n += dn;
  if (s >= S) {
    s -= S;
    ++n;
  }
}

extern "C" __global__ void bn_fwd_train(const float* x, const float* gamma, const float* beta, float* y,
                                        float* saveMean, float* saveInvStd, float* runMean, float* runVar,
                                        int N, int C, int S, float momentum, float eps, int relu) {
  const int c = blockIdx.x;
  const int M = N * S;
  const int dn = S > 0 ? (int)blockDim.x / S : 0, ds = S > 0 ? (int)blockDim.x % S : 0;  // S == 0: M == 0, no trip
  double sum = 0.0;
  for (int i = threadIdx.x, n = S > 0 ? i / S : 0, s = S > 0 ? i % S : 0; i < M; i += blockDim.x, bn_next(n, s, dn, ds, S)) {
    sum += (double)x[((size_t)n * C + c) * S + s];
  }
  sum = block_sum_f64(sum);
  const double mean = sum / (double)M;
  double sq = 0.0;
  for (int i = threadIdx.x, n = S > 0 ? i / S : 0, s = S > 0 ? i % S : 0; i < M; i += blockDim.x, bn_next(n, s, dn, ds, S)) {
    const double d = (double)x[((size_t)n * C + c) * S + s] - mean;
    sq += d * d;
  }
  sq = block_sum_f64(sq);
  const double var = sq / (double)M;
  const double invStd = 1.0 / sqrt(var + (double)eps);
  if (threadIdx.x == 0) {
    const double mom = (double)momentum;
    const double unbias = (double)M / (double)(M - 1);
    saveMean[c] = (float)mean;
    saveInvStd[c] = (float)invStd;
    runMean[c] = (float)((1.0 - mom) * (double)runMean[c] + mom * mean);
    runVar[c] = (float)((1.0 - mom) * (double)runVar[c] + mom * var * unbias);
  }
  const float mean32 = (float)mean;
  const float scale = (float)((double)gamma[c] * invStd);
  const float shift = beta[c];
  for (int i = threadIdx.x, n = S > 0 ? i / S : 0, s = S > 0 ? i % S : 0; i < M; i += blockDim.x, bn_next(n, s, dn, ds, S)) {
    const size_t off = ((size_t)n * C + c) * S + s;
    const float v = fadd_rn(fmul_rn(fsub_rn(x[off], mean32), scale), shift);
    y[off] = relu && v < 0.0f ? 0.0f : v;
  }
}

extern "C" __global__ void bn_fwd_eval(const float* x, const float* gamma, const float* beta,
                                       const float* runMean, const float* runVar, float* y, int N, int C,
                                       int S, float eps) {
  const int total = N * C * S;
  GRID_STRIDE(i, total) {
    const int c = (i / S) % C;
    const float scale = (float)((double)gamma[c] / sqrt((double)runVar[c] + (double)eps));
    y[i] = fadd_rn(fmul_rn(fsub_rn(x[i], runMean[c]), scale), beta[c]);
  }
}

// bn_grad is dy[off], masked by the ReLU output y unless y is null.
__device__ __forceinline__ float bn_grad(const float* dy, const float* y, size_t off) {
  return y == nullptr || y[off] > 0.0f ? dy[off] : 0.0f;
}

extern "C" __global__ void bn_bwd(const float* dy, const float* y, const float* x, const float* gamma,
                                  const float* saveMean, const float* saveInvStd, float* dx, float* dgamma,
                                  float* dbeta, int N, int C, int S) {
  const int c = blockIdx.x;
  const int M = N * S;
  const int dn = S > 0 ? (int)blockDim.x / S : 0, ds = S > 0 ? (int)blockDim.x % S : 0;  // S == 0: M == 0, no trip
  const double mean = (double)saveMean[c], inv = (double)saveInvStd[c];
  double sdy = 0.0, sdyx = 0.0;
  for (int i = threadIdx.x, n = S > 0 ? i / S : 0, s = S > 0 ? i % S : 0; i < M; i += blockDim.x, bn_next(n, s, dn, ds, S)) {
    const size_t off = ((size_t)n * C + c) * S + s;
    const double d = (double)bn_grad(dy, y, off);
    sdy += d;
    sdyx += d * ((double)x[off] - mean);
  }
  sdy = block_sum_f64(sdy);
  sdyx = block_sum_f64(sdyx);
  const double dg = sdyx * inv;
  if (threadIdx.x == 0) {
    dgamma[c] = (float)dg;
    dbeta[c] = (float)sdy;
  }
  const float k = (float)((double)gamma[c] * inv);
  const float a = (float)(sdy / (double)M);
  const float bcoef = (float)(dg * inv / (double)M);
  const float mean32 = saveMean[c];
  for (int i = threadIdx.x, n = S > 0 ? i / S : 0, s = S > 0 ? i % S : 0; i < M; i += blockDim.x, bn_next(n, s, dn, ds, S)) {
    const size_t off = ((size_t)n * C + c) * S + s;
    const float g = bn_grad(dy, y, off);
    dx[off] = fmul_rn(k, fsub_rn(fsub_rn(g, a), fmul_rn(fsub_rn(x[off], mean32), bcoef)));
  }
}
