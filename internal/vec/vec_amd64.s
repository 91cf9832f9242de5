//go:build !purego

#include "textflag.h"

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
