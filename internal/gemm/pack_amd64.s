//go:build !noasm

#include "textflag.h"

// func packBRowsAVX(dst, src *float32, kc, panels, ldb int)
//
// Copies kc rows of panels·16 floats (row stride ldb floats) into panels
// micro-panels of kc×16 floats: row p, panel s goes to dst[s*kc*16 + p*16].
// Rows eight ahead are prefetched, since consecutive rows of a wide B are
// far apart in memory and the hardware prefetcher sees only short runs.
TEXT ·packBRowsAVX(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ kc+16(FP), CX
	MOVQ panels+24(FP), R8
	MOVQ ldb+32(FP), DX
	SHLQ $2, DX             // source row stride in bytes
	MOVQ CX, R9
	SHLQ $6, R9             // destination panel stride: kc*16*4 bytes
	MOVQ DX, R11
	SHLQ $3, R11            // prefetch distance: 8 rows

rowloop:
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ R8, R10

panelloop:
	PREFETCHT0 (AX)(R11*1)
	VMOVUPS (AX), Y0
	VMOVUPS 32(AX), Y1
	VMOVUPS Y0, (BX)
	VMOVUPS Y1, 32(BX)
	ADDQ $64, AX
	ADDQ R9, BX
	DECQ R10
	JNZ  panelloop

	ADDQ DX, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  rowloop
	VZEROUPPER
	RET
