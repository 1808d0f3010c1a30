//go:build !noasm

#include "textflag.h"
#include "kernel_amd64.h"

// The 6x16 kernel with A read in place: row i of the 6-row A panel is
// a + 4*offs[i] bytes, read at consecutive k; B is a packed micro-panel.
// Arithmetic identical to packing the six rows and calling kernelFMA6x16.

// RSTEP(p) performs the rank-1 update for k-step p (relative to AX/BX).
#define RSTEP(p) \
	VMOVUPS (p*64)(BX), Y12; \
	VMOVUPS (p*64+32)(BX), Y13; \
	VBROADCASTSS (p*4)(SI)(AX*1), Y14; \
	VFMADD231PS Y12, Y14, Y0; \
	VFMADD231PS Y13, Y14, Y1; \
	VBROADCASTSS (p*4)(R8)(AX*1), Y15; \
	VFMADD231PS Y12, Y15, Y2; \
	VFMADD231PS Y13, Y15, Y3; \
	VBROADCASTSS (p*4)(R9)(AX*1), Y14; \
	VFMADD231PS Y12, Y14, Y4; \
	VFMADD231PS Y13, Y14, Y5; \
	VBROADCASTSS (p*4)(R10)(AX*1), Y15; \
	VFMADD231PS Y12, Y15, Y6; \
	VFMADD231PS Y13, Y15, Y7; \
	VBROADCASTSS (p*4)(R11)(AX*1), Y14; \
	VFMADD231PS Y12, Y14, Y8; \
	VFMADD231PS Y13, Y14, Y9; \
	VBROADCASTSS (p*4)(R12)(AX*1), Y15; \
	VFMADD231PS Y12, Y15, Y10; \
	VFMADD231PS Y13, Y15, Y11

// func kernelFMA6x16RowsA(kc int, a *float32, offs *int, b, c *float32, ldc int, alpha, beta float32)
TEXT ·kernelFMA6x16RowsA(SB), NOSPLIT, $0-56
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ offs+16(FP), R13
	MOVQ 0(R13), SI
	LEAQ (AX)(SI*4), SI
	MOVQ 8(R13), R8
	LEAQ (AX)(R8*4), R8
	MOVQ 16(R13), R9
	LEAQ (AX)(R9*4), R9
	MOVQ 24(R13), R10
	LEAQ (AX)(R10*4), R10
	MOVQ 32(R13), R11
	LEAQ (AX)(R11*4), R11
	MOVQ 40(R13), R12
	LEAQ (AX)(R12*4), R12
	XORQ AX, AX
	MOVQ b+24(FP), BX
	MOVQ c+32(FP), DI
	MOVQ ldc+40(FP), DX
	SHLQ $2, DX

	ZERO_ACC

	MOVQ CX, R13
	SHRQ $2, R13
	JZ   rtail

rloop4:
	RSTEP(0)
	RSTEP(1)
	RSTEP(2)
	RSTEP(3)
	ADDQ $16, AX
	ADDQ $256, BX
	DECQ R13
	JNZ  rloop4

rtail:
	ANDQ $3, CX
	JZ   repilogue

rloop1:
	RSTEP(0)
	ADDQ $4, AX
	ADDQ $64, BX
	DECQ CX
	JNZ  rloop1

repilogue:
	VBROADCASTSS alpha+48(FP), Y14
	SCALE_ACC

	MOVQ DI, R10
	MOVL beta+52(FP), R9
	ANDL $0x7fffffff, R9
	JZ   roverwrite

	VBROADCASTSS beta+52(FP), Y15
	UPDATE_ACC
	VZEROUPPER
	RET

roverwrite:
	STORE_ACC
	VZEROUPPER
	RET

// The 6x16 kernel with A given by column offsets: element (i, p) of the
// 6-row A panel is a[off[p] + i], so the six values of one k-step are
// consecutive floats at a + 4*off[p]; B is a packed micro-panel.
// Arithmetic identical to packing the A panel and calling kernelFMA6x16.

// CSTEP(p) performs the rank-1 update for k-step p (relative to SI/BX).
#define CSTEP(p) \
	MOVQ (p*8)(SI), R12; \
	LEAQ (AX)(R12*4), R13; \
	VMOVUPS (p*64)(BX), Y12; \
	VMOVUPS (p*64+32)(BX), Y13; \
	VBROADCASTSS 0(R13), Y14; \
	VFMADD231PS Y12, Y14, Y0; \
	VFMADD231PS Y13, Y14, Y1; \
	VBROADCASTSS 4(R13), Y15; \
	VFMADD231PS Y12, Y15, Y2; \
	VFMADD231PS Y13, Y15, Y3; \
	VBROADCASTSS 8(R13), Y14; \
	VFMADD231PS Y12, Y14, Y4; \
	VFMADD231PS Y13, Y14, Y5; \
	VBROADCASTSS 12(R13), Y15; \
	VFMADD231PS Y12, Y15, Y6; \
	VFMADD231PS Y13, Y15, Y7; \
	VBROADCASTSS 16(R13), Y14; \
	VFMADD231PS Y12, Y14, Y8; \
	VFMADD231PS Y13, Y14, Y9; \
	VBROADCASTSS 20(R13), Y15; \
	VFMADD231PS Y12, Y15, Y10; \
	VFMADD231PS Y13, Y15, Y11

// func kernelFMA6x16ColsA(kc int, a *float32, off *int, b, c *float32, ldc int, alpha, beta float32)
TEXT ·kernelFMA6x16ColsA(SB), NOSPLIT, $0-56
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ off+16(FP), SI
	MOVQ b+24(FP), BX
	MOVQ c+32(FP), DI
	MOVQ ldc+40(FP), DX
	SHLQ $2, DX

	ZERO_ACC

	MOVQ CX, R8
	SHRQ $2, R8
	JZ   ctail

cloop4:
	CSTEP(0)
	CSTEP(1)
	CSTEP(2)
	CSTEP(3)
	ADDQ $32, SI
	ADDQ $256, BX
	DECQ R8
	JNZ  cloop4

ctail:
	ANDQ $3, CX
	JZ   cepilogue

cloop1:
	CSTEP(0)
	ADDQ $8, SI
	ADDQ $64, BX
	DECQ CX
	JNZ  cloop1

cepilogue:
	VBROADCASTSS alpha+48(FP), Y14
	SCALE_ACC

	MOVQ DI, R10
	MOVL beta+52(FP), R9
	ANDL $0x7fffffff, R9
	JZ   coverwrite

	VBROADCASTSS beta+52(FP), Y15
	UPDATE_ACC
	VZEROUPPER
	RET

coverwrite:
	STORE_ACC
	VZEROUPPER
	RET
