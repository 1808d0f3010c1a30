// tc.cu - the tensor-core rungs of the matrix ops (gemm_tc.cuh) and the
// conversions that feed them: BF16 (rung 3, mma m16n8k16, kernels
// NAME_bf16_tc*) in BF16 precision and TF32 (rung 2, mma m16n8k8, kernels
// NAME_tf32_tc*) in TF32 precision, when the shapes allow (see
// internal/backend/cuda/tc.go); otherwise the FFMA rung's _bf16 / _tf32
// kernels (conv.cu, linear.cu) run. Every GEMM kernel is one template
// over the format F (gemm_tc.cuh TcBF16, TcTF32) instantiated twice.
//
// Because cp.async copies bytes, the operands must already be in the
// format in global memory, K-contiguous (FMT = bf16: bf16 bits, rounded
// with cvt.rn; FMT = tf32: fp32 words rounded with cvt.rna.tf32.f32, the
// low 13 bits zero, so each operand is rounded exactly once, here):
//   convert_FMT:      y[i] = FMT(x[i])                           (n elements)
//   nchw_to_nhwc_FMT: y[n][p][c] = FMT(x[n][c][p]), p < HW (a 32x32 tile
//                     transpose through shared memory, coalesced both ways)
//                     (activations NCHW -> NHWC; conv weights
//                     [Cout][Cin][K*K] -> [Cout][K*K][Cin]; with N = 1 a
//                     transpose [C][HW] -> [HW][C])
// GEMMs (C = A B^T, A [M][K], B [N][K] in FMT; suffix _s: the 64x64 tile
// for small shapes, else 128x128; CE = 8 for bf16, 4 for tf32, the
// elements of a 16-byte chunk; BK = 32 for bf16, 16 for tf32, the K tile):
//   gemm_nt_FMT_tc{,_s}:    C[m][n] = sum_k A[m][k] B[n][k] (+ bias[n]),
//                           C row-major [M][N] (linear forward: A = x,
//                           B = w; data gradient: A = dy, B = w^T; weight
//                           gradient: A = dy^T, B = x^T);
//   conv2d_fwd_FMT_tc{,_s}: y[n][co][p] = sum_{kh,kw,ci} w[co][kh][kw][ci]
//                           x[n][ih][iw][ci], x NHWC, weights
//                           [Cout][K][K][Cin] (Cin a multiple of CE);
//   conv2d_bwd_data_FMT_tc{,_s}: dx[n][ci][h][w] = sum_{kh,kw,co}
//                           w[ci][kh][kw][co] dy[n][oh][ow][co] over the
//                           taps that reach (h, w), dy NHWC, weights
//                           [Cin][K][K][Cout] (Cout a multiple of CE,
//                           stride 1 or 2);
//   conv2d_bwd_filter_FMT_tc{,_s}: dw[co][ci][kh][kw] = sum over the
//                           pixels q in the grid.z slice of dy[q][co]
//                           x[n][ih][iw][ci] (both NHWC, K-major:
//                           gemm_tc_tn), slices added by splitk_reduce
//                           (Cin and Cout multiples of CE).
//   conv2d_fwd_FMT_tc_tap{,_s}, conv2d_bwd_data_FMT_tc_tap{,_s}: the
//                           same products with the tap-uniform gathers
//                           (gemm_tc.cuh TcIm2colTap, TcDyGatherTap; the
//                           reduction's channels a multiple of BK) and
//                           paired chunks; conv2d_bwd_filter_FMT_tc_tap
//                           {,_s}: the filter gradient with paired chunks
//                           (Cin and Cout multiples of 2 CE).
#include "gemm_tc.cuh"

// TcConv<F>::from converts one fp32 value to the format's stored element.
template <class F>
struct TcConv;
template <>
struct TcConv<TcBF16> {
  static __device__ __forceinline__ unsigned short from(float x) { return f32_to_bf16(x); }
};
template <>
struct TcConv<TcTF32> {
  static __device__ __forceinline__ float from(float x) { return round_tf32(x); }
};

template <class F>
__device__ __forceinline__ void convert_t(const float* x, typename F::T* y, int n) {
  GRID_STRIDE(i, n) { y[i] = TcConv<F>::from(x[i]); }
}
extern "C" __global__ void convert_bf16(const float* x, unsigned short* y, int n) { convert_t<TcBF16>(x, y, n); }
extern "C" __global__ void convert_tf32(const float* x, float* y, int n) { convert_t<TcTF32>(x, y, n); }

// A 32x32 tile transpose through shared memory: block 256 (32 x 8), grid
// (ceil(HW/32), ceil(C/32), N). Reads are coalesced along p, writes along
// c, and no thread divides.
template <class F>
__device__ __forceinline__ void nchw_to_nhwc_t(const float* x, typename F::T* y, int N, int C, int HW) {
  SHARED_ARRAY2(float, tile, 32, 33);
  const int p0 = blockIdx.x * 32, c0 = blockIdx.y * 32, n = blockIdx.z;
  const int tx = threadIdx.x & 31, ty = threadIdx.x >> 5;
  const float* xn = x + (size_t)n * C * HW;
SIMCLR_UNROLL
  for (int j = 0; j < 4; ++j) {
    const int i = ty + 8 * j, c = c0 + i, p = p0 + tx;
    if (c < C && p < HW) tile[i][tx] = xn[(size_t)c * HW + p];
  }
  __syncthreads();
  typename F::T* yn = y + (size_t)n * HW * C;
SIMCLR_UNROLL
  for (int j = 0; j < 4; ++j) {
    const int i = ty + 8 * j, p = p0 + i, c = c0 + tx;
    if (p < HW && c < C) yn[(size_t)p * C + c] = TcConv<F>::from(tile[tx][i]);
  }
}
extern "C" __global__ void __launch_bounds__(256)
nchw_to_nhwc_bf16(const float* x, unsigned short* y, int N, int C, int HW) {
  nchw_to_nhwc_t<TcBF16>(x, y, N, C, HW);
}
extern "C" __global__ void __launch_bounds__(256) nchw_to_nhwc_tf32(const float* x, float* y, int N, int C, int HW) {
  nchw_to_nhwc_t<TcTF32>(x, y, N, C, HW);
}

// ---- the GEMM templates (Cfg: tile; F: format) ----

template <class Cfg, class F>
__device__ __forceinline__ void gemm_nt_tc_t(const typename F::T* A, const typename F::T* B, const float* bias,
                                             float* C, int M, int N, int K) {
  TcRows<F> a{A, M, K};
  TcRows<F> b{B, N, K};
  StoreBias st{C, bias, N};
  gemm_tc<Cfg>(M, N, K, a, b, st);
}

template <class Cfg, class F>
__device__ __forceinline__ void conv2d_fwd_tc_t(const typename F::T* xh, const typename F::T* wr, float* y,
                                                CONV_PARAMS) {
  const int R = Cin * K * K, P_ = Ho * Wo;
  TcRows<F> a{wr, Cout, R};
  TcIm2colNHWC<F> b{xh, N * P_, Cin, H, W, K, stride, pad, Ho, Wo, R};
  StoreNCHW st{y, Cout, P_};
  gemm_tc<Cfg>(Cout, N * P_, R, a, b, st);
}

// The tap-uniform forward (Cin % F::BK == 0; gemm_tc.cuh TcIm2colTap):
// the same product with a cheaper K loop.
template <class Cfg, class F>
__device__ __forceinline__ void conv2d_fwd_tc_tap_t(const typename F::T* xh, const typename F::T* wr, float* y,
                                                    CONV_PARAMS) {
  const int R = Cin * K * K, P_ = Ho * Wo;
  TcRowsFull<F> a{wr, Cout, R};
  TcIm2colTap<F> b{xh, N * P_, Cin, H, W, K, stride, pad, Ho, Wo};
  StoreNCHW st{y, Cout, P_};
  gemm_tc<Cfg, 2>(Cout, N * P_, R, a, b, st);
}

template <class Cfg, class F>
__device__ __forceinline__ void conv2d_bwd_data_tc_t(const typename F::T* dyh, const typename F::T* wt, float* dx,
                                                     CONV_PARAMS) {
  const int R = Cout * K * K, HW = H * W;
  TcRows<F> a{wt, Cin, R};
  TcDyGatherNHWC<F> b{dyh, N * HW, Cout, H, W, K, stride, pad, Ho, Wo, R};
  StoreNCHW st{dx, Cin, HW};
  gemm_tc<Cfg>(Cin, N * HW, R, a, b, st);
}

// The tap-uniform data gradient (Cout % F::BK == 0; TcDyGatherTap).
template <class Cfg, class F>
__device__ __forceinline__ void conv2d_bwd_data_tc_tap_t(const typename F::T* dyh, const typename F::T* wt, float* dx,
                                                         CONV_PARAMS) {
  const int R = Cout * K * K, HW = H * W;
  TcRowsFull<F> a{wt, Cin, R};
  TcDyGatherTap<F> b{dyh, N * HW, Cout, H, W, K, stride, pad, Ho, Wo};
  StoreNCHW st{dx, Cin, HW};
  gemm_tc<Cfg, 2>(Cin, N * HW, R, a, b, st);
}

// StoreFilterKKC writes C[co][r], r = (kh, kw, ci) with ci fastest, to
// out[co][ci][kh][kw] (the epilogue divides, once per column; the K loop
// does not). Separable (gemm_tc.cuh tc_epilogue): row co*Cin*K*K, column
// ci*K*K + kh*K + kw.
struct StoreFilterKKC {
  float* out;
  int Cin, KS;
  typedef int Row;
  typedef float* Col;
  __device__ __forceinline__ Row row(int co) const { return co * Cin * KS * KS; }
  __device__ __forceinline__ Col col(int r) const {
    const int khw = r / Cin, ci = r - khw * Cin;
    return out + ci * KS * KS + khw;
  }
  __device__ __forceinline__ void put(Row r, Col c, float v) const { c[r] = v; }
};

// The filter gradient; G = 2 (the _tap kernels, Cin and Cout % 2 CE ==
// 0): each thread's two chunks of a tile row are adjacent (2 CE channels
// of one pixel and one tap), so they share one cursor.
template <class Cfg, class F, int G>
__device__ __forceinline__ void conv2d_bwd_filter_tc_t(const typename F::T* xh, const typename F::T* dyh,
                                                       float* partial, CONV_PARAMS, int kChunk) {
  const int R = Cin * K * K, total = N * Ho * Wo;
  const int kBegin = blockIdx.z * kChunk, kEnd = imin(kBegin + kChunk, total);
  TcKRows<F> a{dyh, Cout, kEnd};
  TcIm2colK<F> b{xh, Cin, H, W, K, stride, pad, Ho, Wo, R, kEnd};
  b.set_step();
  StoreFilterKKC st{partial + (size_t)blockIdx.z * Cout * R, Cin, K};
  gemm_tc_tn<Cfg, G>(Cout, R, kBegin, kEnd, a, b, st);
}

// ---- BF16 (rung 3) ----

extern "C" __global__ void __launch_bounds__(256)
gemm_nt_bf16_tc(const unsigned short* A, const unsigned short* B, const float* bias, float* C, int M, int N, int K) {
  gemm_nt_tc_t<TcLarge, TcBF16>(A, B, bias, C, M, N, K);
}
extern "C" __global__ void __launch_bounds__(128)
gemm_nt_bf16_tc_s(const unsigned short* A, const unsigned short* B, const float* bias, float* C, int M, int N, int K) {
  gemm_nt_tc_t<TcSmall, TcBF16>(A, B, bias, C, M, N, K);
}
extern "C" __global__ void __launch_bounds__(256)
conv2d_fwd_bf16_tc(const unsigned short* xh, const unsigned short* wr, float* y, CONV_PARAMS) {
  conv2d_fwd_tc_t<TcLarge, TcBF16>(xh, wr, y, CONV_ARGS);
}
extern "C" __global__ void __launch_bounds__(128)
conv2d_fwd_bf16_tc_s(const unsigned short* xh, const unsigned short* wr, float* y, CONV_PARAMS) {
  conv2d_fwd_tc_t<TcSmall, TcBF16>(xh, wr, y, CONV_ARGS);
}
extern "C" __global__ void __launch_bounds__(256)
conv2d_fwd_bf16_tc_tap(const unsigned short* xh, const unsigned short* wr, float* y, CONV_PARAMS) {
  conv2d_fwd_tc_tap_t<TcLarge, TcBF16>(xh, wr, y, CONV_ARGS);
}
extern "C" __global__ void __launch_bounds__(128)
conv2d_fwd_bf16_tc_tap_s(const unsigned short* xh, const unsigned short* wr, float* y, CONV_PARAMS) {
  conv2d_fwd_tc_tap_t<TcSmall, TcBF16>(xh, wr, y, CONV_ARGS);
}
extern "C" __global__ void __launch_bounds__(256)
conv2d_bwd_data_bf16_tc(const unsigned short* dyh, const unsigned short* wt, float* dx, CONV_PARAMS) {
  conv2d_bwd_data_tc_t<TcLarge, TcBF16>(dyh, wt, dx, CONV_ARGS);
}
extern "C" __global__ void __launch_bounds__(128)
conv2d_bwd_data_bf16_tc_s(const unsigned short* dyh, const unsigned short* wt, float* dx, CONV_PARAMS) {
  conv2d_bwd_data_tc_t<TcSmall, TcBF16>(dyh, wt, dx, CONV_ARGS);
}
extern "C" __global__ void __launch_bounds__(256)
conv2d_bwd_data_bf16_tc_tap(const unsigned short* dyh, const unsigned short* wt, float* dx, CONV_PARAMS) {
  conv2d_bwd_data_tc_tap_t<TcLarge, TcBF16>(dyh, wt, dx, CONV_ARGS);
}
extern "C" __global__ void __launch_bounds__(128)
conv2d_bwd_data_bf16_tc_tap_s(const unsigned short* dyh, const unsigned short* wt, float* dx, CONV_PARAMS) {
  conv2d_bwd_data_tc_tap_t<TcSmall, TcBF16>(dyh, wt, dx, CONV_ARGS);
}
extern "C" __global__ void __launch_bounds__(256)
conv2d_bwd_filter_bf16_tc(const unsigned short* xh, const unsigned short* dyh, float* partial, CONV_PARAMS,
                          int kChunk) {
  conv2d_bwd_filter_tc_t<TcLarge, TcBF16, 1>(xh, dyh, partial, CONV_ARGS, kChunk);
}
extern "C" __global__ void __launch_bounds__(128)
conv2d_bwd_filter_bf16_tc_s(const unsigned short* xh, const unsigned short* dyh, float* partial, CONV_PARAMS,
                            int kChunk) {
  conv2d_bwd_filter_tc_t<TcSmall, TcBF16, 1>(xh, dyh, partial, CONV_ARGS, kChunk);
}
extern "C" __global__ void __launch_bounds__(256)
conv2d_bwd_filter_bf16_tc_tap(const unsigned short* xh, const unsigned short* dyh, float* partial, CONV_PARAMS,
                              int kChunk) {
  conv2d_bwd_filter_tc_t<TcLarge, TcBF16, 2>(xh, dyh, partial, CONV_ARGS, kChunk);
}
extern "C" __global__ void __launch_bounds__(128)
conv2d_bwd_filter_bf16_tc_tap_s(const unsigned short* xh, const unsigned short* dyh, float* partial, CONV_PARAMS,
                                int kChunk) {
  conv2d_bwd_filter_tc_t<TcSmall, TcBF16, 2>(xh, dyh, partial, CONV_ARGS, kChunk);
}

// ---- TF32 (rung 2): the same templates on TcTF32 ----

extern "C" __global__ void __launch_bounds__(256)
gemm_nt_tf32_tc(const float* A, const float* B, const float* bias, float* C, int M, int N, int K) {
  gemm_nt_tc_t<TcLarge, TcTF32>(A, B, bias, C, M, N, K);
}
extern "C" __global__ void __launch_bounds__(128)
gemm_nt_tf32_tc_s(const float* A, const float* B, const float* bias, float* C, int M, int N, int K) {
  gemm_nt_tc_t<TcSmall, TcTF32>(A, B, bias, C, M, N, K);
}
extern "C" __global__ void __launch_bounds__(256)
conv2d_fwd_tf32_tc(const float* xh, const float* wr, float* y, CONV_PARAMS) {
  conv2d_fwd_tc_t<TcLarge, TcTF32>(xh, wr, y, CONV_ARGS);
}
extern "C" __global__ void __launch_bounds__(128)
conv2d_fwd_tf32_tc_s(const float* xh, const float* wr, float* y, CONV_PARAMS) {
  conv2d_fwd_tc_t<TcSmall, TcTF32>(xh, wr, y, CONV_ARGS);
}
extern "C" __global__ void __launch_bounds__(256)
conv2d_fwd_tf32_tc_tap(const float* xh, const float* wr, float* y, CONV_PARAMS) {
  conv2d_fwd_tc_tap_t<TcLarge, TcTF32>(xh, wr, y, CONV_ARGS);
}
extern "C" __global__ void __launch_bounds__(128)
conv2d_fwd_tf32_tc_tap_s(const float* xh, const float* wr, float* y, CONV_PARAMS) {
  conv2d_fwd_tc_tap_t<TcSmall, TcTF32>(xh, wr, y, CONV_ARGS);
}
extern "C" __global__ void __launch_bounds__(256)
conv2d_bwd_data_tf32_tc(const float* dyh, const float* wt, float* dx, CONV_PARAMS) {
  conv2d_bwd_data_tc_t<TcLarge, TcTF32>(dyh, wt, dx, CONV_ARGS);
}
extern "C" __global__ void __launch_bounds__(128)
conv2d_bwd_data_tf32_tc_s(const float* dyh, const float* wt, float* dx, CONV_PARAMS) {
  conv2d_bwd_data_tc_t<TcSmall, TcTF32>(dyh, wt, dx, CONV_ARGS);
}
extern "C" __global__ void __launch_bounds__(256)
conv2d_bwd_data_tf32_tc_tap(const float* dyh, const float* wt, float* dx, CONV_PARAMS) {
  conv2d_bwd_data_tc_tap_t<TcLarge, TcTF32>(dyh, wt, dx, CONV_ARGS);
}
extern "C" __global__ void __launch_bounds__(128)
conv2d_bwd_data_tf32_tc_tap_s(const float* dyh, const float* wt, float* dx, CONV_PARAMS) {
  conv2d_bwd_data_tc_tap_t<TcSmall, TcTF32>(dyh, wt, dx, CONV_ARGS);
}
extern "C" __global__ void __launch_bounds__(256)
conv2d_bwd_filter_tf32_tc(const float* xh, const float* dyh, float* partial, CONV_PARAMS, int kChunk) {
  conv2d_bwd_filter_tc_t<TcLarge, TcTF32, 1>(xh, dyh, partial, CONV_ARGS, kChunk);
}
extern "C" __global__ void __launch_bounds__(128)
conv2d_bwd_filter_tf32_tc_s(const float* xh, const float* dyh, float* partial, CONV_PARAMS, int kChunk) {
  conv2d_bwd_filter_tc_t<TcSmall, TcTF32, 1>(xh, dyh, partial, CONV_ARGS, kChunk);
}
extern "C" __global__ void __launch_bounds__(256)
conv2d_bwd_filter_tf32_tc_tap(const float* xh, const float* dyh, float* partial, CONV_PARAMS, int kChunk) {
  conv2d_bwd_filter_tc_t<TcLarge, TcTF32, 2>(xh, dyh, partial, CONV_ARGS, kChunk);
}
extern "C" __global__ void __launch_bounds__(128)
conv2d_bwd_filter_tf32_tc_tap_s(const float* xh, const float* dyh, float* partial, CONV_PARAMS, int kChunk) {
  conv2d_bwd_filter_tc_t<TcSmall, TcTF32, 2>(xh, dyh, partial, CONV_ARGS, kChunk);
}
