// pooling.cu - max pooling and global average pooling over NCHW planes.
//
//   maxpool_fwd: y[pl,oh,ow] = max of the KxK window of plane pl (padding is
//     -inf; the first maximum in row-major window order wins; NaN counts as
//     a maximum, as PyTorch).
//   maxpool_bwd: a gather, one thread per input element: dx[pl,h,w] = sum of
//     dy over the windows whose arg-max is (h,w), windows in row-major order,
//     so overlapping windows add up deterministically (no atomics).
//   gap_fwd: y[pl] = mean of plane pl (float64 sum); one warp per plane,
//     lanes stride the plane and reduce with shuffles.
//   gap_bwd: dx[pl,i] = dy[pl] / (H*W).
// Launch: maxpool_* and gap_bwd are 1-D grid-stride loops (block 256);
// gap_fwd uses block 256 (8 warps) and grid ceil(planes/8).
#include "common.cuh"

// pool_argmax returns the in-plane index of the maximum of window (oh, ow).
__device__ __forceinline__ int pool_argmax(const float* plane, int H, int W, int K, int stride, int pad, int oh,
                                           int ow) {
  int h0 = oh * stride - pad, w0 = ow * stride - pad;
  const int h1 = imin(h0 + K, H), w1 = imin(w0 + K, W);
  h0 = imax(h0, 0);
  w0 = imax(w0, 0);
  float best = -INFINITY;
  int idx = h0 * W + w0;
  for (int ih = h0; ih < h1; ++ih) {
    for (int iw = w0; iw < w1; ++iw) {
      const float v = plane[ih * W + iw];
      if (v > best || v != v) {
        best = v;
        idx = ih * W + iw;
      }
    }
  }
  return idx;
}

extern "C" __global__ void maxpool_fwd(const float* x, float* y, int planes, int H, int W, int K, int stride,
                                       int pad, int Ho, int Wo) {
  const int total = planes * Ho * Wo;
  GRID_STRIDE(i, total) {
    const int ow = i % Wo, t = i / Wo, oh = t % Ho, pl = t / Ho;
    const float* plane = x + (size_t)pl * H * W;
    y[i] = plane[pool_argmax(plane, H, W, K, stride, pad, oh, ow)];
  }
}

extern "C" __global__ void maxpool_bwd(const float* x, const float* dy, float* dx, int planes, int H, int W,
                                       int K, int stride, int pad, int Ho, int Wo) {
  const int total = planes * H * W;
  GRID_STRIDE(i, total) {
    const int w = i % W, t = i / W, h = t % H, pl = t / H;
    const float* plane = x + (size_t)pl * H * W;
    const float* g = dy + (size_t)pl * Ho * Wo;
    // Windows that contain (h, w): oh*stride - pad <= h < oh*stride - pad + K.
    const int ohLo = imax(0, (h + pad - K + stride) / stride);
    const int ohHi = imin(Ho - 1, (h + pad) / stride);
    const int owLo = imax(0, (w + pad - K + stride) / stride);
    const int owHi = imin(Wo - 1, (w + pad) / stride);
    const int self = h * W + w;
    float s = 0.0f;
    for (int oh = ohLo; oh <= ohHi; ++oh)
      for (int ow = owLo; ow <= owHi; ++ow)
        if (pool_argmax(plane, H, W, K, stride, pad, oh, ow) == self) s = fadd_rn(s, g[oh * Wo + ow]);
    dx[i] = s;
  }
}

extern "C" __global__ void gap_fwd(const float* x, float* y, int planes, int HW) {
  const int warp = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  const int pl = imin(warp, planes - 1);  // every lane takes part in the shuffles
  const float* src = x + (size_t)pl * HW;
  double s = 0.0;
  for (int i = lane; i < HW; i += 32) s += (double)src[i];
  s = warp_sum_f64(s);
  if (lane == 0 && warp < planes) y[pl] = (float)(s / (double)HW);
}

extern "C" __global__ void gap_bwd(const float* dy, float* dx, int planes, int HW) {
  const int total = planes * HW;
  const float div = (float)HW;
  GRID_STRIDE(i, total) { dx[i] = dy[i / HW] / div; }
}
