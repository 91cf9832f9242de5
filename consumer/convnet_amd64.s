//go:build !purego

#include "textflag.h"

// func reluGradColSumAVX2(dst, gm, y *float32, rows, w int)
//
// Strips of 32 columns; per strip four YMM column sums start at +0 and
// take the masked gradient rows in row order.
TEXT ·reluGradColSumAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ gm+8(FP), SI
	MOVQ y+16(FP), DX
	MOVQ rows+24(FP), CX
	MOVQ w+32(FP), R9
	SHLQ $2, R9                // row stride in bytes
	XORQ R10, R10              // strip offset in bytes

strip:
	CMPQ R10, R9
	JGE done
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	LEAQ (SI)(R10*1), R11
	LEAQ (DX)(R10*1), R12
	MOVQ CX, R13
	TESTQ R13, R13
	JEQ store

row:
	VMOVUPS 0(R12), Y4
	VMOVUPS 32(R12), Y5
	VMOVUPS 64(R12), Y6
	VMOVUPS 96(R12), Y7
	VPSRAD $31, Y4, Y4         // all ones where y is negative
	VPSRAD $31, Y5, Y5
	VPSRAD $31, Y6, Y6
	VPSRAD $31, Y7, Y7
	VANDNPS 0(R11), Y4, Y4     // g &^ mask
	VANDNPS 32(R11), Y5, Y5
	VANDNPS 64(R11), Y6, Y6
	VANDNPS 96(R11), Y7, Y7
	VMOVUPS Y4, 0(R11)
	VMOVUPS Y5, 32(R11)
	VMOVUPS Y6, 64(R11)
	VMOVUPS Y7, 96(R11)
	VADDPS Y4, Y0, Y0
	VADDPS Y5, Y1, Y1
	VADDPS Y6, Y2, Y2
	VADDPS Y7, Y3, Y3
	ADDQ R9, R11
	ADDQ R9, R12
	DECQ R13
	JNZ row

store:
	VMOVUPS Y0, 0(DI)(R10*1)
	VMOVUPS Y1, 32(DI)(R10*1)
	VMOVUPS Y2, 64(DI)(R10*1)
	VMOVUPS Y3, 96(DI)(R10*1)
	ADDQ $128, R10
	JMP strip

done:
	VZEROUPPER
	RET

// func addBiasAVX2(x, b *float32, rows, w int, act bool)
TEXT ·addBiasAVX2(SB), NOSPLIT, $0-33
	MOVQ x+0(FP), DI
	MOVQ b+8(FP), SI
	MOVQ rows+16(FP), CX
	MOVQ w+24(FP), R9
	MOVBLZX act+32(FP), R8
	SHRQ $3, R9                // 8-lane groups per row
	VPCMPEQD Y15, Y15, Y15
	VPSRLD $1, Y15, Y15        // 0x7fffffff
	TESTQ CX, CX
	JEQ bdone
	TESTQ R9, R9
	JEQ bdone

brow:
	MOVQ SI, R11
	MOVQ R9, R12

bcol:
	VMOVUPS (DI), Y0
	VADDPS (R11), Y0, Y0
	TESTQ R8, R8
	JEQ bstore
	VPSRAD $31, Y0, Y1
	VANDPS Y15, Y1, Y1         // 0x7fffffff where negative
	VANDNPS Y0, Y1, Y0         // keep only the sign there: -0

bstore:
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, R11
	DECQ R12
	JNZ bcol
	DECQ CX
	JNZ brow

bdone:
	VZEROUPPER
	RET
