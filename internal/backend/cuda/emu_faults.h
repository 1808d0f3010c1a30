// emu_faults.h - deliberately broken (and a few correct control) kernels,
// one per fault class the emulator must report (emu_faults_test.go). They
// are compiled into the cudaemu build only, into a registry of their own
// (emu_fault_kernel_id), never into kernels/ or the backend's kernel list.
//
// emu_kernels.cc includes this file twice: first for the definitions, then
// with EMU_FAULT_KERNELS_LIST defined for the registry entries.
#ifndef EMU_FAULT_KERNELS_LIST
#ifndef SIMCLR_EMU_FAULTS_H
#define SIMCLR_EMU_FAULTS_H

// A read of a neighbour's element and a write of one's own with the
// __syncthreads between them missing (block_sum_f64 without its first
// barrier): a read/write race, whatever the order.
extern "C" __global__ void fault_missing_syncthreads(float* out, int withBarrier) {
  SHARED_ARRAY(float, s, 64);
  const int t = threadIdx.x, n = blockDim.x;
  s[t] = (float)t;
  __syncthreads();
  const float v = s[(t + 1) % n];
  if (withBarrier) __syncthreads();
  s[t] = v * 2.0f;
  __syncthreads();
  out[t] = s[t];
}

// The same within one warp: lanes exchange through shared memory, ordered
// by __syncwarp only when sync != 0.
extern "C" __global__ void fault_missing_syncwarp(float* out, int sync) {
  SHARED_ARRAY(float, lanes, 32);
  const int t = threadIdx.x;
  lanes[t] = (float)t;
  if (sync) __syncwarp();
  out[t] = lanes[t ^ 1];
}

// Every thread writes the same element in one barrier interval.
extern "C" __global__ void fault_write_race(float* out) {
  SHARED_ARRAY(float, total, 1);
  total[0] = (float)threadIdx.x;
  __syncthreads();
  out[threadIdx.x] = total[0];
}

// Half the elements are written, all are read.
extern "C" __global__ void fault_uninit_shared(float* out) {
  SHARED_ARRAY2(float, tile, 4, 8);
  const int t = threadIdx.x;
  if (t < 16) tile[t / 8][t % 8] = 1.0f;
  __syncthreads();
  out[t] = tile[t / 8][t % 8];
}

// Thread n reads (or writes) one element past the end of an n-float buffer.
extern "C" __global__ void fault_oob_read(const float* in, float* out, int n) {
  const int t = threadIdx.x;
  if (t <= n) out[0] = in[t];
}
extern "C" __global__ void fault_oob_write(float* out, int n) {
  const int t = threadIdx.x;
  if (t <= n) out[t] = 1.0f;
}

// Lanes 16..31 call a shuffle whose mask holds lanes 0..15 only.
extern "C" __global__ void fault_shfl_self_not_in_mask(float* out) {
  const float v = __shfl_sync(0x0000ffffu, (float)threadIdx.x, 0);
  out[threadIdx.x] = v;
}

// Lanes 0..15 shuffle with mask 0x0000ffff and read lane+8: lanes 8..15
// read lanes 16..23, outside the mask, and must get poison.
extern "C" __global__ void fault_shfl_partial_mask(float* out) {
  const int lane = threadIdx.x & 31;
  if (lane < 16) out[lane] = __shfl_sync(0x0000ffffu, (float)lane, lane + 8);
}

// Lanes 16..31 exit; lanes 0..15 shuffle with the full mask from lane+16.
extern "C" __global__ void fault_shfl_exited_lane(float* out) {
  const int lane = threadIdx.x & 31;
  if (lane >= 16) return;
  out[lane] = __shfl_sync(0xffffffffu, (float)lane, lane + 16);
}

// Half the warp waits in __syncwarp while the other half shuffles.
extern "C" __global__ void fault_divergent_warp_op(float* out) {
  const int lane = threadIdx.x & 31;
  float v = (float)lane;
  if (lane < 16)
    __syncwarp();
  else
    v = __shfl_xor_sync(0xffffffffu, v, 1);
  out[lane] = v;
}

// Thread 0 waits at __syncthreads while the rest of its warp waits in a
// __syncwarp that needs thread 0 too: neither can ever release.
extern "C" __global__ void fault_divergent_syncthreads(float* out) {
  if (threadIdx.x == 0)
    __syncthreads();
  else
    __syncwarp();
  out[threadIdx.x] = 1.0f;
}

// 52 KB of static shared memory, above the 48 KB limit.
extern "C" __global__ void fault_static_shared_too_big(float* out) {
  SHARED_ARRAY(float, big, 13 * 1024);
  big[threadIdx.x] = 1.0f;
  __syncthreads();
  out[threadIdx.x] = big[threadIdx.x];
}

// A kernel declared for at most 64 threads per block.
extern "C" __global__ void __launch_bounds__(64) fault_bounded_64(float* out) { out[threadIdx.x] = 1.0f; }

// Dynamic shared memory: each thread fills n/blockDim floats of it, then
// thread t sums the block's values at index t, t + blockDim, ... (written by
// other threads, so the barrier matters).
extern "C" __global__ void fault_dynamic_shared(float* out, int n) {
  DYNAMIC_SHARED(float, buf);
  const int t = threadIdx.x, nt = blockDim.x;
  for (int i = t; i < n; i += nt) buf[i] = (float)i;
  __syncthreads();
  float s = 0.0f;
  for (int i = (t + 1) % nt; i < n; i += nt) s += buf[i];
  out[t] = s;
}

// Every thread writes its index to out[0] (a global-memory race the
// shared-memory tracker cannot see): the value left depends on the order in
// which the emulator runs the threads.
extern "C" __global__ void fault_order_dependent(int* out) { out[0] = (int)threadIdx.x; }

// out[0] = a*b + c as written (contracted into an FMA only in the
// SIMCLR_EMU_FP_CONTRACT build, as nvcc would), out[1] through the _rn
// intrinsics (never contracted).
extern "C" __global__ void emu_fma_probe(const float* in, float* out) {
  out[0] = in[0] * in[1] + in[2];
  out[1] = __fadd_rn(__fmul_rn(in[0], in[1]), in[2]);
}

// kernels/common.cuh's block reductions, each called twice in a row:
// out[4r..4r+3] = sum(v), sum(-v), max(v), max(-v) over v = in[r*blockDim.x
// ...], for r < rounds.
extern "C" __global__ void emu_block_reduce(const double* in, double* out, int rounds) {
  for (int r = 0; r < rounds; ++r) {
    const double v = in[r * blockDim.x + threadIdx.x];
    const double s = block_sum_f64(v);
    const double sn = block_sum_f64(-v);
    const double m = block_max_f64(v);
    const double mn = block_max_f64(-v);
    if (threadIdx.x == 0) {
      out[4 * r] = s;
      out[4 * r + 1] = sn;
      out[4 * r + 2] = m;
      out[4 * r + 3] = mn;
    }
  }
}

#endif  // SIMCLR_EMU_FAULTS_H
#else
SIMCLR_KERNEL(fault_missing_syncthreads)
SIMCLR_KERNEL(fault_missing_syncwarp)
SIMCLR_KERNEL(fault_write_race)
SIMCLR_KERNEL(fault_uninit_shared)
SIMCLR_KERNEL(fault_oob_read)
SIMCLR_KERNEL(fault_oob_write)
SIMCLR_KERNEL(fault_shfl_self_not_in_mask)
SIMCLR_KERNEL(fault_shfl_partial_mask)
SIMCLR_KERNEL(fault_shfl_exited_lane)
SIMCLR_KERNEL(fault_divergent_warp_op)
SIMCLR_KERNEL(fault_divergent_syncthreads)
SIMCLR_KERNEL(fault_static_shared_too_big)
SIMCLR_KERNEL(fault_bounded_64)
SIMCLR_KERNEL(fault_dynamic_shared)
SIMCLR_KERNEL(fault_order_dependent)
SIMCLR_KERNEL(emu_fma_probe)
SIMCLR_KERNEL(emu_block_reduce)
#endif
