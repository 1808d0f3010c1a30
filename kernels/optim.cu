// optim.cu - optimiser updates, applied in place, one thread per element.
//
//   momentum_step (PyTorch SGD, dampening 0; LARS passes its trust ratio):
//     d = g (+ wd*p when wd != 0); d = tr*d when tr != 1;
//     buf = first ? d : mom*buf + d; step = nesterov ? d + mom*buf : buf;
//     p -= lr*step.
//   adamw_step (PyTorch AdamW; the host computes decay = 1 - lr*wd,
//     stepSize = lr/(1-beta1^t) and bc2Sqrt = sqrt(1-beta2^t) in float64):
//     p *= decay; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
//     p -= stepSize * m/(sqrt(v)/bc2Sqrt + eps).
//   adamw_multi: adamw_step over many tensors in one launch (see below).
// Every operation is rounded to float32 separately (__fmul_rn/__fadd_rn,
// never contracted into an FMA), so the results equal the CPU backend's.
// Launch: 1-D grid-stride loop, block 256.
#include "common.cuh"

// momentum_update applies momentum_step's update to element i of p and
// buf: the one copy of that arithmetic, shared by momentum_step,
// lars_apply and momentum_multi.
__device__ __forceinline__ void momentum_update(float* p, const float* g, float* buf, int i, float lr, float mom,
                                                float wd, float tr, int nesterov, int first) {
  const float x = p[i];
  float d = g[i];
  if (wd != 0.0f) d = fadd_rn(d, fmul_rn(wd, x));
  if (tr != 1.0f) d = fmul_rn(tr, d);
  const float m = first ? d : fadd_rn(fmul_rn(mom, buf[i]), d);
  buf[i] = m;
  const float step = nesterov ? fadd_rn(d, fmul_rn(mom, m)) : m;
  p[i] = fsub_rn(x, fmul_rn(lr, step));
}

extern "C" __global__ void momentum_step(float* p, const float* g, float* buf, int n, float lr, float mom,
                                         float wd, float tr, int nesterov, int first) {
  GRID_STRIDE(i, n) { momentum_update(p, g, buf, i, lr, mom, wd, tr, nesterov, first); }
}

// adamw_update applies adamw_step's update to element i of p, m and v: the
// one copy of that arithmetic, shared by adamw_step and adamw_multi.
__device__ __forceinline__ void adamw_update(float* p, const float* g, float* m, float* v, int i, float decay,
                                             float beta1, float beta2, float oneMinusB1, float oneMinusB2,
                                             float stepSize, float bc2Sqrt, float eps) {
  const float gi = g[i];
  const float x = fmul_rn(p[i], decay);
  const float mi = fadd_rn(fmul_rn(beta1, m[i]), fmul_rn(oneMinusB1, gi));
  const float vi = fadd_rn(fmul_rn(beta2, v[i]), fmul_rn(oneMinusB2, fmul_rn(gi, gi)));
  m[i] = mi;
  v[i] = vi;
  const float denom = fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bc2Sqrt), eps);
  p[i] = fsub_rn(x, fmul_rn(stepSize, __fdiv_rn(mi, denom)));
}

extern "C" __global__ void adamw_step(float* p, const float* g, float* m, float* v, int n, float decay,
                                      float beta1, float beta2, float oneMinusB1, float oneMinusB2,
                                      float stepSize, float bc2Sqrt, float eps) {
  GRID_STRIDE(i, n) { adamw_update(p, g, m, v, i, decay, beta1, beta2, oneMinusB1, oneMinusB2, stepSize, bc2Sqrt, eps); }
}

// ---------------------------------------------------------------------------
// LARS over many tensors in three launches and no host round trip per
// tensor (Backend.LARSStep). The host builds one table of int64 words, kept
// on the device while the tensor list does not change:
//   tensor t (LARS_DESC words each): p, g, buf, n, adapted, first block,
//     blocks, chunk;
//   then one word per block: the tensor that block covers.
// Tensor t is split exactly as SumSquares/Dot split it (partialGrid: chunk
// elements per block, the last block shorter), so each block's partial sums
// equal sumsq_partial's and dot_partial's, and lars_trust adds them in block
// order as the host does: the norms are bit-identical to the per-tensor path.
//
//   lars_norms_partial  grid = total blocks, block 256: partial[3*j+{0,1,2}]
//                       = ||g||², ||p||², <g,p> over block j's chunk.
//   lars_trust          grid 1, block 256: thread t (strided) sums tensor t's
//                       partials and evaluates backend.LARSTrust in float64
//                       (each op rounded separately, as Go does on amd64),
//                       writing q[t] and rec[4t..4t+3] = code, value, pp, dd;
//                       then thread 0 writes status = the first failing
//                       tensor's (index, code, value, pp, dd), index -1 if none,
//                       and, when sticky is not null, records that failure
//                       there (status_record, with step) if it is clear.
//   lars_apply          grid = total blocks, block 256: momentum_step's update
//                       with q[t] and wd (0 when not adapted) over block j's
//                       chunk; nothing when status[0] >= 0 or the sticky
//                       record (may be null) is set.
// sumsq_multi, momentum_multi and adamw_multi take the same optional sticky
// record: sumsq_multi records the first non-finite sum there (code 1,
// gradient), the two updates do nothing while it is set.
#define LARS_DESC 8

#ifdef SIMCLR_EMU
static inline double dadd_rn(double a, double b) { return a + b; }
static inline double dmul_rn(double a, double b) { return a * b; }
static inline double ddiv_rn(double a, double b) { return a / b; }
static inline double dsqrt_rn(double a) { return sqrt(a); }
static inline float d2f_rn(double a) { return (float)a; }
#else
__device__ __forceinline__ double dadd_rn(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ double dmul_rn(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ double ddiv_rn(double a, double b) { return __ddiv_rn(a, b); }
__device__ __forceinline__ double dsqrt_rn(double a) { return __dsqrt_rn(a); }
__device__ __forceinline__ float d2f_rn(double a) { return __double2float_rn(a); }
#endif

__device__ __forceinline__ bool finite64(double v) { return !isnan(v) && !isinf(v); }

// ---------------------------------------------------------------------------
// The sticky status record (backend.DeferredCheck, backend.StatusWords = 10
// 32-bit words, in a float32 tensor the host reads back when it logs):
//   st[0] set (0 = clear, 1 = a check failed), st[1] the step, st[2] the
//   tensor, st[3] the code (lars_trust's: 1 gradient, 2 value, 3 decayed
//   gradient, 4 trust ratio), st[4..5] the value, st[6..7] ||p||², st[8..9]
//   ||g+wd*p||² (float64 bits, low word first).
// status_record writes it only when it is clear, so it keeps the first
// failure of a run; a single thread calls it. The update kernels skip all
// work while st[0] != 0, so parameters never take a non-finite update and
// stay what they were before the failing step.
#ifdef SIMCLR_EMU
static inline long long d_as_ll(double v) {
  long long u;
  std::memcpy(&u, &v, 8);
  return u;
}
#else
__device__ __forceinline__ long long d_as_ll(double v) { return __double_as_longlong(v); }
#endif

__device__ __forceinline__ void status_put64(int* w, double v) {
  const long long u = d_as_ll(v);
  w[0] = (int)(unsigned)(u & 0xffffffffLL);
  w[1] = (int)(unsigned)((unsigned long long)u >> 32);
}

__device__ __forceinline__ void status_record(int* st, int step, int t, int code, double value, double pp, double dd) {
  if (st == 0 || st[0] != 0) return;
  st[1] = step;
  st[2] = t;
  st[3] = code;
  status_put64(st + 4, value);
  status_put64(st + 6, pp);
  status_put64(st + 8, dd);
  st[0] = 1;
}

// stopped says whether a sticky record (may be null) holds a failure.
__device__ __forceinline__ bool stopped(const int* st) { return st != 0 && st[0] != 0; }

extern "C" __global__ void lars_norms_partial(const long long* desc, int ntensors, double* partial) {
  const int j = blockIdx.x;
  const int t = (int)desc[(long long)ntensors * LARS_DESC + j];
  const long long* d = desc + (long long)t * LARS_DESC;
  const float* p = (const float*)d[0];
  const float* g = (const float*)d[1];
  const int n = (int)d[3], chunk = (int)d[7];
  const int lo = (j - (int)d[5]) * chunk;
  const int hi = imin(lo + chunk, n);
  double gg = 0.0, pp = 0.0, gp = 0.0;
  // The same expressions as sumsq_partial and dot_partial (Dot(g, p)), so
  // nvcc contracts them the same way.
  for (int i = lo + threadIdx.x; i < hi; i += blockDim.x) {
    const double vg = (double)g[i], vp = (double)p[i];
    gg += vg * vg;
    pp += vp * vp;
    gp += vg * vp;
  }
  gg = block_sum_f64(gg);
  pp = block_sum_f64(pp);
  gp = block_sum_f64(gp);
  if (threadIdx.x == 0) {
    partial[3 * j + 0] = gg;
    partial[3 * j + 1] = pp;
    partial[3 * j + 2] = gp;
  }
}

extern "C" __global__ void lars_trust(const long long* desc, int ntensors, const double* partial, float wdf,
                                      float etaf, float* q, double* rec, double* status, int* sticky, int step) {
  for (int t = threadIdx.x; t < ntensors; t += blockDim.x) {
    const long long* d = desc + (long long)t * LARS_DESC;
    const int adapted = (int)d[4], first = (int)d[5], blocks = (int)d[6];
    double gg = 0.0, pp = 0.0, gp = 0.0;
    for (int c = 0; c < blocks; ++c) {
      gg = dadd_rn(gg, partial[3 * (first + c) + 0]);
      pp = dadd_rn(pp, partial[3 * (first + c) + 1]);
      gp = dadd_rn(gp, partial[3 * (first + c) + 2]);
    }
    int code = 0;
    double value = 0.0, dd = 0.0;
    float qt = 1.0f;
    const double wd = (double)wdf;
    if (!finite64(gg)) {
      code = 1, value = gg;
    } else if (adapted) {
      if (!finite64(pp)) {
        code = 2, value = pp;
      } else {
        if (wd == 0.0) gp = 0.0;
        dd = dadd_rn(dadd_rn(gg, dmul_rn(dmul_rn(2.0, wd), gp)), dmul_rn(dmul_rn(wd, wd), pp));
        if (!finite64(dd)) {
          code = 3, value = dd;
        } else if (!(dd <= 0.0 || pp <= 0.0)) {
          const double r = ddiv_rn(dmul_rn((double)etaf, dsqrt_rn(pp)), dsqrt_rn(dd));
          qt = d2f_rn(r);
          if (!(qt > 0.0f) || isinf(qt)) code = 4, value = r;
        }
      }
    }
    q[t] = qt;
    rec[4 * t + 0] = (double)code;
    rec[4 * t + 1] = value;
    rec[4 * t + 2] = pp;
    rec[4 * t + 3] = dd;
  }
  __syncthreads();  // rec is written by this block only: visible after the barrier
  if (threadIdx.x == 0) {
    status[0] = -1.0;
    for (int t = 0; t < ntensors; ++t) {
      if (rec[4 * t] != 0.0) {
        status[0] = (double)t;
        for (int k = 0; k < 4; ++k) status[1 + k] = rec[4 * t + k];
        const int code = (int)rec[4 * t];  // ||p||² and ||dp||² only for a trust ratio, as backend.LARSTrust
        status_record(sticky, step, t, code, rec[4 * t + 1], code == 4 ? rec[4 * t + 2] : 0.0,
                      code == 4 ? rec[4 * t + 3] : 0.0);
        break;
      }
    }
  }
}

extern "C" __global__ void lars_apply(const long long* desc, int ntensors, const float* q, const double* status,
                                      const int* sticky, float lr, float mom, float wdf, int first) {
  if (status[0] >= 0.0 || stopped(sticky)) return;
  const int j = blockIdx.x;
  const int t = (int)desc[(long long)ntensors * LARS_DESC + j];
  const long long* d = desc + (long long)t * LARS_DESC;
  float* p = (float*)d[0];
  const float* g = (const float*)d[1];
  float* buf = (float*)d[2];
  const int n = (int)d[3], chunk = (int)d[7];
  const float wd = d[4] ? wdf : 0.0f;
  const float tr = q[t];
  const int lo = (j - (int)d[5]) * chunk;
  const int hi = imin(lo + chunk, n);
  for (int i = lo + threadIdx.x; i < hi; i += blockDim.x) momentum_update(p, g, buf, i, lr, mom, wd, tr, 0, first);
}

// sumsq_multi: the squared norms of many tensors (Backend.SumSquaresMulti)
// from lars_norms_partial's partials over the same descriptor table (each
// tensor as p, g and buf): out[t] = tensor t's ||x||² partials added in block
// order, as partialSum adds sumsq_partial's on the host, so out[t] equals
// SumSquares bit for bit. Launch: grid 1, block 256, thread per tensor.
extern "C" __global__ void sumsq_multi(const long long* desc, int ntensors, const double* partial, double* out,
                                       int* sticky, int step) {
  for (int t = threadIdx.x; t < ntensors; t += blockDim.x) {
    const long long* d = desc + (long long)t * LARS_DESC;
    const int first = (int)d[5], blocks = (int)d[6];
    double s = 0.0;
    for (int c = 0; c < blocks; ++c) s = dadd_rn(s, partial[3 * (first + c)]);
    out[t] = s;
  }
  if (sticky == 0) return;
  __syncthreads();  // out is written by this block only: visible after the barrier
  if (threadIdx.x == 0) {
    for (int t = 0; t < ntensors; ++t) {
      if (!finite64(out[t])) {
        status_record(sticky, step, t, 1, out[t], 0.0, 0.0);
        break;
      }
    }
  }
}

// momentum_multi: momentum_step over many tensors in one launch
// (Backend.MomentumStepMulti) over the same descriptor table (word 4: the
// tensor gets weight decay), one block per chunk as lars_apply; trust ratio
// tr for every tensor. Element for element momentum_step's arithmetic.
extern "C" __global__ void momentum_multi(const long long* desc, int ntensors, const int* sticky, float lr,
                                          float mom, float wdf, float tr, int nesterov, int first) {
  if (stopped(sticky)) return;
  const int j = blockIdx.x;
  const int t = (int)desc[(long long)ntensors * LARS_DESC + j];
  const long long* d = desc + (long long)t * LARS_DESC;
  float* p = (float*)d[0];
  const float* g = (const float*)d[1];
  float* buf = (float*)d[2];
  const int n = (int)d[3], chunk = (int)d[7];
  const float wd = d[4] ? wdf : 0.0f;
  const int lo = (j - (int)d[5]) * chunk;
  const int hi = imin(lo + chunk, n);
  for (int i = lo + threadIdx.x; i < hi; i += blockDim.x)
    momentum_update(p, g, buf, i, lr, mom, wd, tr, nesterov, first);
}

// adamw_multi: adamw_step over many tensors in one launch
// (Backend.AdamWStepMulti). Its own descriptor table, ADAMW_DESC int64
// words per tensor: p, g, m, v, n, decayed, first block, blocks, chunk;
// then one word per block: the tensor that block covers (the same block
// split as momentum_multi). A decayed tensor gets decay = 1 - lr*wd, the
// others 1 (what adamw_step gets with wd = 0). Element for element
// adamw_step's arithmetic.
#define ADAMW_DESC 9
extern "C" __global__ void adamw_multi(const long long* desc, int ntensors, const int* sticky, float decay,
                                       float beta1, float beta2, float oneMinusB1, float oneMinusB2, float stepSize,
                                       float bc2Sqrt, float eps) {
  if (stopped(sticky)) return;
  const int j = blockIdx.x;
  const int t = (int)desc[(long long)ntensors * ADAMW_DESC + j];
  const long long* d = desc + (long long)t * ADAMW_DESC;
  float* p = (float*)d[0];
  const float* g = (const float*)d[1];
  float* m = (float*)d[2];
  float* v = (float*)d[3];
  const int n = (int)d[4], chunk = (int)d[8];
  const float dec = d[5] ? decay : 1.0f;
  const int lo = (j - (int)d[6]) * chunk;
  const int hi = imin(lo + chunk, n);
  for (int i = lo + threadIdx.x; i < hi; i += blockDim.x)
    adamw_update(p, g, m, v, i, dec, beta1, beta2, oneMinusB1, oneMinusB2, stepSize, bc2Sqrt, eps);
}
