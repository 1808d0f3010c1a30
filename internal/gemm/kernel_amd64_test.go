//go:build !noasm

package gemm

import (
	"testing"

	"golang.org/x/sys/cpu"
)

func TestDispatchPicksAVX2WhenAvailable(t *testing.T) {
	want := kernelGo
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		want = kernelAVX2
	}
	if got := bestKernel(); got != want {
		t.Errorf("bestKernel() = %v, want %v (AVX2=%v FMA=%v)", got, want, cpu.X86.HasAVX2, cpu.X86.HasFMA)
	}
	if activeKernel != want {
		t.Errorf("activeKernel = %v, want %v", activeKernel, want)
	}
}
