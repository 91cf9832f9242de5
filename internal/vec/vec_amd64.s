//go:build !purego

#include "textflag.h"

// func addAVX(y, x []float32): y += x, len(y) a multiple of 8.
TEXT ·addAVX(SB), NOSPLIT, $0-48
	MOVQ y_base+0(FP), DI
	MOVQ y_len+8(FP), CX
	MOVQ x_base+24(FP), SI
	SHRQ $3, CX
	TESTQ CX, CX
	JEQ adddone

addloop:
	VMOVUPS (DI), Y0
	VADDPS (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JNZ addloop

adddone:
	VZEROUPPER
	RET

// func axpyAVX(y []float32, a float32, x []float32): y += a·x (VMULPS
// then VADDPS), len(y) a multiple of 8.
TEXT ·axpyAVX(SB), NOSPLIT, $0-56
	MOVQ y_base+0(FP), DI
	MOVQ y_len+8(FP), CX
	VBROADCASTSS a+24(FP), Y1
	MOVQ x_base+32(FP), SI
	SHRQ $3, CX
	TESTQ CX, CX
	JEQ axpydone

axpyloop:
	VMULPS (SI), Y1, Y2
	VADDPS (DI), Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JNZ axpyloop

axpydone:
	VZEROUPPER
	RET
