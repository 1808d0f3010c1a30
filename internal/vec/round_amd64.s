//go:build !noasm

#include "textflag.h"

// BCAST32(val, x, y) broadcasts the 32-bit constant val into y.
#define BCAST32(val, x, y) \
	MOVL val, AX; \
	VMOVD AX, x; \
	VPBROADCASTD x, y

// func roundBF16AVX2(dst, src *float32, n int)
// Per lane u: nan = (u & 0x7fffffff) > 0x7f800000;
// out = ((u + andnot(nan, 0x7fff + (u>>16)&1)) | (nan & 0x400000)) & 0xffff0000.
TEXT ·roundBF16AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	BCAST32($0x7fffffff, X15, Y15) // abs mask
	BCAST32($0x7f800000, X14, Y14) // +Inf
	BCAST32($0x00007fff, X13, Y13) // half ulp - 1
	BCAST32($0x00000001, X12, Y12) // 1
	BCAST32($0x00400000, X11, Y11) // quiet bit
	BCAST32($0xffff0000, X10, Y10) // bf16 mask
	SHRQ $3, CX
bfloop:
	VMOVDQU (SI), Y0
	VPAND   Y15, Y0, Y1   // |u|
	VPCMPGTD Y14, Y1, Y1  // nan
	VPSRLD  $16, Y0, Y2
	VPAND   Y12, Y2, Y2   // (u>>16)&1
	VPADDD  Y13, Y2, Y2   // 0x7fff + lsb
	VPANDN  Y2, Y1, Y2    // nan ? 0 : bias
	VPADDD  Y2, Y0, Y0
	VPAND   Y11, Y1, Y1   // nan ? quiet : 0
	VPOR    Y1, Y0, Y0
	VPAND   Y10, Y0, Y0
	VMOVDQU Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  bfloop
	VZEROUPPER
	RET

// func roundTF32AVX2(dst, src *float32, n int)
// Per lane u: nan = (u & 0x7fffffff) > 0x7f800000,
// special = (u & 0x7f800000) == 0x7f800000;
// out = ((u + andnot(special, 0x1000)) | (nan & 0x400000)) & 0xffffe000.
TEXT ·roundTF32AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	BCAST32($0x7fffffff, X15, Y15) // abs mask
	BCAST32($0x7f800000, X14, Y14) // exponent mask = +Inf
	BCAST32($0x00001000, X13, Y13) // half ulp
	BCAST32($0x00400000, X11, Y11) // quiet bit
	BCAST32($0xffffe000, X10, Y10) // tf32 mask
	SHRQ $3, CX
tfloop:
	VMOVDQU (SI), Y0
	VPAND   Y15, Y0, Y1   // |u|
	VPCMPGTD Y14, Y1, Y1  // nan
	VPAND   Y14, Y0, Y2
	VPCMPEQD Y14, Y2, Y2  // Inf or NaN
	VPANDN  Y13, Y2, Y2   // special ? 0 : 0x1000
	VPADDD  Y2, Y0, Y0
	VPAND   Y11, Y1, Y1
	VPOR    Y1, Y0, Y0
	VPAND   Y10, Y0, Y0
	VMOVDQU Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  tfloop
	VZEROUPPER
	RET
