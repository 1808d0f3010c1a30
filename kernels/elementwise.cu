// elementwise.cu - add, fill (zero), ReLU forward and backward.
//
// Computes, for i in [0, n):
//   add_f32:  out[i] = a[i] + b[i]          (out may alias a or b)
//   fill_f32: x[i] = v                      (Zero uses v = 0)
//   relu_fwd: y[i] = x[i] < 0 ? 0 : x[i]    (NaN stays NaN; y may alias x)
//   relu_bwd: dx[i] = y[i] > 0 ? dy[i] : 0  (dx may alias dy)
// Launch: 1-D grid-stride loop; the host picks block 256 and
// grid = min(ceil(n/256), 65535). No tiling, no shared memory.
#include "common.cuh"

extern "C" __global__ void add_f32(const float* a, const float* b, float* out, int n) {
  GRID_STRIDE(i, n) { out[i] = fadd_rn(a[i], b[i]); }
}

extern "C" __global__ void fill_f32(float* x, float v, int n) {
  GRID_STRIDE(i, n) { x[i] = v; }
}

extern "C" __global__ void relu_fwd(const float* x, float* y, int n) {
  GRID_STRIDE(i, n) {
    float v = x[i];
    y[i] = v < 0.0f ? 0.0f : v;
  }
}

extern "C" __global__ void relu_bwd(const float* y, const float* dy, float* dx, int n) {
  GRID_STRIDE(i, n) { dx[i] = y[i] > 0.0f ? dy[i] : 0.0f; }
}
