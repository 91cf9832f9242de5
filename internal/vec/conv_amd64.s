//go:build !purego

#include "textflag.h"

// func ReluGradColSumAVX2(dst, gm, y *float32, rows, w int, acc bool)
//
// Strips of 32 columns; per strip four YMM column sums start at +0 (or at
// dst with acc) and take the masked gradient rows in row order.
TEXT ·ReluGradColSumAVX2(SB), NOSPLIT, $0-41
	MOVQ dst+0(FP), DI
	MOVQ gm+8(FP), SI
	MOVQ y+16(FP), DX
	MOVQ rows+24(FP), CX
	MOVQ w+32(FP), R9
	MOVBLZX acc+40(FP), R8
	SHLQ $2, R9                // row stride in bytes
	XORQ R10, R10              // strip offset in bytes

strip:
	CMPQ R10, R9
	JGE done
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	TESTQ R8, R8
	JEQ fresh
	VMOVUPS 0(DI)(R10*1), Y0
	VMOVUPS 32(DI)(R10*1), Y1
	VMOVUPS 64(DI)(R10*1), Y2
	VMOVUPS 96(DI)(R10*1), Y3

fresh:
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

// func AddBiasAVX2(x, b *float32, rows, w int, act bool)
TEXT ·AddBiasAVX2(SB), NOSPLIT, $0-33
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

// func Gather128AVX512(o *float32, src *float32, stride int, cols []int32, ws []float32)
//
// o[0:128] = Σ_k ws[k] · src[cols[k]*stride/4 : +128]: Gather64's sums
// (VMULPS then VADDPS per lane, from +0, edges in order) over a whole
// 128-wide row at once, eight ZMM accumulators, so each source row is read
// in one pass.
TEXT ·Gather128AVX512(SB), NOSPLIT, $0-72
	MOVQ o+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ stride+16(FP), DX
	MOVQ cols_base+24(FP), R8
	MOVQ cols_len+32(FP), CX
	MOVQ ws_base+48(FP), R9
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	TESTQ CX, CX
	JEQ gdone

gloop:
	MOVLQSX (R8), AX
	IMULQ DX, AX
	ADDQ SI, AX
	VBROADCASTSS (R9), Z8
	VMULPS 0(AX), Z8, Z9
	VMULPS 64(AX), Z8, Z10
	VMULPS 128(AX), Z8, Z11
	VMULPS 192(AX), Z8, Z12
	VMULPS 256(AX), Z8, Z13
	VMULPS 320(AX), Z8, Z14
	VMULPS 384(AX), Z8, Z15
	VMULPS 448(AX), Z8, Z16
	VADDPS Z9, Z0, Z0
	VADDPS Z10, Z1, Z1
	VADDPS Z11, Z2, Z2
	VADDPS Z12, Z3, Z3
	VADDPS Z13, Z4, Z4
	VADDPS Z14, Z5, Z5
	VADDPS Z15, Z6, Z6
	VADDPS Z16, Z7, Z7
	ADDQ $4, R8
	ADDQ $4, R9
	DECQ CX
	JNZ gloop

gdone:
	VMOVUPS Z0, 0(DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	VMOVUPS Z4, 256(DI)
	VMOVUPS Z5, 320(DI)
	VMOVUPS Z6, 384(DI)
	VMOVUPS Z7, 448(DI)
	VZEROUPPER
	RET

// hsum8 reduces the 8 lanes of Y0 (a0..a7) into X0's lane 0 as
// ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)), consumer/sage's laneSum tree. Clobbers X1.
#define HSUM8 \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS X1, X0, X0 \
	VMOVHLPS X0, X1, X1 \
	VADDPS X1, X0, X0 \
	VMOVSHDUP X0, X1 \
	VADDSS X1, X0, X0

// func NormRowsAVX2(x, nrm *float32, rows, w int)
//
// Per row of w (a multiple of 8) values: s = √(Σ v² + 1e-12) with the sum
// in 8 lanes (element c in lane c mod 8, rows in order, laneSum's tree),
// nrm[r] = s, then every value multiplied by 1/s.
TEXT ·NormRowsAVX2(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), DI
	MOVQ nrm+8(FP), SI
	MOVQ rows+16(FP), CX
	MOVQ w+24(FP), R9
	SHRQ $3, R9
	MOVL $0x2B8CBCCC, AX       // float32(1e-12)
	MOVL AX, X5
	MOVL $0x3F800000, AX       // 1.0
	MOVL AX, X6
	TESTQ CX, CX
	JEQ ndone
	TESTQ R9, R9
	JEQ ndone

nrow:
	VXORPS Y0, Y0, Y0
	MOVQ DI, R11
	MOVQ R9, R12

nsum:
	VMOVUPS (R11), Y2
	VMULPS Y2, Y2, Y2
	VADDPS Y2, Y0, Y0
	ADDQ $32, R11
	DECQ R12
	JNZ nsum
	HSUM8
	VADDSS X5, X0, X0          // s + 1e-12
	VSQRTSS X0, X0, X0
	VMOVSS X0, (SI)
	VDIVSS X0, X6, X2          // 1/s
	VBROADCASTSS X2, Y2
	MOVQ R9, R12

nscale:
	VMULPS (DI), Y2, Y3
	VMOVUPS Y3, (DI)
	ADDQ $32, DI
	DECQ R12
	JNZ nscale
	ADDQ $4, SI
	DECQ CX
	JNZ nrow

ndone:
	VZEROUPPER
	RET

// func NormBackAVX2(g, y, nrm *float32, rows, w int)
//
// Per row: s = Σ y·g (8 lanes, laneSum's tree), then g = (g − y·s)·(1/nrm).
TEXT ·NormBackAVX2(SB), NOSPLIT, $0-40
	MOVQ gm+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ nrm+16(FP), DX
	MOVQ rows+24(FP), CX
	MOVQ w+32(FP), R9
	SHRQ $3, R9
	MOVL $0x3F800000, AX       // 1.0
	MOVL AX, X6
	TESTQ CX, CX
	JEQ bkdone
	TESTQ R9, R9
	JEQ bkdone

bkrow:
	VXORPS Y0, Y0, Y0
	MOVQ DI, R10
	MOVQ SI, R11
	MOVQ R9, R12

bkdot:
	VMOVUPS (R11), Y2
	VMULPS (R10), Y2, Y2       // y·g
	VADDPS Y2, Y0, Y0
	ADDQ $32, R10
	ADDQ $32, R11
	DECQ R12
	JNZ bkdot
	HSUM8
	VBROADCASTSS X0, Y4        // s
	VMOVSS (DX), X2
	VDIVSS X2, X6, X2          // 1/nrm
	VBROADCASTSS X2, Y5
	MOVQ R9, R12

bkupd:
	VMULPS (SI), Y4, Y2        // y·s
	VMOVUPS (DI), Y3
	VSUBPS Y2, Y3, Y3          // g − y·s
	VMULPS Y5, Y3, Y3
	VMOVUPS Y3, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ R12
	JNZ bkupd
	ADDQ $4, DX
	DECQ CX
	JNZ bkrow

bkdone:
	VZEROUPPER
	RET

// func ReluMaskAVX512(x *float32, mask *uint16, n int)
//
// mask bit i of word k is set where x[16k+i] has its sign bit clear (the
// ReLU gradient passes), for n a multiple of 16.
TEXT ·ReluMaskAVX512(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ mask+8(FP), DI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	TESTQ CX, CX
	JEQ mdone

mloop:
	VMOVUPS (SI), Z0
	VPMOVD2M Z0, K1            // sign bits
	KNOTW K1, K1
	KMOVW K1, (DI)
	ADDQ $64, SI
	ADDQ $2, DI
	DECQ CX
	JNZ mloop

mdone:
	VZEROUPPER
	RET

// func ReluGradColSumMaskAVX512(dst, gm *float32, mask *uint16, rows int, acc bool)
//
// ReluGradColSumAVX2 for 128-wide rows with the ReLU's signs read from
// ReluMaskAVX512's bits: lanes without their bit become +0, column sums in
// row order from +0 (or from dst with acc), eight ZMM accumulators.
TEXT ·ReluGradColSumMaskAVX512(SB), NOSPLIT, $0-33
	MOVQ dst+0(FP), DI
	MOVQ gm+8(FP), SI
	MOVQ mask+16(FP), DX
	MOVQ rows+24(FP), CX
	MOVBLZX acc+32(FP), R8
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	TESTQ R8, R8
	JEQ kfresh
	VMOVUPS 0(DI), Z0
	VMOVUPS 64(DI), Z1
	VMOVUPS 128(DI), Z2
	VMOVUPS 192(DI), Z3
	VMOVUPS 256(DI), Z4
	VMOVUPS 320(DI), Z5
	VMOVUPS 384(DI), Z6
	VMOVUPS 448(DI), Z7

kfresh:
	TESTQ CX, CX
	JEQ kstore

krow:
	KMOVW 0(DX), K1
	KMOVW 2(DX), K2
	KMOVW 4(DX), K3
	KMOVW 6(DX), K4
	VMOVUPS.Z 0(SI), K1, Z8
	VMOVUPS.Z 64(SI), K2, Z9
	VMOVUPS.Z 128(SI), K3, Z10
	VMOVUPS.Z 192(SI), K4, Z11
	KMOVW 8(DX), K1
	KMOVW 10(DX), K2
	KMOVW 12(DX), K3
	KMOVW 14(DX), K4
	VMOVUPS.Z 256(SI), K1, Z12
	VMOVUPS.Z 320(SI), K2, Z13
	VMOVUPS.Z 384(SI), K3, Z14
	VMOVUPS.Z 448(SI), K4, Z15
	VMOVUPS Z8, 0(SI)
	VMOVUPS Z9, 64(SI)
	VMOVUPS Z10, 128(SI)
	VMOVUPS Z11, 192(SI)
	VMOVUPS Z12, 256(SI)
	VMOVUPS Z13, 320(SI)
	VMOVUPS Z14, 384(SI)
	VMOVUPS Z15, 448(SI)
	VADDPS Z8, Z0, Z0
	VADDPS Z9, Z1, Z1
	VADDPS Z10, Z2, Z2
	VADDPS Z11, Z3, Z3
	VADDPS Z12, Z4, Z4
	VADDPS Z13, Z5, Z5
	VADDPS Z14, Z6, Z6
	VADDPS Z15, Z7, Z7
	ADDQ $512, SI
	ADDQ $16, DX
	DECQ CX
	JNZ krow

kstore:
	VMOVUPS Z0, 0(DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	VMOVUPS Z4, 256(DI)
	VMOVUPS Z5, 320(DI)
	VMOVUPS Z6, 384(DI)
	VMOVUPS Z7, 448(DI)
	VZEROUPPER
	RET

// func GatherIDRows64(dst, table *float32, ids []uint32)
//
// dst[i·64 : +64] = table[ids[i]·64 : +64] for every i, with the rows of
// ids[i+8] prefetched while row i is copied (the ids are random rows of a
// table far larger than the caches).
TEXT ·GatherIDRows64(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ table+8(FP), SI
	MOVQ ids_base+16(FP), R8
	MOVQ ids_len+24(FP), CX
	XORQ R9, R9                // i

rloop:
	CMPQ R9, CX
	JGE rdone
	LEAQ 8(R9), R10
	CMPQ R10, CX
	JGE rcopy
	MOVL (R8)(R10*4), AX
	SHLQ $8, AX
	PREFETCHT0 0(SI)(AX*1)
	PREFETCHT0 64(SI)(AX*1)
	PREFETCHT0 128(SI)(AX*1)
	PREFETCHT0 192(SI)(AX*1)

rcopy:
	MOVL (R8)(R9*4), AX
	SHLQ $8, AX
	VMOVUPS 0(SI)(AX*1), Y0
	VMOVUPS 32(SI)(AX*1), Y1
	VMOVUPS 64(SI)(AX*1), Y2
	VMOVUPS 96(SI)(AX*1), Y3
	VMOVUPS 128(SI)(AX*1), Y4
	VMOVUPS 160(SI)(AX*1), Y5
	VMOVUPS 192(SI)(AX*1), Y6
	VMOVUPS 224(SI)(AX*1), Y7
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VMOVUPS Y4, 128(DI)
	VMOVUPS Y5, 160(DI)
	VMOVUPS Y6, 192(DI)
	VMOVUPS Y7, 224(DI)
	ADDQ $256, DI
	INCQ R9
	JMP rloop

rdone:
	VZEROUPPER
	RET
