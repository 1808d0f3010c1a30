//go:build !noasm

#include "textflag.h"
#include "kernel_amd64.h"

// Register-blocked 6x16 micro-kernel for AVX2 + FMA3.
//
// Accumulators: Y0..Y11 hold the 6x16 tile, two YMM registers (16 floats) per
// row: row r lives in Y(2r) (columns 0..7) and Y(2r+1) (columns 8..15).
// Y12, Y13 hold the current row of the packed B micro-panel, Y14/Y15 the
// broadcast element of the packed A micro-panel.
//
// Packed A: kc groups of 6 floats (one per row), packed B: kc groups of 16.

// STEP(p) performs the rank-1 update for k-step p (relative to AX/BX).
#define STEP(p) \
	VMOVUPS (p*64)(BX), Y12; \
	VMOVUPS (p*64+32)(BX), Y13; \
	VBROADCASTSS (p*24)(AX), Y14; \
	VFMADD231PS Y12, Y14, Y0; \
	VFMADD231PS Y13, Y14, Y1; \
	VBROADCASTSS (p*24+4)(AX), Y15; \
	VFMADD231PS Y12, Y15, Y2; \
	VFMADD231PS Y13, Y15, Y3; \
	VBROADCASTSS (p*24+8)(AX), Y14; \
	VFMADD231PS Y12, Y14, Y4; \
	VFMADD231PS Y13, Y14, Y5; \
	VBROADCASTSS (p*24+12)(AX), Y15; \
	VFMADD231PS Y12, Y15, Y6; \
	VFMADD231PS Y13, Y15, Y7; \
	VBROADCASTSS (p*24+16)(AX), Y14; \
	VFMADD231PS Y12, Y14, Y8; \
	VFMADD231PS Y13, Y14, Y9; \
	VBROADCASTSS (p*24+20)(AX), Y15; \
	VFMADD231PS Y12, Y15, Y10; \
	VFMADD231PS Y13, Y15, Y11

// func kernelFMA6x16(kc int, a, b, c *float32, ldc int, alpha, beta float32)
//
// C[0:6, 0:16] (row stride ldc) = alpha * A·B + beta * C, where A·B is summed
// over p = 0..kc-1 in increasing order. When beta == 0 (either sign) C is
// not read.
TEXT ·kernelFMA6x16(SB), NOSPLIT, $0-48
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ c+24(FP), DI
	MOVQ ldc+32(FP), DX
	SHLQ $2, DX

	// Warm the C rows; they are needed only after the k loop.
	MOVQ DI, R10
	PREFETCHT0 (R10)
	PREFETCHT0 63(R10)
	ADDQ DX, R10
	PREFETCHT0 (R10)
	PREFETCHT0 63(R10)
	ADDQ DX, R10
	PREFETCHT0 (R10)
	PREFETCHT0 63(R10)
	ADDQ DX, R10
	PREFETCHT0 (R10)
	PREFETCHT0 63(R10)
	ADDQ DX, R10
	PREFETCHT0 (R10)
	PREFETCHT0 63(R10)
	ADDQ DX, R10
	PREFETCHT0 (R10)
	PREFETCHT0 63(R10)

	ZERO_ACC

	MOVQ CX, R8
	SHRQ $2, R8
	JZ   tail

loop4:
	PREFETCHT0 512(BX)
	STEP(0)
	STEP(1)
	PREFETCHT0 576(BX)
	STEP(2)
	STEP(3)
	ADDQ $96, AX
	ADDQ $256, BX
	DECQ R8
	JNZ  loop4

tail:
	ANDQ $3, CX
	JZ   epilogue

loop1:
	STEP(0)
	ADDQ $24, AX
	ADDQ $64, BX
	DECQ CX
	JNZ  loop1

epilogue:
	VBROADCASTSS alpha+40(FP), Y14
	SCALE_ACC

	MOVQ DI, R10
	MOVL beta+44(FP), R9
	ANDL $0x7fffffff, R9
	JZ   overwrite

	VBROADCASTSS beta+44(FP), Y15
	UPDATE_ACC
	VZEROUPPER
	RET

overwrite:
	STORE_ACC
	VZEROUPPER
	RET
