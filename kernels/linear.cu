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
// Precision: the three GEMM kernels also exist as NAME_tf32 and NAME_bf16,
// which round both operands to TF32 or BF16 as they are staged (the bias
// is added in fp32; linear_bwd_bias is not a GEMM and stays fp32).
#include "gemm_tile.cuh"

// StoreBias writes y[r, c] = v + bias[c] (bias may be null).
struct StoreBias {
  float* y;
  const float* bias;
  int ld;
  __device__ __forceinline__ void operator()(int r, int c, float v) const {
    y[(size_t)r * ld + c] = bias ? fadd_rn(v, bias[c]) : v;
  }
  // Separable form for the tensor-core epilogue (gemm_tc.cuh).
  typedef size_t Row;
  struct Col {
    float* y;
    float b;
  };
  __device__ __forceinline__ Row row(int r) const { return (size_t)r * ld; }
  __device__ __forceinline__ Col col(int c) const { return Col{y + c, bias ? bias[c] : 0.0f}; }
  __device__ __forceinline__ void put(Row r, const Col& c, float v) const { c.y[r] = bias ? fadd_rn(v, c.b) : v; }
};

// The three GEMMs are templates over the operand rounding P (mma.cuh),
// instantiated once per backend.Precision (plain name: fp32; _tf32, _bf16).
template <class P>
__device__ __forceinline__ void linear_fwd_t(const float* x, const float* w, const float* b, float* y, int N, int In,
                                             int Out) {
  RowMajor a{x, In};
  Transposed bt{w, In};
  StoreBias st{y, b, Out};
  gemm_tile<P>(N, Out, 0, In, a, bt, st);
}

template <class P>
__device__ __forceinline__ void linear_bwd_data_t(const float* dy, const float* w, float* dx, int N, int In, int Out) {
  RowMajor a{dy, Out};
  RowMajor b{w, In};
  StoreRowMajor st{dx, In};
  gemm_tile<P>(N, In, 0, Out, a, b, st);
}

template <class P>
__device__ __forceinline__ void linear_bwd_weight_t(const float* x, const float* dy, float* dw, int N, int In,
                                                    int Out) {
  Transposed a{dy, Out};
  RowMajor b{x, In};
  StoreRowMajor st{dw, In};
  gemm_tile<P>(Out, In, 0, N, a, b, st);
}

extern "C" __global__ void __launch_bounds__(GT_THREADS)
linear_fwd(const float* x, const float* w, const float* b, float* y, int N, int In, int Out) {
  linear_fwd_t<PrecFP32>(x, w, b, y, N, In, Out);
}
extern "C" __global__ void __launch_bounds__(GT_THREADS)
linear_fwd_tf32(const float* x, const float* w, const float* b, float* y, int N, int In, int Out) {
  linear_fwd_t<PrecTF32>(x, w, b, y, N, In, Out);
}
extern "C" __global__ void __launch_bounds__(GT_THREADS)
linear_fwd_bf16(const float* x, const float* w, const float* b, float* y, int N, int In, int Out) {
  linear_fwd_t<PrecBF16>(x, w, b, y, N, In, Out);
}

extern "C" __global__ void __launch_bounds__(GT_THREADS)
linear_bwd_data(const float* dy, const float* w, float* dx, int N, int In, int Out) {
  linear_bwd_data_t<PrecFP32>(dy, w, dx, N, In, Out);
}
extern "C" __global__ void __launch_bounds__(GT_THREADS)
linear_bwd_data_tf32(const float* dy, const float* w, float* dx, int N, int In, int Out) {
  linear_bwd_data_t<PrecTF32>(dy, w, dx, N, In, Out);
}
extern "C" __global__ void __launch_bounds__(GT_THREADS)
linear_bwd_data_bf16(const float* dy, const float* w, float* dx, int N, int In, int Out) {
  linear_bwd_data_t<PrecBF16>(dy, w, dx, N, In, Out);
}

extern "C" __global__ void __launch_bounds__(GT_THREADS)
linear_bwd_weight(const float* x, const float* dy, float* dw, int N, int In, int Out) {
  linear_bwd_weight_t<PrecFP32>(x, dy, dw, N, In, Out);
}
extern "C" __global__ void __launch_bounds__(GT_THREADS)
linear_bwd_weight_tf32(const float* x, const float* dy, float* dw, int N, int In, int Out) {
  linear_bwd_weight_t<PrecTF32>(x, dy, dw, N, In, Out);
}
extern "C" __global__ void __launch_bounds__(GT_THREADS)
linear_bwd_weight_bf16(const float* x, const float* dy, float* dw, int N, int In, int Out) {
  linear_bwd_weight_t<PrecBF16>(x, dy, dw, N, In, Out);
}

extern "C" __global__ void linear_bwd_bias(const float* dy, float* db, int N, int Out) {
  const int o = blockIdx.x * blockDim.x + threadIdx.x;
  if (o >= Out) return;
  double s = 0.0;
  for (int r = 0; r < N; ++r) s += (double)dy[(size_t)r * Out + o];
  db[o] = (float)s;
}
