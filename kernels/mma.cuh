// mma.cuh - the tensor-core and reduced-precision primitives the GEMM
// kernels use, in one place:
//   * operand rounding: round_tf32 (cvt.rna.tf32.f32: to nearest, ties away
//     from zero, 10 mantissa bits kept), f32_to_bf16 (cvt.rn.bf16.f32: to
//     nearest, ties to even) and bf16_to_f32, and the compile-time rounding
//     policies PrecFP32 / PrecTF32 / PrecBF16 the GEMM loaders apply to
//     every staged operand (backend.Precision on the Go side).
// Under nvcc these are inline PTX (sm_80 and newer; below sm_80 the same
// bit arithmetic in plain C++, which the host never selects: it refuses
// TF32/BF16 on such a device). In the CPU emulator (SIMCLR_EMU) they are
// the bit-exact C++ functions of cuda_emu.h (emu::round_tf32,
// emu::f32_to_bf16), which are also the definition the Go functions
// backend.RoundTF32 / backend.RoundBF16 implement.
#ifndef SIMCLR_MMA_CUH
#define SIMCLR_MMA_CUH

#include "common.cuh"

#ifdef SIMCLR_EMU
__device__ __forceinline__ float round_tf32(float x) { return emu::round_tf32(x); }
__device__ __forceinline__ unsigned short f32_to_bf16(float x) { return emu::f32_to_bf16(x); }
__device__ __forceinline__ float bf16_to_f32(unsigned short h) { return emu::bf16_to_f32(h); }
#else
__device__ __forceinline__ float round_tf32(float x) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  unsigned r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return __uint_as_float(r);
#else
  unsigned b = __float_as_uint(x);
  if ((b & 0x7f800000u) == 0x7f800000u) return (b & 0x007fffffu) ? __uint_as_float((b | 0x00400000u) & 0xffffe000u) : x;
  return __uint_as_float((b + 0x1000u) & 0xffffe000u);
#endif
}
__device__ __forceinline__ unsigned short f32_to_bf16(float x) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  unsigned short h;
  asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(x));
  return h;
#else
  unsigned b = __float_as_uint(x);
  if ((b & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((b | 0x00400000u) >> 16);
  return (unsigned short)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
#endif
}
__device__ __forceinline__ float bf16_to_f32(unsigned short h) { return __uint_as_float((unsigned)h << 16); }
#endif

// Rounding policies: P::round(x) is x rounded to the operand format and
// returned as the fp32 value it stands for.
struct PrecFP32 {
  static __device__ __forceinline__ float round(float x) { return x; }
};
struct PrecTF32 {
  static __device__ __forceinline__ float round(float x) { return round_tf32(x); }
};
struct PrecBF16 {
  static __device__ __forceinline__ float round(float x) { return bf16_to_f32(f32_to_bf16(x)); }
};

#endif  // SIMCLR_MMA_CUH
