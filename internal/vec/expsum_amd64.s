//go:build !purego

#include "textflag.h"

// Constants of consumer/loss's expRaw (exp.go), 8 lanes each, for memory operands.
DATA expc<>+0(SB)/4, $0x3f318000   // ln2hi
DATA expc<>+4(SB)/4, $0x3f318000
DATA expc<>+8(SB)/4, $0x3f318000
DATA expc<>+12(SB)/4, $0x3f318000
DATA expc<>+16(SB)/4, $0x3f318000
DATA expc<>+20(SB)/4, $0x3f318000
DATA expc<>+24(SB)/4, $0x3f318000
DATA expc<>+28(SB)/4, $0x3f318000
DATA expc<>+32(SB)/4, $0xb95e8083   // ln2lo
DATA expc<>+36(SB)/4, $0xb95e8083
DATA expc<>+40(SB)/4, $0xb95e8083
DATA expc<>+44(SB)/4, $0xb95e8083
DATA expc<>+48(SB)/4, $0xb95e8083
DATA expc<>+52(SB)/4, $0xb95e8083
DATA expc<>+56(SB)/4, $0xb95e8083
DATA expc<>+60(SB)/4, $0xb95e8083
DATA expc<>+64(SB)/4, $0x3c07d41a   // e5
DATA expc<>+68(SB)/4, $0x3c07d41a
DATA expc<>+72(SB)/4, $0x3c07d41a
DATA expc<>+76(SB)/4, $0x3c07d41a
DATA expc<>+80(SB)/4, $0x3c07d41a
DATA expc<>+84(SB)/4, $0x3c07d41a
DATA expc<>+88(SB)/4, $0x3c07d41a
DATA expc<>+92(SB)/4, $0x3c07d41a
DATA expc<>+96(SB)/4, $0x3d2b9d2a   // e4
DATA expc<>+100(SB)/4, $0x3d2b9d2a
DATA expc<>+104(SB)/4, $0x3d2b9d2a
DATA expc<>+108(SB)/4, $0x3d2b9d2a
DATA expc<>+112(SB)/4, $0x3d2b9d2a
DATA expc<>+116(SB)/4, $0x3d2b9d2a
DATA expc<>+120(SB)/4, $0x3d2b9d2a
DATA expc<>+124(SB)/4, $0x3d2b9d2a
DATA expc<>+128(SB)/4, $0x3e2aad35   // e3
DATA expc<>+132(SB)/4, $0x3e2aad35
DATA expc<>+136(SB)/4, $0x3e2aad35
DATA expc<>+140(SB)/4, $0x3e2aad35
DATA expc<>+144(SB)/4, $0x3e2aad35
DATA expc<>+148(SB)/4, $0x3e2aad35
DATA expc<>+152(SB)/4, $0x3e2aad35
DATA expc<>+156(SB)/4, $0x3e2aad35
DATA expc<>+160(SB)/4, $0x3efffee3   // e2
DATA expc<>+164(SB)/4, $0x3efffee3
DATA expc<>+168(SB)/4, $0x3efffee3
DATA expc<>+172(SB)/4, $0x3efffee3
DATA expc<>+176(SB)/4, $0x3efffee3
DATA expc<>+180(SB)/4, $0x3efffee3
DATA expc<>+184(SB)/4, $0x3efffee3
DATA expc<>+188(SB)/4, $0x3efffee3
DATA expc<>+192(SB)/4, $0x3f7ffffb   // e1
DATA expc<>+196(SB)/4, $0x3f7ffffb
DATA expc<>+200(SB)/4, $0x3f7ffffb
DATA expc<>+204(SB)/4, $0x3f7ffffb
DATA expc<>+208(SB)/4, $0x3f7ffffb
DATA expc<>+212(SB)/4, $0x3f7ffffb
DATA expc<>+216(SB)/4, $0x3f7ffffb
DATA expc<>+220(SB)/4, $0x3f7ffffb
DATA expc<>+224(SB)/4, $0x3f800000   // one
DATA expc<>+228(SB)/4, $0x3f800000
DATA expc<>+232(SB)/4, $0x3f800000
DATA expc<>+236(SB)/4, $0x3f800000
DATA expc<>+240(SB)/4, $0x3f800000
DATA expc<>+244(SB)/4, $0x3f800000
DATA expc<>+248(SB)/4, $0x3f800000
DATA expc<>+252(SB)/4, $0x3f800000
GLOBL expc<>(SB), RODATA|NOPTR, $256

// Scalar constants, broadcast into registers.
DATA expk<>+0(SB)/4, $0x3fb8aa3b  // log2e
DATA expk<>+4(SB)/4, $0x4b400000  // roundMagic 1.5·2^23
DATA expk<>+8(SB)/4, $0xc2ae0000  // expMin -87
GLOBL expk<>(SB), RODATA|NOPTR, $12

// func ExpSumAVX2(v []float32, m, it float32, acc *[8]float32)
//
// For each block of 8 lanes: x = (v-m)·it; v = (x < -87) ? 0 : expRaw(x);
// acc += v. Each instruction is one float32 operation of loss's expSumGo, in the
// same order (VMULPS then VADDPS/VSUBPS, never FMA), so lane l of acc and
// every stored value are bit-identical to expSumGo's.
TEXT ·ExpSumAVX2(SB), NOSPLIT, $0-40
	MOVQ v_base+0(FP), SI
	MOVQ v_len+8(FP), CX
	SHRQ $3, CX
	VBROADCASTSS m+24(FP), Y0
	VBROADCASTSS it+28(FP), Y1
	MOVQ acc+32(FP), DI
	VMOVUPS (DI), Y2
	LEAQ expk<>(SB), AX
	VBROADCASTSS 0(AX), Y3     // log2e
	VBROADCASTSS 4(AX), Y4     // roundMagic
	VBROADCASTSS 8(AX), Y5     // expMin
	LEAQ expc<>(SB), AX
	TESTQ CX, CX
	JEQ done

loop:
	VMOVUPS (SI), Y6
	VSUBPS Y0, Y6, Y6          // s - m
	VMULPS Y1, Y6, Y6          // x = (s-m)·it
	VCMPPS $0x0D, Y5, Y6, Y7   // keep = x >= expMin (GE_OS; false for NaN)
	VMULPS Y3, Y6, Y8          // x·log2e
	VADDPS Y4, Y8, Y8          // f = x·log2e + magic: k in f's low bits
	VSUBPS Y4, Y8, Y9          // kf = f - magic
	VMULPS 0(AX), Y9, Y10     // kf·ln2hi
	VSUBPS Y10, Y6, Y10        // x - kf·ln2hi
	VMULPS 32(AX), Y9, Y9      // kf·ln2lo
	VSUBPS Y9, Y10, Y10        // r = x - kf·ln2hi - kf·ln2lo
	VMULPS 64(AX), Y10, Y11    // r·e5
	VADDPS 96(AX), Y11, Y11    // e4 + r·e5
	VMULPS Y10, Y11, Y11
	VADDPS 128(AX), Y11, Y11    // e3 + …
	VMULPS Y10, Y11, Y11
	VADDPS 160(AX), Y11, Y11    // e2 + …
	VMULPS Y10, Y11, Y11
	VADDPS 192(AX), Y11, Y11    // e1 + …
	VMULPS Y10, Y11, Y11
	VADDPS 224(AX), Y11, Y11    // p = 1 + r·(…)
	VPSLLD $23, Y8, Y8         // f's bits << 23 = k << 23 (the magic wraps away)
	VPADDD Y8, Y11, Y11        // p·2^k
	VANDPS Y7, Y11, Y11        // 0 where x < expMin
	VMOVUPS Y11, (SI)
	VADDPS Y11, Y2, Y2
	ADDQ $32, SI
	DECQ CX
	JNZ loop

done:
	VMOVUPS Y2, (DI)
	VZEROUPPER
	RET
