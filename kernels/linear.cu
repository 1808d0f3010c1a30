// linear.cu - fully connected layer y = x w^T + b on the gemm_tile.cuh core.
//
// Shapes: x [N,In], w [Out,In], b [Out], y [N,Out].
//   linear_fwd:        y = x w^T (+ b)      GEMM M=N,   N=Out, K=In
//   linear_bwd_data:   dx = dy w            GEMM M=N,   N=In,  K=Out
//   linear_bwd_weight: dw = dy^T x          GEMM M=Out, N=In,  K=N
//   linear_bwd_bias:   db[o] = sum_n dy[n,o] in float64, rows in order
//                      (one thread per column, coalesced across threads).
// Launch: GEMM kernels as in gemm_tile.cuh (256 threads, 64x64 tiles);
// linear_bwd_bias uses block 256, grid ceil(Out/256).
#include "gemm_tile.cuh"

// StoreBias writes y[r, c] = v + bias[c] (bias may be null).
struct StoreBias {
  float* y;
  const float* bias;
  int ld;
  __device__ __forceinline__ void operator()(int r, int c, float v) const {
    y[(size_t)r * ld + c] = bias ? fadd_rn(v, bias[c]) : v;
  }
};

extern "C" __global__ void __launch_bounds__(GT_THREADS)
linear_fwd(const float* x, const float* w, const float* b, float* y, int N, int In, int Out) {
  RowMajor a{x, In};
  Transposed bt{w, In};
  StoreBias st{y, b, Out};
  gemm_tile(N, Out, 0, In, a, bt, st);
}

extern "C" __global__ void __launch_bounds__(GT_THREADS)
linear_bwd_data(const float* dy, const float* w, float* dx, int N, int In, int Out) {
  RowMajor a{dy, Out};
  RowMajor b{w, In};
  StoreRowMajor st{dx, In};
  gemm_tile(N, In, 0, Out, a, b, st);
}

extern "C" __global__ void __launch_bounds__(GT_THREADS)
linear_bwd_weight(const float* x, const float* dy, float* dw, int N, int In, int Out) {
  Transposed a{dy, Out};
  RowMajor b{x, In};
  StoreRowMajor st{dw, In};
  gemm_tile(Out, In, 0, N, a, b, st);
}

extern "C" __global__ void linear_bwd_bias(const float* dy, float* db, int N, int Out) {
  const int o = blockIdx.x * blockDim.x + threadIdx.x;
  if (o >= Out) return;
  double s = 0.0;
  for (int r = 0; r < N; ++r) s += (double)dy[(size_t)r * Out + o];
  db[o] = (float)s;
}
