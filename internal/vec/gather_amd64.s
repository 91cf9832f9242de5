//go:build !purego

#include "textflag.h"

// func Gather64(o *float32, src *float32, stride int, cols []int32, ws []float32)
//
// o[0:64] = Σ_k ws[k] · src[cols[k]*stride/4 : +64], eight YMM accumulators
// of 8 lanes, one broadcast weight per edge. VMULPS then VADDPS (no FMA), so
// every lane rounds exactly as the scalar `a += w*x` does: the result is
// bit-identical to the plain Go loop (consumer/propagation's gatherRow).
TEXT ·Gather64(SB), NOSPLIT, $0-72
	MOVQ o+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ stride+16(FP), DX
	MOVQ cols_base+24(FP), R8
	MOVQ cols_len+32(FP), CX
	MOVQ ws_base+48(FP), R9
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	TESTQ CX, CX
	JEQ done

loop:
	MOVLQSX (R8), AX
	IMULQ DX, AX
	ADDQ SI, AX
	VBROADCASTSS (R9), Y8
	VMULPS 0(AX), Y8, Y9
	VMULPS 32(AX), Y8, Y10
	VMULPS 64(AX), Y8, Y11
	VMULPS 96(AX), Y8, Y12
	VADDPS Y9, Y0, Y0
	VADDPS Y10, Y1, Y1
	VADDPS Y11, Y2, Y2
	VADDPS Y12, Y3, Y3
	VMULPS 128(AX), Y8, Y13
	VMULPS 160(AX), Y8, Y14
	VMULPS 192(AX), Y8, Y15
	VMULPS 224(AX), Y8, Y9
	VADDPS Y13, Y4, Y4
	VADDPS Y14, Y5, Y5
	VADDPS Y15, Y6, Y6
	VADDPS Y9, Y7, Y7
	ADDQ $4, R8
	ADDQ $4, R9
	DECQ CX
	JNZ loop

done:
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VMOVUPS Y4, 128(DI)
	VMOVUPS Y5, 160(DI)
	VMOVUPS Y6, 192(DI)
	VMOVUPS Y7, 224(DI)
	VZEROUPPER
	RET
