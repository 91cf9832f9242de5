//go:build !purego

#include "textflag.h"

// func AdamRowAVX(p, m, v, g []float32, c *AdamConsts)
//
// c holds b1, 1−b1, b2, 1−b2, step, eps (float32 each). For each block of 8:
//   m = b1·m + (1−b1)·g
//   v = b2·v + ((1−b2)·g)·g
//   p = p − (step·m) / (sqrt(v) + eps)
// one float32 operation per instruction, in consumer/optim's adamRowGo's
// order.
TEXT ·AdamRowAVX(SB), NOSPLIT, $0-104
	MOVQ p_base+0(FP), DI
	MOVQ p_len+8(FP), CX
	MOVQ m_base+24(FP), SI
	MOVQ v_base+48(FP), DX
	MOVQ g_base+72(FP), BX
	MOVQ c+96(FP), AX
	SHRQ $3, CX
	VBROADCASTSS 0(AX), Y0     // b1
	VBROADCASTSS 4(AX), Y1     // 1−b1
	VBROADCASTSS 8(AX), Y2     // b2
	VBROADCASTSS 12(AX), Y3    // 1−b2
	VBROADCASTSS 16(AX), Y4    // step
	VBROADCASTSS 20(AX), Y5    // eps
	TESTQ CX, CX
	JEQ done

loop:
	VMOVUPS (BX), Y6           // g
	VMULPS (SI), Y0, Y7        // b1·m
	VMULPS Y6, Y1, Y8          // (1−b1)·g
	VADDPS Y8, Y7, Y7          // m'
	VMOVUPS Y7, (SI)
	VMULPS (DX), Y2, Y9        // b2·v
	VMULPS Y6, Y3, Y10         // (1−b2)·g
	VMULPS Y6, Y10, Y10        // ((1−b2)·g)·g
	VADDPS Y10, Y9, Y9         // v'
	VMOVUPS Y9, (DX)
	VSQRTPS Y9, Y9             // sqrt(v')
	VADDPS Y5, Y9, Y9          // + eps
	VMULPS Y7, Y4, Y7          // step·m'
	VDIVPS Y9, Y7, Y7          // (step·m') / (sqrt(v')+eps)
	VMOVUPS (DI), Y8
	VSUBPS Y7, Y8, Y8          // p − …
	VMOVUPS Y8, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, BX
	DECQ CX
	JNZ loop

done:
	VZEROUPPER
	RET

// func PrefetchRow(p *float32, n int)
//
// Prefetches the n floats from p (one PREFETCHT0 per 64-byte line).
TEXT ·PrefetchRow(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	SHLQ $2, CX
	ADDQ SI, CX

ploop:
	CMPQ SI, CX
	JGE pdone
	PREFETCHT0 (SI)
	ADDQ $64, SI
	JMP ploop

pdone:
	RET
