//go:build !noasm

package main

import "golang.org/x/sys/cpu"

//go:noescape
func fmaAVX2(n int)

//go:noescape
func fmaAVX512(n int)

// loops lists the FMA loops this CPU can run: name, flops per iteration,
// the loop.
func loops() []fmaLoop {
	var l []fmaLoop
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		l = append(l, fmaLoop{"avx2-fma (24 YMM FMAs/iter)", 24 * 8 * 2, fmaAVX2})
	}
	if cpu.X86.HasAVX512F {
		l = append(l, fmaLoop{"avx512f (24 ZMM FMAs/iter)", 24 * 16 * 2, fmaAVX512})
	}
	return append(l, bf16Loops()...)
}
