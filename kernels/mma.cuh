// mma.cuh - the tensor-core and reduced-precision primitives the GEMM
// kernels use, in one place:
//   * operand rounding: round_tf32 (cvt.rna.tf32.f32: to nearest, ties away
//     from zero, 10 mantissa bits kept), f32_to_bf16 (cvt.rn.bf16.f32: to
//     nearest, ties to even) and bf16_to_f32, and the compile-time rounding
//     policies PrecFP32 / PrecTF32 / PrecBF16 the GEMM loaders apply to
//     every staged operand (backend.Precision on the Go side);
//   * tensor-core math: mma_bf16_16816 (mma.sync.aligned.m16n8k16.row.col
//     .f32.bf16.bf16.f32) and mma_tf32_1688 (m16n8k8 .tf32), fp32
//     accumulators, the PTX ISA fragment layouts (see cuda_emu.h);
//   * ldmatrix_x1/x2/x4[_trans] (ldmatrix.sync.aligned.m8n8.xN[.trans]
//     .shared.b16): lanes 8i..8i+7 give the row addresses of matrix i;
//   * cp_async_ca<4|8|16>, cp_async_cg16 (cp.async.{ca,cg}.shared.global
//     with the src-size operand: the bytes past srcBytes are zero-filled),
//     cp_async_commit (commit_group), cp_async_wait<N> (wait_group N).
// Shared memory operands are passed as the shared array plus an element
// offset (not a raw pointer), so that in the emulator they go through the
// tracked array and its race / uninitialised / in-flight checks; under
// nvcc the array decays to a pointer and the offset is added.
// The tensor-core instructions need sm_80; below it their bodies trap (the
// host never launches a tensor-core kernel there: SetMatmulPrecision
// refuses TF32/BF16 below compute capability 8.0).
// Under nvcc these are inline PTX (sm_80 and newer; below sm_80 the same
// bit arithmetic in plain C++, which the host never selects: it refuses
// TF32/BF16 on such a device). In the CPU emulator (SIMCLR_EMU) they are
// the bit-exact C++ functions of cuda_emu.h (emu::cvt_rna_tf32,
// emu::cvt_rn_bf16), which are also the definition the Go functions
// backend.RoundTF32 / backend.RoundBF16 implement.
#ifndef SIMCLR_MMA_CUH
#define SIMCLR_MMA_CUH

#include "common.cuh"

#ifdef SIMCLR_EMU
__device__ __forceinline__ float round_tf32(float x) { return emu::cvt_rna_tf32(x); }
__device__ __forceinline__ unsigned short f32_to_bf16(float x) { return emu::cvt_rn_bf16(x); }
__device__ __forceinline__ float bf16_to_f32(unsigned short h) { return emu::bf16_bits_to_f32(h); }
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

#ifdef SIMCLR_EMU
__device__ __forceinline__ void mma_bf16_16816(float d[4], const unsigned a[4], const unsigned b[2], const float c[4]) {
  emu::mma_m16n8k16_bf16(d, a, b, c);
}
__device__ __forceinline__ void mma_tf32_1688(float d[4], const unsigned a[4], const unsigned b[2], const float c[4]) {
  emu::mma_m16n8k8_tf32(d, a, b, c);
}
template <class S>
__device__ __forceinline__ void ldmatrix_x1(unsigned r[1], S& s, int off) { emu::ldmatrix(r, 1, false, emu::region(s), off); }
template <class S>
__device__ __forceinline__ void ldmatrix_x2(unsigned r[2], S& s, int off) { emu::ldmatrix(r, 2, false, emu::region(s), off); }
template <class S>
__device__ __forceinline__ void ldmatrix_x4(unsigned r[4], S& s, int off) { emu::ldmatrix(r, 4, false, emu::region(s), off); }
template <class S>
__device__ __forceinline__ void ldmatrix_x1_trans(unsigned r[1], S& s, int off) { emu::ldmatrix(r, 1, true, emu::region(s), off); }
template <class S>
__device__ __forceinline__ void ldmatrix_x2_trans(unsigned r[2], S& s, int off) { emu::ldmatrix(r, 2, true, emu::region(s), off); }
template <class S>
__device__ __forceinline__ void ldmatrix_x4_trans(unsigned r[4], S& s, int off) { emu::ldmatrix(r, 4, true, emu::region(s), off); }
template <int Bytes, class S>
__device__ __forceinline__ void cp_async_ca(S& s, int off, const void* src, int srcBytes) {
  static_assert(Bytes == 4 || Bytes == 8 || Bytes == 16, "cp.async.ca copies 4, 8 or 16 bytes");
  emu::cp_async(emu::region(s), off, src, Bytes, srcBytes, false);
}
template <class S>
__device__ __forceinline__ void cp_async_cg16(S& s, int off, const void* src, int srcBytes) {
  emu::cp_async(emu::region(s), off, src, 16, srcBytes, true);
}
__device__ __forceinline__ void cp_async_commit() { emu::cp_async_commit(); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  emu::cp_async_wait(N);
}
#else
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define SIMCLR_SM80 1
#endif
__device__ __forceinline__ void mma_bf16_16816(float d[4], const unsigned a[4], const unsigned b[2], const float c[4]) {
#ifdef SIMCLR_SM80
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%10,%11,%12,%13};\n"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
#else
  asm volatile("trap;");
#endif
}
__device__ __forceinline__ void mma_tf32_1688(float d[4], const unsigned a[4], const unsigned b[2], const float c[4]) {
#ifdef SIMCLR_SM80
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%10,%11,%12,%13};\n"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
#else
  asm volatile("trap;");
#endif
}
template <class T>
__device__ __forceinline__ unsigned smem_addr(T* s, int off) {
  return (unsigned)__cvta_generic_to_shared(s + off);
}
#ifdef SIMCLR_SM80
#define SIMCLR_LDSM(suffix, n, regs, ...)                                                                        \
  template <class T>                                                                                            \
  __device__ __forceinline__ void ldmatrix_##suffix(unsigned r[n], T* s, int off) {                            \
    asm volatile("ldmatrix.sync.aligned.m8n8." regs ".shared.b16 " __VA_ARGS__ : "r"(smem_addr(s, off)));      \
  }
#else
#define SIMCLR_LDSM(suffix, n, regs, ...)                                      \
  template <class T>                                                          \
  __device__ __forceinline__ void ldmatrix_##suffix(unsigned r[n], T*, int) { \
    asm volatile("trap;");                                                    \
  }
#endif
SIMCLR_LDSM(x1, 1, "x1", "{%0}, [%1];\n" : "=r"(r[0]))
SIMCLR_LDSM(x2, 2, "x2", "{%0,%1}, [%2];\n" : "=r"(r[0]), "=r"(r[1]))
SIMCLR_LDSM(x4, 4, "x4", "{%0,%1,%2,%3}, [%4];\n" : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]))
SIMCLR_LDSM(x1_trans, 1, "x1.trans", "{%0}, [%1];\n" : "=r"(r[0]))
SIMCLR_LDSM(x2_trans, 2, "x2.trans", "{%0,%1}, [%2];\n" : "=r"(r[0]), "=r"(r[1]))
SIMCLR_LDSM(x4_trans, 4, "x4.trans", "{%0,%1,%2,%3}, [%4];\n" : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]))
#undef SIMCLR_LDSM
template <int Bytes, class T>
__device__ __forceinline__ void cp_async_ca(T* s, int off, const void* src, int srcBytes) {
  static_assert(Bytes == 4 || Bytes == 8 || Bytes == 16, "cp.async.ca copies 4, 8 or 16 bytes");
#ifdef SIMCLR_SM80
  asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(smem_addr(s, off)), "l"(src), "n"(Bytes),
               "r"(srcBytes));
#else
  asm volatile("trap;");
#endif
}
template <class T>
__device__ __forceinline__ void cp_async_cg16(T* s, int off, const void* src, int srcBytes) {
#ifdef SIMCLR_SM80
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(s, off)), "l"(src), "r"(srcBytes));
#else
  asm volatile("trap;");
#endif
}
__device__ __forceinline__ void cp_async_commit() {
#ifdef SIMCLR_SM80
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#ifdef SIMCLR_SM80
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}
#undef SIMCLR_SM80
#endif

// pack_bf16 packs two floats (rounded to bf16) into one 32-bit fragment
// register, lo in the low half.
__device__ __forceinline__ unsigned pack_bf16(float lo, float hi) {
  return (unsigned)f32_to_bf16(lo) | (unsigned)f32_to_bf16(hi) << 16;
}

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
