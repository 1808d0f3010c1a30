// loss.cu - NT-Xent (SimCLR's contrastive loss) and softmax cross-entropy,
// each fused: one kernel computes a row's max, log-sum-exp, loss and (when
// the gradient pointer is non-null) the whole gradient row.
//
//   ntxent_rows: s [M,M] (M = 2N), logits l_ij = s_ij/tau in float64, the
//     diagonal excluded, positive pos(i) = (i + M/2) mod M.
//     rowLoss[i] = max_i + log(sum_{j!=i} exp(l_ij - max_i)) - l_i,pos(i);
//     ds[i,j] = (softmax_ij - [j == pos(i)]) / (tau*M), ds[i,i] = 0.
//   softmax_ce_rows: logits [N,K], labels [N] (int32, already validated):
//     rowLoss[i] = lse_i - logits[i,label_i];
//     dlogits[i,j] = (exp(logits_ij - lse_i) - [j == label_i]) / N.
// A row holding a NaN or an infinity gets rowLoss = NaN; the host reports
// the offending element. The host adds rowLoss in row order (the same order
// as the CPU backend) and divides by the row count.
// Launch: one block of 256 threads per row (grid = rows); threads stride
// the row, block_max_f64 / block_sum_f64 reduce deterministically.
//   mean_rows_f64: out[slot] = (float)(sum_i rowLoss[i] / n), the sum taken
//     in row order i = 0, 1, ..., n-1 like the host's (and the CPU
//     backend's), so the value is bit for bit the one the host computes
//     from downloaded row losses. Launch: one block of 256 threads; the
//     threads stage 256 row losses at a time in shared memory (coalesced
//     loads) and thread 0 adds them in order: n dependent float64 adds,
//     modelled (not measured) at about 8 cycles each, so about 2 us at
//     2N = 512 and 35 us at 2N = 8192, on the stream instead of a
//     device-to-host copy and a host wait.
#include "common.cuh"

extern "C" __global__ void ntxent_rows(const float* s, int M, float tau, double* rowLoss, float* ds) {
  const int i = blockIdx.x;
  const float* row = s + (size_t)i * M;
  const double invTau = 1.0 / (double)tau;
  double mx = -INFINITY, bad = 0.0;
  for (int j = threadIdx.x; j < M; j += blockDim.x) {
    const float v = row[j];
    if (!isfinite(v)) bad = 1.0;
    const double l = (double)v * invTau;
    if (j != i && l > mx) mx = l;
  }
  mx = block_max_f64(mx);
  bad = block_sum_f64(bad);
  double sum = 0.0;
  for (int j = threadIdx.x; j < M; j += blockDim.x)
    if (j != i) sum += exp((double)row[j] * invTau - mx);
  sum = block_sum_f64(sum);
  const int pos = (i + M / 2) % M;
  if (threadIdx.x == 0) rowLoss[i] = bad > 0.0 ? NAN : mx + log(sum) - (double)row[pos] * invTau;
  if (ds == 0) return;
  const double inv = 1.0 / sum;
  const double scale = invTau / (double)M;
  float* out = ds + (size_t)i * M;
  for (int j = threadIdx.x; j < M; j += blockDim.x) {
    double g = exp((double)row[j] * invTau - mx) * inv;
    if (j == pos) g -= 1.0;
    out[j] = j == i ? 0.0f : (float)(g * scale);
  }
}

extern "C" __global__ void softmax_ce_rows(const float* logits, const int* labels, int N, int K,
                                           double* rowLoss, float* dlogits) {
  const int i = blockIdx.x;
  const float* row = logits + (size_t)i * K;
  double mx = -INFINITY, bad = 0.0;
  for (int j = threadIdx.x; j < K; j += blockDim.x) {
    const float v = row[j];
    if (!isfinite(v)) bad = 1.0;
    if ((double)v > mx) mx = (double)v;
  }
  mx = block_max_f64(mx);
  bad = block_sum_f64(bad);
  double sum = 0.0;
  for (int j = threadIdx.x; j < K; j += blockDim.x) sum += exp((double)row[j] - mx);
  sum = block_sum_f64(sum);
  const double lse = mx + log(sum);
  const int label = labels[i];
  if (threadIdx.x == 0) rowLoss[i] = bad > 0.0 ? NAN : lse - (double)row[label];
  if (dlogits == 0) return;
  const double invN = 1.0 / (double)N;
  float* out = dlogits + (size_t)i * K;
  for (int j = threadIdx.x; j < K; j += blockDim.x) {
    double p = exp((double)row[j] - lse);
    if (j == label) p -= 1.0;
    out[j] = (float)(p * invN);
  }
}

extern "C" __global__ void mean_rows_f64(const double* rowLoss, int n, float* out, int slot) {
  SHARED_ARRAY(double, chunk, 256);
  double total = 0.0;
  for (int base = 0; base < n; base += blockDim.x) {
    const int j = base + threadIdx.x;
    if (j < n) chunk[threadIdx.x] = rowLoss[j];
    __syncthreads();
    if (threadIdx.x == 0) {
      const int count = imin(n - base, (int)blockDim.x);
      for (int k = 0; k < count; ++k) total += chunk[k];
    }
    __syncthreads();  // chunk is refilled next round
  }
  if (threadIdx.x == 0) out[slot] = (float)(total / (double)n);
}
