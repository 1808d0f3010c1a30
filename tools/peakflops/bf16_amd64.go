//go:build !noasm

package main

import "golang.org/x/sys/cpu"

//go:noescape
func dpbf16AVX512(n int)

// bf16Loops lists the bfloat16 dot-product loop when the CPU has
// AVX512_BF16 (VDPBF16PS): the throughput a bf16 GEMM could reach, beside
// the fp32 FMA loops.
func bf16Loops() []fmaLoop {
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512BF16 {
		return []fmaLoop{{"avx512-bf16 (24 ZMM VDPBF16PS/iter)", 24 * 16 * 2 * 2, dpbf16AVX512}}
	}
	return nil
}
