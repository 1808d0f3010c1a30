// emu_tc.h - small test kernels for the tensor-core primitives of
// kernels/mma.cuh as the emulator implements them (emu_tc_test.go). Like
// emu_faults.h they are compiled into the cudaemu build only, into the
// emulator's test registry (emu_fault_kernel_id), never into kernels/.
//
// The kernels build the mma fragments with the PTX ISA layout tables
// written out register by register, so a swapped index in the emulator
// (cuda_emu.h, which computes them in loops) changes the result.
//
// emu_kernels.cc includes this file twice: first for the definitions, then
// with EMU_FAULT_KERNELS_LIST defined for the registry entries.
#ifndef EMU_FAULT_KERNELS_LIST
#ifndef SIMCLR_EMU_TC_H
#define SIMCLR_EMU_TC_H

// D = A B + C for one m16n8k16 bf16 mma: A [16][16], B [16][8] (k rows),
// C, D [16][8], all fp32 row-major in global memory (A and B rounded to
// bf16 as the fragments are packed). exitLane >= 0 returns that lane
// before the mma (an error: mma.sync is .aligned).
extern "C" __global__ void tc_mma_bf16(const float* A, const float* B, const float* C, float* D, int exitLane) {
  const int l = threadIdx.x & 31, g = l >> 2, t = l & 3;
  if (l == exitLane) return;
  unsigned a[4], b[2];
  a[0] = pack_bf16(A[g * 16 + 2 * t], A[g * 16 + 2 * t + 1]);
  a[1] = pack_bf16(A[(g + 8) * 16 + 2 * t], A[(g + 8) * 16 + 2 * t + 1]);
  a[2] = pack_bf16(A[g * 16 + 2 * t + 8], A[g * 16 + 2 * t + 9]);
  a[3] = pack_bf16(A[(g + 8) * 16 + 2 * t + 8], A[(g + 8) * 16 + 2 * t + 9]);
  b[0] = pack_bf16(B[(2 * t) * 8 + g], B[(2 * t + 1) * 8 + g]);
  b[1] = pack_bf16(B[(2 * t + 8) * 8 + g], B[(2 * t + 9) * 8 + g]);
  float c[4] = {C[g * 8 + 2 * t], C[g * 8 + 2 * t + 1], C[(g + 8) * 8 + 2 * t], C[(g + 8) * 8 + 2 * t + 1]};
  float d[4];
  mma_bf16_16816(d, a, b, c);
  D[g * 8 + 2 * t] = d[0];
  D[g * 8 + 2 * t + 1] = d[1];
  D[(g + 8) * 8 + 2 * t] = d[2];
  D[(g + 8) * 8 + 2 * t + 1] = d[3];
}

// D = A B + C for one m16n8k8 tf32 mma: A [16][8], B [8][8], C, D [16][8]
// (A and B rounded to tf32 with round_tf32).
extern "C" __global__ void tc_mma_tf32(const float* A, const float* B, const float* C, float* D) {
  const int l = threadIdx.x & 31, g = l >> 2, t = l & 3;
  unsigned a[4], b[2];
  a[0] = __float_as_uint(round_tf32(A[g * 8 + t]));
  a[1] = __float_as_uint(round_tf32(A[(g + 8) * 8 + t]));
  a[2] = __float_as_uint(round_tf32(A[g * 8 + t + 4]));
  a[3] = __float_as_uint(round_tf32(A[(g + 8) * 8 + t + 4]));
  b[0] = __float_as_uint(round_tf32(B[t * 8 + g]));
  b[1] = __float_as_uint(round_tf32(B[(t + 4) * 8 + g]));
  float c[4] = {C[g * 8 + 2 * t], C[g * 8 + 2 * t + 1], C[(g + 8) * 8 + 2 * t], C[(g + 8) * 8 + 2 * t + 1]};
  float d[4];
  mma_tf32_1688(d, a, b, c);
  D[g * 8 + 2 * t] = d[0];
  D[g * 8 + 2 * t + 1] = d[1];
  D[(g + 8) * 8 + 2 * t] = d[2];
  D[(g + 8) * 8 + 2 * t + 1] = d[3];
}

// One ldmatrix of a 32-row x 8-column b16 tile staged in shared memory:
// lane l gives the address of row rowOf[l]; out[4l+i] = r[i] (0 where the
// shape has fewer registers). mode: 0 x1, 1 x2, 2 x4, 3 x1.trans,
// 4 x2.trans, 5 x4.trans.
extern "C" __global__ void tc_ldmatrix(const unsigned short* in, const int* rowOf, unsigned* out, int mode) {
  SHARED_ARRAY(unsigned short, tile, 256);
  const int l = threadIdx.x & 31;
  for (int i = 0; i < 8; ++i) tile[l * 8 + i] = in[l * 8 + i];
  __syncwarp();
  unsigned r[4] = {0, 0, 0, 0};
  const int off = rowOf[l] * 8;
  switch (mode) {
    case 0: ldmatrix_x1(r, tile, off); break;
    case 1: ldmatrix_x2(r, tile, off); break;
    case 2: ldmatrix_x4(r, tile, off); break;
    case 3: ldmatrix_x1_trans(r, tile, off); break;
    case 4: ldmatrix_x2_trans(r, tile, off); break;
    default: ldmatrix_x4_trans(r, tile, off); break;
  }
  for (int i = 0; i < 4; ++i) out[4 * l + i] = r[i];
}

// The tensor-core data path of one warp: A [16][16] and B [16][8] (bf16
// bits, row-major, B with k rows) copied into shared memory by cp.async.cg,
// A fed to the mma by ldmatrix.x4, B by ldmatrix.x2.trans; D = A B [16][8]
// fp32 row-major.
extern "C" __global__ void tc_ldsm_mma(const unsigned short* A, const unsigned short* B, float* D) {
  DYNAMIC_SHARED(unsigned short, sm);  // A at 0 (256), B at 256 (128)
  const int l = threadIdx.x & 31, g = l >> 2, t = l & 3;
  cp_async_cg16(sm, l * 8, A + l * 8, 16);
  if (l < 16) cp_async_cg16(sm, 256 + l * 8, B + l * 8, 16);
  cp_async_commit();
  cp_async_wait<0>();
  __syncwarp();
  unsigned a[4], b[2];
  ldmatrix_x4(a, sm, (l & 15) * 16 + (l >> 4) * 8);
  ldmatrix_x2_trans(b, sm, 256 + (l & 15) * 8);
  float c[4] = {0.0f, 0.0f, 0.0f, 0.0f}, d[4];
  mma_bf16_16816(d, a, b, c);
  D[g * 8 + 2 * t] = d[0];
  D[g * 8 + 2 * t + 1] = d[1];
  D[(g + 8) * 8 + 2 * t] = d[2];
  D[(g + 8) * 8 + 2 * t + 1] = d[3];
}

// cp.async of 64 floats src[0..64) into shared memory by one warp, then
// out[i] = s[i]. Lanes 0..7 copy 16 bytes each (cg) into s[0..32), lanes
// 8..15 8 bytes (ca) into s[32..48), lanes 16..31 4 bytes (ca) into
// s[48..64). mode:
//   0: commit, wait_group 0, barrier, read everything (correct);
//   1: commit, barrier, read (no wait_group: the read is in flight);
//   2: as 0, but lanes 0..7 pass srcBytes 4*(lane%4) (zero-fill the rest);
//   3: s[0..32) and s[32..64) in two groups, wait_group 1, read all (the
//      second group is still in flight);
//   4: as 3 but read s[0..32) after wait_group 1, then wait_group 0,
//      barrier, read s[32..64) (correct);
//   5: as 0 with src shifted by shift floats (out of bounds for shift > 0);
//   6: as 0, then each lane reads its neighbour's element and issues a new
//      cp.async into its own with no barrier in between (a pipeline that
//      refills a stage another thread may still be reading): a race.
extern "C" __global__ void tc_cp_async(const float* src, float* out, int mode, int shift) {
  SHARED_ARRAY(float, s, 64);
  const int l = threadIdx.x & 31;
  if (mode == 5) src += shift;
  if (l < 8) cp_async_cg16(s, 4 * l, src + 4 * l, mode == 2 ? 4 * (l & 3) : 16);
  if (mode == 3 || mode == 4) cp_async_commit();
  if (l >= 8 && l < 16) cp_async_ca<8>(s, 32 + 2 * (l - 8), src + 32 + 2 * (l - 8), 8);
  if (l >= 16) cp_async_ca<4>(s, 48 + (l - 16), src + 48 + (l - 16), 4);
  cp_async_commit();
  if (mode == 3 || mode == 4) {
    cp_async_wait<1>();
    __syncthreads();
    out[l] = s[l];
    if (mode == 3) out[32 + l] = s[32 + l];
    cp_async_wait<0>();
    __syncthreads();
    out[32 + l] = s[32 + l];
    return;
  }
  if (mode != 1) cp_async_wait<0>();
  __syncthreads();
  out[l] = s[l];
  out[32 + l] = s[32 + l];
  if (mode == 6) {
    out[l] = s[(l + 1) & 31];
    cp_async_ca<4>(s, l, src + l, 4);
    cp_async_commit();
    cp_async_wait<0>();
  }
}

// The device conversions: tf32[i] = round_tf32(in[i]), bf16[i] =
// f32_to_bf16(in[i]) (as an unsigned).
extern "C" __global__ void tc_cvt(const float* in, float* tf32, unsigned* bf16, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  tf32[i] = round_tf32(in[i]);
  bf16[i] = f32_to_bf16(in[i]);
}

#endif  // SIMCLR_EMU_TC_H
#else
SIMCLR_KERNEL(tc_mma_bf16)
SIMCLR_KERNEL(tc_mma_tf32)
SIMCLR_KERNEL(tc_ldmatrix)
SIMCLR_KERNEL(tc_ldsm_mma)
SIMCLR_KERNEL(tc_cp_async)
SIMCLR_KERNEL(tc_cvt)
#endif
