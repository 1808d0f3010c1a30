// mma_probe.cu - one kernel that uses every primitive of kernels/mma.cuh,
// compiled by TestTensorCorePrimitivesSASS with nvcc for sm_80 and sm_90:
// the test checks that the inline PTX assembles and becomes the expected
// SASS (HMMA, LDSM, LDGSTS, F2FP.BF16) without spills. Never launched.
#include "../../../../kernels/mma.cuh"

extern "C" __global__ void __launch_bounds__(32) mma_probe(const unsigned short* g16, const float* g32, float* out, int n) {
  extern __shared__ unsigned short sm[];
  const int l = threadIdx.x;
  cp_async_cg16(sm, l * 8, g16 + l * 8, n > l ? 16 : 0);
  cp_async_ca<8>(sm, 256 + l * 4, g16 + 256 + l * 4, 8);
  cp_async_ca<4>(sm, 384 + l * 2, g16 + 384 + l * 2, 4);
  cp_async_commit();
  cp_async_wait<1>();
  cp_async_wait<0>();
  __syncthreads();
  unsigned a[4], b[2], x1[1], x2[2], t1[1], t4[4];
  ldmatrix_x4(a, sm, (l & 15) * 16 + (l >> 4) * 8);
  ldmatrix_x2_trans(b, sm, 256 + (l & 15) * 8);
  ldmatrix_x1(x1, sm, (l & 7) * 8);
  ldmatrix_x2(x2, sm, (l & 15) * 8);
  ldmatrix_x1_trans(t1, sm, (l & 7) * 8);
  ldmatrix_x4_trans(t4, sm, l * 8);
  float c[4] = {g32[l], g32[l + 32], g32[l + 64], g32[l + 96]}, d[4], e[4];
  mma_bf16_16816(d, a, b, c);
  unsigned ta[4], tb[2];
  for (int i = 0; i < 4; ++i) ta[i] = __float_as_uint(round_tf32(g32[128 + 4 * l + i])) ^ x2[i & 1] ^ t4[i];
  for (int i = 0; i < 2; ++i) tb[i] = __float_as_uint(round_tf32(g32[256 + 2 * l + i])) ^ x1[0] ^ t1[0];
  mma_tf32_1688(e, ta, tb, d);
  for (int i = 0; i < 4; ++i) out[4 * l + i] = e[i] + bf16_to_f32(f32_to_bf16(e[i] * 3.0f)) + PrecBF16::round(d[i]);
}
