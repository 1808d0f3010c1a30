// conv.cu - 2-D convolution (no bias, square kernel, same stride and
// padding in both dimensions) as implicit GEMM on the gemm_tile.cuh core.
//
// Shapes: x [N,Cin,H,W], w [Cout,Cin,K,K], y [N,Cout,Ho,Wo]; R = Cin*K*K,
// P = Ho*Wo. No im2col matrix is ever materialised: the B-operand functor
// gathers x (or dy) on the fly while the loader fills the shared tile.
//   conv2d_fwd:        y[n,co,p]   = sum_r w[co,r] * col(x[n])[r,p]
//                      GEMM M=Cout, N=N*P (batch folded into columns), K=R.
//   conv2d_bwd_data:   dx[n,ci,h,w] = sum_{co,kh,kw} w[co,ci,kh,kw] * dy[n,co,oh,ow]
//                      over the (oh,ow) with oh*s-pad+kh == h, ow*s-pad+kw == w;
//                      GEMM M=Cin, N=N*H*W, K=Cout*K*K, a gather (each dx
//                      element is owned by one thread: no atomics).
//   conv2d_bwd_filter: dw[co,r] = sum_{n,p} dy[n,co,p] * col(x[n])[r,p]
//                      GEMM M=Cout, N=R, K=N*P, split into grid.z slices of
//                      kChunk; slice z writes partial[z][Cout*R] and
//                      splitk_reduce adds the slices in order (deterministic).
// Launch: see gemm_tile.cuh (256 threads, 64x64 tiles); splitk_reduce is a
// 1-D grid-stride kernel.
// Precision: each GEMM kernel also exists as NAME_tf32 and NAME_bf16, which
// round both operands (w and the im2col / dy gathers) to TF32 or BF16 as
// they are staged and accumulate the exact products in fp32.
#include "gemm_tile.cuh"

// Im2col is the B operand col(x[n])[r, n*P + p] with r = (ci*K+kh)*K+kw;
// zero where the window falls into the padding.
struct Im2col {
  const float* x;
  int Cin, H, W, K, stride, pad, Ho, Wo;
  __device__ __forceinline__ float operator()(int r, int col) const {
    const int kw = r % K, t = r / K, kh = t % K, ci = t / K;
    const int P = Ho * Wo;
    const int n = col / P, p = col % P, oh = p / Wo, ow = p % Wo;
    const int ih = oh * stride - pad + kh, iw = ow * stride - pad + kw;
    if (ih < 0 || ih >= H || iw < 0 || iw >= W) return 0.0f;
    return x[(((size_t)n * Cin + ci) * H + ih) * W + iw];
  }
};

// Im2colT is Im2col transposed: element (q, r) = col(x)[r, q].
struct Im2colT {
  Im2col c;
  __device__ __forceinline__ float operator()(int q, int r) const { return c(r, q); }
};

// StoreNCHW writes C[m, n*P + p] to out[n, m, p] (out has M channels).
struct StoreNCHW {
  float* out;
  int M, P;
  __device__ __forceinline__ void operator()(int m, int col, float v) const {
    const int n = col / P, p = col % P;
    out[((size_t)n * M + m) * P + p] = v;
  }
  // Separable form for the tensor-core epilogue (gemm_tc.cuh tc_epilogue):
  // the column's image and pixel (one division per column), the row's
  // channel offset m*P (within one image: an int).
  typedef int Row;
  typedef float* Col;
  __device__ __forceinline__ Row row(int m) const { return m * P; }
  __device__ __forceinline__ Col col(int c) const {
    const int n = c / P, p = c - n * P;
    return out + (size_t)n * M * P + p;
  }
  __device__ __forceinline__ void put(Row r, Col c, float v) const { c[r] = v; }
};

// WeightT is A for the data gradient: A(ci, (co,kh,kw)) = w[co,ci,kh,kw].
struct WeightT {
  const float* w;
  int Cin, KK;
  __device__ __forceinline__ float operator()(int ci, int r) const {
    const int co = r / KK, khw = r % KK;
    return w[((size_t)co * Cin + ci) * KK + khw];
  }
};

// DyGather is B for the data gradient: B((co,kh,kw), n*H*W + h*W + w) =
// dy[n,co,oh,ow] when (oh,ow) maps tap (kh,kw) onto (h,w), else 0.
struct DyGather {
  const float* dy;
  int Cout, H, W, K, stride, pad, Ho, Wo;
  __device__ __forceinline__ float operator()(int r, int col) const {
    const int kw = r % K, t = r / K, kh = t % K, co = t / K;
    const int HW = H * W;
    const int n = col / HW, hw = col % HW, h = hw / W, w = hw % W;
    const int th = h + pad - kh, tw = w + pad - kw;
    if (th < 0 || tw < 0 || th % stride != 0 || tw % stride != 0) return 0.0f;
    const int oh = th / stride, ow = tw / stride;
    if (oh >= Ho || ow >= Wo) return 0.0f;
    return dy[(((size_t)n * Cout + co) * Ho + oh) * Wo + ow];
  }
};

// DyRows is A for the filter gradient: A(co, n*P + p) = dy[n, co, p].
struct DyRows {
  const float* dy;
  int Cout, P;
  __device__ __forceinline__ float operator()(int co, int q) const {
    const int n = q / P, p = q % P;
    return dy[((size_t)n * Cout + co) * P + p];
  }
};

// The three passes are templates over the operand rounding P (mma.cuh);
// each is instantiated as one kernel per backend.Precision: the plain
// name for fp32, _tf32 and _bf16 for the reduced formats.
#define CONV_PARAMS \
  int N, int Cin, int H, int W, int Cout, int K, int stride, int pad, int Ho, int Wo
#define CONV_ARGS N, Cin, H, W, Cout, K, stride, pad, Ho, Wo

template <class P>
__device__ __forceinline__ void conv2d_fwd_t(const float* x, const float* w, float* y, CONV_PARAMS) {
  const int R = Cin * K * K, P_ = Ho * Wo;
  RowMajor a{w, R};
  Im2col b{x, Cin, H, W, K, stride, pad, Ho, Wo};
  StoreNCHW st{y, Cout, P_};
  gemm_tile<P>(Cout, N * P_, 0, R, a, b, st);
}

template <class P>
__device__ __forceinline__ void conv2d_bwd_data_t(const float* dy, const float* w, float* dx, CONV_PARAMS) {
  WeightT a{w, Cin, K * K};
  DyGather b{dy, Cout, H, W, K, stride, pad, Ho, Wo};
  StoreNCHW st{dx, Cin, H * W};
  gemm_tile<P>(Cin, N * H * W, 0, Cout * K * K, a, b, st);
}

template <class P>
__device__ __forceinline__ void conv2d_bwd_filter_t(const float* x, const float* dy, float* partial, CONV_PARAMS,
                                                    int kChunk) {
  const int R = Cin * K * K, P_ = Ho * Wo, total = N * P_;
  const int kBegin = blockIdx.z * kChunk;
  const int kEnd = imin(kBegin + kChunk, total);
  DyRows a{dy, Cout, P_};
  Im2colT b{Im2col{x, Cin, H, W, K, stride, pad, Ho, Wo}};
  StoreRowMajor st{partial + (size_t)blockIdx.z * Cout * R, R};
  gemm_tile<P>(Cout, R, kBegin, kEnd, a, b, st);
}

extern "C" __global__ void __launch_bounds__(GT_THREADS)
conv2d_fwd(const float* x, const float* w, float* y, CONV_PARAMS) { conv2d_fwd_t<PrecFP32>(x, w, y, CONV_ARGS); }
extern "C" __global__ void __launch_bounds__(GT_THREADS)
conv2d_fwd_tf32(const float* x, const float* w, float* y, CONV_PARAMS) { conv2d_fwd_t<PrecTF32>(x, w, y, CONV_ARGS); }
extern "C" __global__ void __launch_bounds__(GT_THREADS)
conv2d_fwd_bf16(const float* x, const float* w, float* y, CONV_PARAMS) { conv2d_fwd_t<PrecBF16>(x, w, y, CONV_ARGS); }

extern "C" __global__ void __launch_bounds__(GT_THREADS)
conv2d_bwd_data(const float* dy, const float* w, float* dx, CONV_PARAMS) {
  conv2d_bwd_data_t<PrecFP32>(dy, w, dx, CONV_ARGS);
}
extern "C" __global__ void __launch_bounds__(GT_THREADS)
conv2d_bwd_data_tf32(const float* dy, const float* w, float* dx, CONV_PARAMS) {
  conv2d_bwd_data_t<PrecTF32>(dy, w, dx, CONV_ARGS);
}
extern "C" __global__ void __launch_bounds__(GT_THREADS)
conv2d_bwd_data_bf16(const float* dy, const float* w, float* dx, CONV_PARAMS) {
  conv2d_bwd_data_t<PrecBF16>(dy, w, dx, CONV_ARGS);
}

extern "C" __global__ void __launch_bounds__(GT_THREADS)
conv2d_bwd_filter(const float* x, const float* dy, float* partial, CONV_PARAMS, int kChunk) {
  conv2d_bwd_filter_t<PrecFP32>(x, dy, partial, CONV_ARGS, kChunk);
}
extern "C" __global__ void __launch_bounds__(GT_THREADS)
conv2d_bwd_filter_tf32(const float* x, const float* dy, float* partial, CONV_PARAMS, int kChunk) {
  conv2d_bwd_filter_t<PrecTF32>(x, dy, partial, CONV_ARGS, kChunk);
}
extern "C" __global__ void __launch_bounds__(GT_THREADS)
conv2d_bwd_filter_bf16(const float* x, const float* dy, float* partial, CONV_PARAMS, int kChunk) {
  conv2d_bwd_filter_t<PrecBF16>(x, dy, partial, CONV_ARGS, kChunk);
}

// splitk_reduce: out[i] = sum_{z < splits} partial[z*n + i], z in order.
extern "C" __global__ void splitk_reduce(const float* partial, float* out, int splits, int n) {
  GRID_STRIDE(i, n) {
    float s = partial[i];
    for (int z = 1; z < splits; ++z) s = fadd_rn(s, partial[(size_t)z * n + i]);
    out[i] = s;
  }
}
