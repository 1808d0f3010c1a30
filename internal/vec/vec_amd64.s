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

// func sumSqShiftAVX2(v *float32, n int, shift float64) (s, sq float64)
TEXT ·sumSqShiftAVX2(SB), NOSPLIT, $0-40
	MOVQ v+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSD shift+16(FP), Y15
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
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
	HSUM(Y0, Y1, X0, X1)
	HSUM(Y2, Y3, X2, X3)
	MOVSD X0, s+24(FP)
	MOVSD X2, sq+32(FP)
	VZEROUPPER
	RET

// func sumDotDevAVX2(x, gr *float32, n int, mean float64) (sg, sgx float64)
TEXT ·sumDotDevAVX2(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), SI
	MOVQ gr+8(FP), DI
	MOVQ n+16(FP), CX
	VBROADCASTSD mean+24(FP), Y15
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	SHRQ $3, CX
ddloop:
	VCVTPS2PD (DI), Y4
	VCVTPS2PD 16(DI), Y5
	VCVTPS2PD (SI), Y6
	VCVTPS2PD 16(SI), Y7
	VADDPD Y4, Y0, Y0
	VADDPD Y5, Y1, Y1
	VSUBPD Y15, Y6, Y6
	VSUBPD Y15, Y7, Y7
	VMULPD Y6, Y4, Y6
	VMULPD Y7, Y5, Y7
	VADDPD Y6, Y2, Y2
	VADDPD Y7, Y3, Y3
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  ddloop
	HSUM(Y0, Y1, X0, X1)
	HSUM(Y2, Y3, X2, X3)
	MOVSD X0, sg+32(FP)
	MOVSD X2, sgx+40(FP)
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
	VSUBPS Y13, Y0, Y0
	VMULPS Y14, Y0, Y0
	VADDPS Y15, Y0, Y0
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
	VSUBPS Y14, Y0, Y0
	VMULPS Y15, Y0, Y0
	VSUBPS Y13, Y1, Y1
	VSUBPS Y0, Y1, Y1
	VMULPS Y12, Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	DECQ CX
	JNZ  dxloop
	VZEROUPPER
	RET
