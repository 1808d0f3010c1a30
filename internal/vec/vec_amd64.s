//go:build !noasm

#include "textflag.h"

// Horizontal sum of the 8 lanes held by Y(lo) (elements j) and Y(hi)
// (elements j+4): t = lo + hi, then (t0 + t1) + (t2 + t3) into X(lo).
#define HSUM(lo, hi, xlo, xhi) \
	VADDPD hi, lo, lo; \
	VEXTRACTF128 $1, lo, xhi; \
	VHADDPD xlo, xlo, xlo; \
	VHADDPD xhi, xhi, xhi; \
	VADDSD xhi, xlo, xlo

// HSUM_ACC reduces the two 8-lane float64 accumulators (Y0,Y1) and (Y2,Y3)
// into X0 and X2.
#define HSUM_ACC \
	HSUM(Y0, Y1, X0, X1); \
	HSUM(Y2, Y3, X2, X3)

// ZERO_ACC clears the accumulators Y0..Y3.
#define ZERO_ACC \
	VXORPD Y0, Y0, Y0; \
	VXORPD Y1, Y1, Y1; \
	VXORPD Y2, Y2, Y2; \
	VXORPD Y3, Y3, Y3

// BCASTD(val, x, y) broadcasts the 32-bit constant val into y (through AX
// and x; VEX-encoded: a legacy-SSE MOVD with dirty upper YMM state costs
// ~100 ns).
#define BCASTD(val, x, y) \
	MOVL val, AX; \
	VMOVD AX, x; \
	VPBROADCASTD x, y

// DOTDEV_ACC adds the 8 float64 gradients in (Y4, Y5) to (Y0, Y1) and
// g*(x-mean) to (Y2, Y3), x being 8 floats at SI and mean in Y15.
#define DOTDEV_ACC \
	VCVTPS2PD (SI), Y6; \
	VCVTPS2PD 16(SI), Y7; \
	VADDPD Y4, Y0, Y0; \
	VADDPD Y5, Y1, Y1; \
	VSUBPD Y15, Y6, Y6; \
	VSUBPD Y15, Y7, Y7; \
	VMULPD Y6, Y4, Y6; \
	VMULPD Y7, Y5, Y7; \
	VADDPD Y6, Y2, Y2; \
	VADDPD Y7, Y3, Y3

// BNDX stores k*((g-a) - (x-mean)*bcoef) at DI for x in Y0 and g in Y1
// (k, a, mean, bcoef in Y12..Y15).
#define BNDX \
	VSUBPS Y14, Y0, Y0; \
	VMULPS Y15, Y0, Y0; \
	VSUBPS Y13, Y1, Y1; \
	VSUBPS Y0, Y1, Y1; \
	VMULPS Y12, Y1, Y1; \
	VMOVUPS Y1, (DI)

// AFFINE maps Y0 to (Y0-mean)*scale + shift (mean, scale, shift in
// Y13..Y15).
#define AFFINE \
	VSUBPS Y13, Y0, Y0; \
	VMULPS Y14, Y0, Y0; \
	VADDPS Y15, Y0, Y0

// RELU(v, m1, limit, t1, t2) sets the lanes of v that are negative and not
// NaN to +0: drop where int32(b-1) < int32(0xff800000) (m1 = -1 in every
// lane, limit = 0xff800000), which holds exactly for 0x80000001 <= b <=
// 0xff800000.
#define RELU(v, m1, limit, t1, t2) \
	VPADDD m1, v, t1; \
	VPCMPGTD t1, limit, t2; \
	VPANDN v, t2, v

// func sumSqShiftAVX2(v *float32, n int, shift float64) (s, sq float64)
TEXT ·sumSqShiftAVX2(SB), NOSPLIT, $0-40
	MOVQ v+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSD shift+16(FP), Y15
	ZERO_ACC
	SHRQ $3, CX
sqloop:
	VCVTPS2PD (SI), Y4
	VCVTPS2PD 16(SI), Y5
	VSUBPD Y15, Y4, Y4
	VSUBPD Y15, Y5, Y5
	VADDPD Y4, Y0, Y0
	VADDPD Y5, Y1, Y1
	VMULPD Y4, Y4, Y6
	VMULPD Y5, Y5, Y7
	VADDPD Y6, Y2, Y2
	VADDPD Y7, Y3, Y3
	ADDQ $32, SI
	DECQ CX
	JNZ  sqloop
	HSUM_ACC
	VMOVSD X0, s+24(FP)
	VMOVSD X2, sq+32(FP)
	VZEROUPPER
	RET

// func sumDotDevAVX2(x, gr *float32, n int, mean float64) (sg, sgx float64)
TEXT ·sumDotDevAVX2(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), SI
	MOVQ gr+8(FP), DI
	MOVQ n+16(FP), CX
	VBROADCASTSD mean+24(FP), Y15
	ZERO_ACC
	SHRQ $3, CX
ddloop:
	VCVTPS2PD (DI), Y4
	VCVTPS2PD 16(DI), Y5
	DOTDEV_ACC
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  ddloop
	HSUM_ACC
	VMOVSD X0, sg+32(FP)
	VMOVSD X2, sgx+40(FP)
	VZEROUPPER
	RET

// func affineAVX2(dst, src *float32, n int, mean, scale, shift float32)
TEXT ·affineAVX2(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS mean+24(FP), Y13
	VBROADCASTSS scale+28(FP), Y14
	VBROADCASTSS shift+32(FP), Y15
	SHRQ $3, CX
afloop:
	VMOVUPS (SI), Y0
	AFFINE
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  afloop
	VZEROUPPER
	RET

// func batchNormDxAVX2(dx, x, dy *float32, n int, k, a, mean, bcoef float32)
TEXT ·batchNormDxAVX2(SB), NOSPLIT, $0-48
	MOVQ dx+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ dy+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS k+32(FP), Y12
	VBROADCASTSS a+36(FP), Y13
	VBROADCASTSS mean+40(FP), Y14
	VBROADCASTSS bcoef+44(FP), Y15
	SHRQ $3, CX
dxloop:
	VMOVUPS (SI), Y0
	VMOVUPS (DX), Y1
	BNDX
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	DECQ CX
	JNZ  dxloop
	VZEROUPPER
	RET

// TRANSPOSE8 loads the 8×8 block at SI (row stride CX bytes) and leaves
// its transpose in Y9, Y10, Y11, Y12, Y13, Y14, Y0, Y1 (rows 0..7).
#define TRANSPOSE8 \
	VMOVUPS (SI), Y0; \
	ADDQ CX, SI; \
	VMOVUPS (SI), Y1; \
	ADDQ CX, SI; \
	VMOVUPS (SI), Y2; \
	ADDQ CX, SI; \
	VMOVUPS (SI), Y3; \
	ADDQ CX, SI; \
	VMOVUPS (SI), Y4; \
	ADDQ CX, SI; \
	VMOVUPS (SI), Y5; \
	ADDQ CX, SI; \
	VMOVUPS (SI), Y6; \
	ADDQ CX, SI; \
	VMOVUPS (SI), Y7; \
	VUNPCKLPS Y1, Y0, Y8; \
	VUNPCKHPS Y1, Y0, Y9; \
	VUNPCKLPS Y3, Y2, Y10; \
	VUNPCKHPS Y3, Y2, Y11; \
	VUNPCKLPS Y5, Y4, Y12; \
	VUNPCKHPS Y5, Y4, Y13; \
	VUNPCKLPS Y7, Y6, Y14; \
	VUNPCKHPS Y7, Y6, Y0; \
	VSHUFPS $0x44, Y10, Y8, Y1; \
	VSHUFPS $0xEE, Y10, Y8, Y2; \
	VSHUFPS $0x44, Y11, Y9, Y3; \
	VSHUFPS $0xEE, Y11, Y9, Y4; \
	VSHUFPS $0x44, Y14, Y12, Y5; \
	VSHUFPS $0xEE, Y14, Y12, Y6; \
	VSHUFPS $0x44, Y0, Y13, Y7; \
	VSHUFPS $0xEE, Y0, Y13, Y8; \
	VPERM2F128 $0x20, Y5, Y1, Y9; \
	VPERM2F128 $0x20, Y6, Y2, Y10; \
	VPERM2F128 $0x20, Y7, Y3, Y11; \
	VPERM2F128 $0x20, Y8, Y4, Y12; \
	VPERM2F128 $0x31, Y5, Y1, Y13; \
	VPERM2F128 $0x31, Y6, Y2, Y14; \
	VPERM2F128 $0x31, Y7, Y3, Y0; \
	VPERM2F128 $0x31, Y8, Y4, Y1

#define STROW(r) \
	VMOVUPS r, (DI); \
	ADDQ DX, DI

#define MSTROW(r) \
	VMASKMOVPS r, Y15, (DI); \
	ADDQ DX, DI

// func transpose8x8AVX2(dst *float32, ldd int, src *float32, lds int)
TEXT ·transpose8x8AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), DX
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), CX
	SHLQ $2, DX
	SHLQ $2, CX
	TRANSPOSE8
	STROW(Y9)
	STROW(Y10)
	STROW(Y11)
	STROW(Y12)
	STROW(Y13)
	STROW(Y14)
	STROW(Y0)
	VMOVUPS Y1, (DI)
	VZEROUPPER
	RET

// func transpose8x8MaskAVX2(dst *float32, ldd int, src *float32, lds int, mask *[8]int32)
// stores only the lanes enabled in mask (a last block of fewer rows).
TEXT ·transpose8x8MaskAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), DX
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), CX
	MOVQ mask+32(FP), AX
	SHLQ $2, DX
	SHLQ $2, CX
	VMOVDQU (AX), Y15
	TRANSPOSE8
	MSTROW(Y9)
	MSTROW(Y10)
	MSTROW(Y11)
	MSTROW(Y12)
	MSTROW(Y13)
	MSTROW(Y14)
	MSTROW(Y0)
	VMASKMOVPS Y1, Y15, (DI)
	VZEROUPPER
	RET

// ReLU on the float bits (see RELU).
// func reluAVX2(dst, src *float32, n int)
TEXT ·reluAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	VPCMPEQD Y15, Y15, Y15          // all ones = -1
	BCASTD($0xff800000, X14, Y14) // limit
rluloop:
	VMOVDQU (SI), Y0
	RELU(Y0, Y15, Y14, Y1, Y2)
	VMOVDQU Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  rluloop
	VZEROUPPER
	RET

// ReLU backward: keep dy where int32(y+0x7fffffff) < int32(0xff800000), i.e.
// 1 <= y <= 0x7f800000 as unsigned bits (y > 0, not NaN).
// func reluBackwardAVX2(dx, y, dy *float32, n int)
TEXT ·reluBackwardAVX2(SB), NOSPLIT, $0-32
	MOVQ dx+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ dy+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $3, CX
	BCASTD($0x7fffffff, X15, Y15)
	BCASTD($0xff800000, X14, Y14)
rlbloop:
	VMOVDQU (SI), Y0
	VPADDD Y15, Y0, Y0
	VPCMPGTD Y0, Y14, Y0            // keep mask
	VPAND (DX), Y0, Y0
	VMOVDQU Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	DECQ CX
	JNZ  rlbloop
	VZEROUPPER
	RET

// func addAVX2(dst, a, b *float32, n int)
TEXT ·addAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $3, CX
addloop:
	VMOVUPS (SI), Y0
	VADDPS (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	DECQ CX
	JNZ  addloop
	VZEROUPPER
	RET

// func copyRowsAVX2(dst *float32, ldd int, src *float32, lds, rows, cols int)
TEXT ·copyRowsAVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), DX
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), CX
	MOVQ rows+32(FP), R8
	MOVQ cols+40(FP), R9
	SHLQ $2, DX
	SHLQ $2, CX
	SHLQ $2, R9                 // row length in bytes
	LEAQ -32(R9), R10           // offset of the last 8 floats
crrow:
	XORQ AX, AX
crcol:
	CMPQ AX, R10
	JGE  crlast
	VMOVUPS (SI)(AX*1), Y0
	VMOVUPS Y0, (DI)(AX*1)
	ADDQ $32, AX
	JMP  crcol
crlast:
	VMOVUPS (SI)(R10*1), Y0
	VMOVUPS Y0, (DI)(R10*1)
	ADDQ CX, SI
	ADDQ DX, DI
	DECQ R8
	JNZ  crrow
	VZEROUPPER
	RET

// func copyRowsShortAVX(dst *float32, ldd int, src *float32, lds, rows, cols int)
// Rows of 4 <= cols < 8 floats: the first 4 and the last 4 floats of each
// row (overlapping when cols < 8), VEX-encoded 128-bit moves.
TEXT ·copyRowsShortAVX(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), DX
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), CX
	MOVQ rows+32(FP), R8
	MOVQ cols+40(FP), R9
	SHLQ $2, DX
	SHLQ $2, CX
	SHLQ $2, R9
	LEAQ -16(R9), R10           // offset of the last 4 floats
csrow:
	VMOVUPS (SI), X0
	VMOVUPS (SI)(R10*1), X1
	VMOVUPS X0, (DI)
	VMOVUPS X1, (DI)(R10*1)
	ADDQ CX, SI
	ADDQ DX, DI
	DECQ R8
	JNZ  csrow
	RET

// func affineReLUAVX2(dst, src *float32, n int, mean, scale, shift float32)
// affineAVX2 then the ReLU of reluAVX2 on the result.
TEXT ·affineReLUAVX2(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS mean+24(FP), Y13
	VBROADCASTSS scale+28(FP), Y14
	VBROADCASTSS shift+32(FP), Y15
	VPCMPEQD Y12, Y12, Y12          // -1
	BCASTD($0xff800000, X11, Y11) // ReLU limit
	SHRQ $3, CX
arloop:
	VMOVUPS (SI), Y0
	AFFINE
	RELU(Y0, Y12, Y11, Y1, Y2)
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  arloop
	VZEROUPPER
	RET

// MASKG(gsrc, ysrc, dst): dst = 8 floats of g kept where y > 0 (see
// reluBackwardAVX2); uses Y9 as scratch, Y10 = 0x7fffffff, Y11 = limit.
#define MASKG(gsrc, ysrc, dst) \
	VMOVDQU ysrc, Y9; \
	VPADDD Y10, Y9, Y9; \
	VPCMPGTD Y9, Y11, Y9; \
	VPAND gsrc, Y9, dst

// func sumDotDevMaskedAVX2(x, gr, y *float32, n int, mean float64) (sg, sgx float64)
TEXT ·sumDotDevMaskedAVX2(SB), NOSPLIT, $0-56
	MOVQ x+0(FP), SI
	MOVQ gr+8(FP), DI
	MOVQ y+16(FP), BX
	MOVQ n+24(FP), CX
	VBROADCASTSD mean+32(FP), Y15
	BCASTD($0x7fffffff, X10, Y10)
	BCASTD($0xff800000, X11, Y11)
	ZERO_ACC
	SHRQ $3, CX
dmloop:
	MASKG((DI), (BX), Y8)
	VCVTPS2PD X8, Y4
	VEXTRACTF128 $1, Y8, X5
	VCVTPS2PD X5, Y5
	DOTDEV_ACC
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, BX
	DECQ CX
	JNZ  dmloop
	HSUM_ACC
	VMOVSD X0, sg+40(FP)
	VMOVSD X2, sgx+48(FP)
	VZEROUPPER
	RET

// func batchNormDxMaskedAVX2(dx, x, dy, y *float32, n int, k, a, mean, bcoef float32)
TEXT ·batchNormDxMaskedAVX2(SB), NOSPLIT, $0-56
	MOVQ dx+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ dy+16(FP), DX
	MOVQ y+24(FP), BX
	MOVQ n+32(FP), CX
	VBROADCASTSS k+40(FP), Y12
	VBROADCASTSS a+44(FP), Y13
	VBROADCASTSS mean+48(FP), Y14
	VBROADCASTSS bcoef+52(FP), Y15
	BCASTD($0x7fffffff, X10, Y10)
	BCASTD($0xff800000, X11, Y11)
	SHRQ $3, CX
dxmloop:
	VMOVUPS (SI), Y0
	MASKG((DX), (BX), Y1)
	BNDX
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, BX
	ADDQ $32, DI
	DECQ CX
	JNZ  dxmloop
	VZEROUPPER
	RET
