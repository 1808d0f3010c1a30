// tc.cu - the tensor-core rung of the matrix ops (gemm_tc.cuh) and the
// conversions that feed it. Used in BF16 precision when the shapes allow
// (K a multiple of 8; see internal/backend/cuda/tc.go); otherwise the
// FFMA rung's _bf16 kernels (conv.cu, linear.cu) run.
//
// Because cp.async copies bytes, the operands must already be bf16 in
// global memory, K-contiguous:
//   convert_bf16:      y[i] = bf16(x[i])                         (n elements)
//   nchw_to_nhwc_bf16: y[n][p][c] = bf16(x[n][c][p]), p < HW (a 32x32 tile
//                      transpose through shared memory, coalesced both ways)
//                      (activations NCHW -> NHWC; conv weights
//                      [Cout][Cin][K*K] -> [Cout][K*K][Cin]; with N = 1 a
//                      transpose [C][HW] -> [HW][C])
// GEMMs (C = A B^T, A [M][K], B [N][K] bf16; suffix _s: the 64x64 tile
// for small shapes, else 128x128):
//   gemm_nt_bf16_tc{,_s}:   C[m][n] = sum_k A[m][k] B[n][k] (+ bias[n]),
//                           C row-major [M][N] (linear forward: A = x,
//                           B = w; data gradient: A = dy, B = w^T; weight
//                           gradient: A = dy^T, B = x^T);
//   conv2d_fwd_bf16_tc{,_s}: y[n][co][p] = sum_{kh,kw,ci} w[co][kh][kw][ci]
//                           x[n][ih][iw][ci], x NHWC bf16, weights
//                           [Cout][K][K][Cin] bf16 (Cin a multiple of 8);
//   conv2d_bwd_data_bf16_tc{,_s}: dx[n][ci][h][w] = sum_{kh,kw,co}
//                           w[ci][kh][kw][co] dy[n][oh][ow][co] over the
//                           taps that reach (h, w), dy NHWC bf16, weights
//                           [Cin][K][K][Cout] bf16 (Cout a multiple of 8,
//                           stride 1 or 2);
//   conv2d_bwd_filter_bf16_tc{,_s}: dw[co][ci][kh][kw] = sum over the
//                           pixels q in the grid.z slice of dy[q][co]
//                           x[n][ih][iw][ci] (both NHWC bf16, K-major:
//                           gemm_tc_tn, ldmatrix.trans), slices added by
//                           splitk_reduce (Cin and Cout multiples of 8).
//   conv2d_fwd_bf16_tc_tap{,_s}, conv2d_bwd_data_bf16_tc_tap{,_s}: the
//                           same products with the tap-uniform gathers
//                           (gemm_tc.cuh TcIm2colTap, TcDyGatherTap; the
//                           reduction's channels a multiple of 32) and
//                           paired chunks; conv2d_bwd_filter_bf16_tc_tap
//                           {,_s}: the filter gradient with paired chunks
//                           (Cin and Cout multiples of 16).
#include "gemm_tc.cuh"

extern "C" __global__ void convert_bf16(const float* x, unsigned short* y, int n) {
  GRID_STRIDE(i, n) { y[i] = f32_to_bf16(x[i]); }
}

// A 32x32 tile transpose through shared memory: block 256 (32 x 8), grid
// (ceil(HW/32), ceil(C/32), N). Reads are coalesced along p, writes along
// c, and no thread divides.
extern "C" __global__ void __launch_bounds__(256)
nchw_to_nhwc_bf16(const float* x, unsigned short* y, int N, int C, int HW) {
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
  unsigned short* yn = y + (size_t)n * HW * C;
SIMCLR_UNROLL
  for (int j = 0; j < 4; ++j) {
    const int i = ty + 8 * j, p = p0 + i, c = c0 + tx;
    if (p < HW && c < C) yn[(size_t)p * C + c] = f32_to_bf16(tile[tx][i]);
  }
}

template <class Cfg>
__device__ __forceinline__ void gemm_nt_bf16_t(const unsigned short* A, const unsigned short* B, const float* bias,
                                               float* C, int M, int N, int K) {
  TcRows a{A, M, K};
  TcRows b{B, N, K};
  StoreBias st{C, bias, N};
  gemm_tc<Cfg>(M, N, K, a, b, st);
}

extern "C" __global__ void __launch_bounds__(256)
gemm_nt_bf16_tc(const unsigned short* A, const unsigned short* B, const float* bias, float* C, int M, int N, int K) {
  gemm_nt_bf16_t<TcLarge>(A, B, bias, C, M, N, K);
}
extern "C" __global__ void __launch_bounds__(128)
gemm_nt_bf16_tc_s(const unsigned short* A, const unsigned short* B, const float* bias, float* C, int M, int N, int K) {
  gemm_nt_bf16_t<TcSmall>(A, B, bias, C, M, N, K);
}

template <class Cfg>
__device__ __forceinline__ void conv2d_fwd_bf16_tc_t(const unsigned short* xh, const unsigned short* wr, float* y,
                                                     CONV_PARAMS) {
  const int R = Cin * K * K, P_ = Ho * Wo;
  TcRows a{wr, Cout, R};
  TcIm2colNHWC b{xh, N * P_, Cin, H, W, K, stride, pad, Ho, Wo, R};
  StoreNCHW st{y, Cout, P_};
  gemm_tc<Cfg>(Cout, N * P_, R, a, b, st);
}

extern "C" __global__ void __launch_bounds__(256)
conv2d_fwd_bf16_tc(const unsigned short* xh, const unsigned short* wr, float* y, CONV_PARAMS) {
  conv2d_fwd_bf16_tc_t<TcLarge>(xh, wr, y, CONV_ARGS);
}
extern "C" __global__ void __launch_bounds__(128)
conv2d_fwd_bf16_tc_s(const unsigned short* xh, const unsigned short* wr, float* y, CONV_PARAMS) {
  conv2d_fwd_bf16_tc_t<TcSmall>(xh, wr, y, CONV_ARGS);
}

// The tap-uniform forward (Cin % 32 == 0; gemm_tc.cuh TcIm2colTap): the
// same product with a cheaper K loop.
template <class Cfg>
__device__ __forceinline__ void conv2d_fwd_bf16_tc_tap_t(const unsigned short* xh, const unsigned short* wr, float* y,
                                                         CONV_PARAMS) {
  const int R = Cin * K * K, P_ = Ho * Wo;
  TcRowsFull a{wr, Cout, R};
  TcIm2colTap b{xh, N * P_, Cin, H, W, K, stride, pad, Ho, Wo};
  StoreNCHW st{y, Cout, P_};
  gemm_tc<Cfg, 2>(Cout, N * P_, R, a, b, st);
}

extern "C" __global__ void __launch_bounds__(256)
conv2d_fwd_bf16_tc_tap(const unsigned short* xh, const unsigned short* wr, float* y, CONV_PARAMS) {
  conv2d_fwd_bf16_tc_tap_t<TcLarge>(xh, wr, y, CONV_ARGS);
}
extern "C" __global__ void __launch_bounds__(128)
conv2d_fwd_bf16_tc_tap_s(const unsigned short* xh, const unsigned short* wr, float* y, CONV_PARAMS) {
  conv2d_fwd_bf16_tc_tap_t<TcSmall>(xh, wr, y, CONV_ARGS);
}

template <class Cfg>
__device__ __forceinline__ void conv2d_bwd_data_bf16_tc_t(const unsigned short* dyh, const unsigned short* wt,
                                                          float* dx, CONV_PARAMS) {
  const int R = Cout * K * K, HW = H * W;
  TcRows a{wt, Cin, R};
  TcDyGatherNHWC b{dyh, N * HW, Cout, H, W, K, stride, pad, Ho, Wo, R};
  StoreNCHW st{dx, Cin, HW};
  gemm_tc<Cfg>(Cin, N * HW, R, a, b, st);
}

extern "C" __global__ void __launch_bounds__(256)
conv2d_bwd_data_bf16_tc(const unsigned short* dyh, const unsigned short* wt, float* dx, CONV_PARAMS) {
  conv2d_bwd_data_bf16_tc_t<TcLarge>(dyh, wt, dx, CONV_ARGS);
}
extern "C" __global__ void __launch_bounds__(128)
conv2d_bwd_data_bf16_tc_s(const unsigned short* dyh, const unsigned short* wt, float* dx, CONV_PARAMS) {
  conv2d_bwd_data_bf16_tc_t<TcSmall>(dyh, wt, dx, CONV_ARGS);
}

// The tap-uniform data gradient (Cout % 32 == 0; TcDyGatherTap).
template <class Cfg>
__device__ __forceinline__ void conv2d_bwd_data_bf16_tc_tap_t(const unsigned short* dyh, const unsigned short* wt,
                                                              float* dx, CONV_PARAMS) {
  const int R = Cout * K * K, HW = H * W;
  TcRowsFull a{wt, Cin, R};
  TcDyGatherTap b{dyh, N * HW, Cout, H, W, K, stride, pad, Ho, Wo};
  StoreNCHW st{dx, Cin, HW};
  gemm_tc<Cfg, 2>(Cin, N * HW, R, a, b, st);
}

extern "C" __global__ void __launch_bounds__(256)
conv2d_bwd_data_bf16_tc_tap(const unsigned short* dyh, const unsigned short* wt, float* dx, CONV_PARAMS) {
  conv2d_bwd_data_bf16_tc_tap_t<TcLarge>(dyh, wt, dx, CONV_ARGS);
}
extern "C" __global__ void __launch_bounds__(128)
conv2d_bwd_data_bf16_tc_tap_s(const unsigned short* dyh, const unsigned short* wt, float* dx, CONV_PARAMS) {
  conv2d_bwd_data_bf16_tc_tap_t<TcSmall>(dyh, wt, dx, CONV_ARGS);
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

template <class Cfg, int G>
__device__ __forceinline__ void conv2d_bwd_filter_bf16_tc_t(const unsigned short* xh, const unsigned short* dyh,
                                                            float* partial, CONV_PARAMS, int kChunk) {
  const int R = Cin * K * K, total = N * Ho * Wo;
  const int kBegin = blockIdx.z * kChunk, kEnd = imin(kBegin + kChunk, total);
  TcKRows a{dyh, Cout, kEnd};
  TcIm2colK b{xh, Cin, H, W, K, stride, pad, Ho, Wo, R, kEnd};
  b.set_step();
  StoreFilterKKC st{partial + (size_t)blockIdx.z * Cout * R, Cin, K};
  gemm_tc_tn<Cfg, G>(Cout, R, kBegin, kEnd, a, b, st);
}

extern "C" __global__ void __launch_bounds__(256)
conv2d_bwd_filter_bf16_tc(const unsigned short* xh, const unsigned short* dyh, float* partial, CONV_PARAMS,
                          int kChunk) {
  conv2d_bwd_filter_bf16_tc_t<TcLarge, 1>(xh, dyh, partial, CONV_ARGS, kChunk);
}
extern "C" __global__ void __launch_bounds__(128)
conv2d_bwd_filter_bf16_tc_s(const unsigned short* xh, const unsigned short* dyh, float* partial, CONV_PARAMS,
                            int kChunk) {
  conv2d_bwd_filter_bf16_tc_t<TcSmall, 1>(xh, dyh, partial, CONV_ARGS, kChunk);
}

// The paired filter gradient (Cin % 16 == 0 and Cout % 16 == 0): each
// thread's two chunks of a tile row are adjacent (8 + 8 channels of one
// pixel and one tap), so they share one cursor (gemm_tc_tn G = 2).
extern "C" __global__ void __launch_bounds__(256)
conv2d_bwd_filter_bf16_tc_tap(const unsigned short* xh, const unsigned short* dyh, float* partial, CONV_PARAMS,
                              int kChunk) {
  conv2d_bwd_filter_bf16_tc_t<TcLarge, 2>(xh, dyh, partial, CONV_ARGS, kChunk);
}
extern "C" __global__ void __launch_bounds__(128)
conv2d_bwd_filter_bf16_tc_tap_s(const unsigned short* xh, const unsigned short* dyh, float* partial, CONV_PARAMS,
                                int kChunk) {
  conv2d_bwd_filter_bf16_tc_t<TcSmall, 2>(xh, dyh, partial, CONV_ARGS, kChunk);
}
